"""What the commands share: the context object, common options and the SIGTERM helper."""

from __future__ import annotations

import datetime as dt
import functools
import signal
from collections.abc import Callable

import click

from .. import api


class Ctx:
    def __init__(self, dsn: str | None, debug: bool):
        self._dsn = dsn
        self.debug = debug

    @property
    def dsn(self) -> str:
        """The target database: --dsn, SQLCOMPILER_DSN, or the embedded cluster (started lazily)."""
        return api.resolve_dsn(self._dsn)


pass_ctx = click.make_pass_decorator(Ctx)

FILE = click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))


def _as_of(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD") from None


def as_of_option(what: str) -> Callable[[Callable], Callable]:
    """--as-of: the date relative dates (``today - 7d``) resolve against (SPEC §2a)."""
    return click.option(
        "--as-of",
        metavar="YYYY-MM-DD",
        callback=_as_of,
        help=f"Resolve dates relative to the run (today, today - 7d) against this date {what} "
        "(default: today in SQLCOMPILER_TIMEZONE, UTC unless set).",
    )


def jobs_option(what: str) -> Callable[[Callable], Callable]:
    """--jobs (env SQLCOMPILER_JOBS), as run, compile, config plan --preview and bench take it."""
    return click.option(
        "--jobs",
        type=click.IntRange(min=1),
        envvar="SQLCOMPILER_JOBS",
        help=f"{what} (env SQLCOMPILER_JOBS; default: 2, or 1 on a single core).",
    )


def kafka_options(f: Callable) -> Callable:
    """--bootstrap, --metrics-port and --metrics-addr, as relay and serve take them."""
    f = click.option(
        "--metrics-addr", default="127.0.0.1", envvar="SQLCOMPILER_METRICS_ADDR", show_default=True
    )(f)
    f = click.option(
        "--metrics-port",
        type=int,
        envvar="SQLCOMPILER_METRICS_PORT",
        help="Serve /metrics on this port (relay: with --follow).",
    )(f)
    return click.option(
        "--bootstrap",
        envvar="SQLCOMPILER_KAFKA_BOOTSTRAP",
        help="Kafka bootstrap servers (env SQLCOMPILER_KAFKA_BOOTSTRAP).",
    )(f)


def stop_on_sigterm() -> Callable[[], bool]:
    """A ``stop()`` callable that turns true once SIGTERM arrives (long-running commands)."""
    stopping = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stopping.update(now=True))
    return lambda: stopping["now"]


def format_option(*choices: str, default: str = "text", help: str = "") -> Callable:
    """--format, the one output switch of every command that can answer in JSON (the console
    renders either). ``--json`` stays as a deprecated alias for one release (it was the flag of
    `runs` and `runs show`): it warns on stderr and means --format json."""
    choices = choices or ("text", "json")

    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(*args, fmt: str, as_json: bool = False, **kwargs):
            if as_json:
                click.echo("warning: --json is deprecated; use --format json", err=True)
                fmt = "json"
            return f(*args, fmt=fmt, **kwargs)

        wrapper = click.option("--json", "as_json", is_flag=True, hidden=True)(wrapper)
        return click.option(
            "--format", "fmt", type=click.Choice(choices), default=default, show_default=True,
            help=help or "text for people, json for programs.",
        )(wrapper)  # fmt: skip

    return decorate
