"""The workbench for collection managers: `sqlcompiler ui` (and `ui user add` for its users)."""

from __future__ import annotations

import os
import sys

import click

from ..console import echo_err
from .options import Ctx, pass_ctx


@click.group("ui", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8700, show_default=True)
@click.option(
    "--auth",
    type=click.Choice(["none", "token", "proxy"]),
    default="none",
    show_default=True,
    help="none: only on a loopback address, you are an editor. token: each person logs in "
    "with their own secret from the users file in SQLCOMPILER_UI_USERS (`ui user add`), which "
    "gives their role. proxy: the user named by --proxy-header from an SSO reverse proxy whose "
    "TCP address is one of --trusted-proxies; roles from SQLCOMPILER_UI_ROLES "
    "(alice=editor,bob=viewer,chi=approver; default viewer).",
)
@click.option("--proxy-header", default="X-Forwarded-User", show_default=True)
@click.option(
    "--trusted-proxies",
    default="",
    envvar="SQLCOMPILER_UI_TRUSTED_PROXIES",
    help="Comma-separated addresses of the reverse proxies (--auth proxy); a proxy on the same "
    "machine is 127.0.0.1. X-Forwarded-For is never used to decide who is a proxy.",
)
@click.option(
    "--allowed-host",
    multiple=True,
    help="A name browsers use to reach the workbench (repeatable); the loopback names and "
    "--host are always allowed, any other Host header is refused (DNS rebinding).",
)
@click.option(
    "--secure-cookies",
    is_flag=True,
    help="Mark cookies Secure: set when users reach the workbench over https (a TLS proxy).",
)
@click.option(
    "--require-approval",
    is_flag=True,
    help="Four eyes: editors submit drafts and rollbacks, another user with the approver role "
    "applies them; nothing changes the live configuration without a second person.",
)
@click.option(
    "--language",
    type=click.Choice(["en", "vi"]),
    default="en",
    show_default=True,
    envvar="SQLCOMPILER_UI_LANGUAGE",
    help="The pages' language for browsers that ask for neither English nor Vietnamese (env "
    "SQLCOMPILER_UI_LANGUAGE); each user can switch in the page header.",
)
@click.pass_context
def ui(click_ctx: click.Context, host: str, port: int, auth: str, proxy_header: str,
       trusted_proxies: str, allowed_host: tuple[str, ...], secure_cookies: bool,
       require_approval: bool, language: str) -> None:  # fmt: skip
    """Start the campaign workbench: overview, configuration, draft with preview and apply,
    history, runs and customer explanations in the browser, plus a JSON API under /api
    (OpenAPI at /api/openapi.json). Stop it with Ctrl-C. See docs/ui.md, "Security"."""
    if click_ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from ..ui import AuthSettings, create_app

    ctx = click_ctx.find_object(Ctx)
    settings = AuthSettings.from_env(
        auth, host, require_approval=require_approval, proxy_header=proxy_header,
        trusted_proxies=trusted_proxies, allowed_hosts=allowed_host, secure_cookies=secure_cookies,
    )  # fmt: skip
    app = create_app(ctx.dsn, settings, language=language)
    echo_err(f"workbench on http://{host}:{port}/ (auth {auth}); Ctrl-C stops it")
    # proxy_headers off: uvicorn would otherwise take the client address from X-Forwarded-For
    # when the peer is loopback, and any local process could pose as the trusted proxy
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False,
                server_header=False)  # fmt: skip


@ui.group("user")
def user() -> None:
    """The workbench's users in token mode (the file SQLCOMPILER_UI_USERS names)."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "editor", "approver"]), required=True)
@click.option(
    "--file",
    "path",
    envvar="SQLCOMPILER_UI_USERS",
    required=True,
    help="The users file (env SQLCOMPILER_UI_USERS); created private (0600) if missing.",
)
@click.option(
    "--secret-stdin", is_flag=True, help="Read the secret from standard input, not a prompt."
)
@pass_ctx
def user_add(ctx: Ctx, name: str, role: str, path: str, secret_stdin: bool) -> None:
    """Add NAME with ROLE, or give NAME a new secret and role. Only a hash of the secret is
    written (scrypt); tell the person their secret yourself."""
    from ..ui.users import add_user

    if secret_stdin:
        secret = sys.stdin.readline().rstrip("\n")
    else:
        secret = click.prompt(f"secret for {name}", hide_input=True, confirmation_prompt=True)
    replaced = add_user(path, name, role, secret)
    echo_err(f"{'replaced' if replaced else 'added'} {name} ({role}) in {os.path.abspath(path)}")


COMMANDS = (ui,)
