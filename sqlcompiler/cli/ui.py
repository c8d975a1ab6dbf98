"""The workbench for collection managers: `sqlcompiler ui`."""

from __future__ import annotations

import click

from ..console import echo_err
from .options import Ctx, pass_ctx


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8700, show_default=True)
@click.option(
    "--auth",
    type=click.Choice(["none", "token", "proxy"]),
    default="none",
    show_default=True,
    help="none: only on a loopback address, you are an editor. token: log in with the secret "
    "in SQLCOMPILER_UI_TOKEN. proxy: the user named by --proxy-header from an SSO reverse proxy "
    "at one of --trusted-proxies. Roles from SQLCOMPILER_UI_ROLES "
    "(alice=editor,bob=viewer,chi=approver; default viewer).",
)
@click.option("--proxy-header", default="X-Forwarded-User", show_default=True)
@click.option(
    "--trusted-proxies",
    default="",
    envvar="SQLCOMPILER_UI_TRUSTED_PROXIES",
    help="Comma-separated addresses of the reverse proxies (--auth proxy).",
)
@click.option(
    "--require-approval",
    is_flag=True,
    help="Four eyes: editors submit drafts, another user with the approver role applies them.",
)
@pass_ctx
def ui(
    ctx: Ctx,
    host: str,
    port: int,
    auth: str,
    proxy_header: str,
    trusted_proxies: str,
    require_approval: bool,
) -> None:
    """Start the campaign workbench: overview, configuration, draft with preview and apply,
    history, runs and customer explanations in the browser, plus a JSON API under /api
    (OpenAPI at /api/docs). Stop it with Ctrl-C."""
    import uvicorn

    from ..ui import AuthSettings, create_app

    settings = AuthSettings.from_env(
        auth, host, require_approval=require_approval, proxy_header=proxy_header,
        trusted_proxies=trusted_proxies,
    )  # fmt: skip
    app = create_app(ctx.dsn, settings)
    echo_err(f"workbench on http://{host}:{port}/ (auth {auth}); Ctrl-C stops it")
    uvicorn.run(app, host=host, port=port, log_level="warning")


COMMANDS = (ui,)
