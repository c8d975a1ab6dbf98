"""Command line: short click bodies over ``sqlcompiler.api``; ``console`` renders the results.

Errors from the library (``errors.SqlCompilerError``) and the database print one line,
``Error: …``, with exit code 1 (2 for usage errors); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import functools
import sys

import click
import psycopg

from .. import __version__, api
from ..console import echo_err, set_log_format
from ..errors import SqlCompilerError
from . import admin, config, kafka, policy, run, source, ui
from .options import Ctx


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--dsn",
    envvar="SQLCOMPILER_DSN",
    metavar="DSN",
    help="libpq connection string or URL of the target database (env SQLCOMPILER_DSN). "
    "Default: the project-managed embedded PostgreSQL.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="SQLCOMPILER_LOG_FORMAT",
    show_default=True,
    help="Progress and errors on stderr as text or JSON lines (env SQLCOMPILER_LOG_FORMAT).",
)
@click.version_option(__version__, prog_name="sqlcompiler")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None, debug: bool, log_format: str) -> None:
    """In-database SQL compiler for debt-collection campaigns.

    Turns the campaign configuration into one PostgreSQL statement per campaign group and
    runs them inside the database over the bank-sync data. Typical use:

    \b
      sqlcompiler db upgrade                 # create/upgrade the schema
      sqlcompiler config apply campaigns.yaml
      sqlcompiler compile --explain          # review the SQL
      sqlcompiler run                        # the nightly job
    """
    set_log_format(log_format)
    ctx.obj = Ctx(dsn, debug)


for _module in (admin, config, source, policy, run, kafka, ui):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="sqlcompiler", standalone_mode=False)
        if isinstance(code, int) and code:  # ctx.exit(n) of a command (a held run: 3)
            sys.exit(code)
    except click.exceptions.Abort:
        echo_err("Aborted.")
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SqlCompilerError as exc:
        if debug:
            raise
        echo_err(f"Error: {exc}", "error")
        sys.exit(exc.exit_code)
    except psycopg.Error as exc:
        if debug:
            raise
        echo_err(f"Error: database error: {api.describe_db_error(exc)}", "error")
        sys.exit(1)
    except KeyboardInterrupt:
        echo_err("Interrupted.")
        sys.exit(130)


functools.update_wrapper(main, cli.main)

__all__ = ["cli", "main"]
