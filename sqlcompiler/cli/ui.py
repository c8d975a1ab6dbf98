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
    type=click.Choice(["none", "token"]),
    default="none",
    show_default=True,
    help="none: only on a loopback address, you are an editor. token: log in with the secret "
    "in SQLCOMPILER_UI_TOKEN; roles from SQLCOMPILER_UI_ROLES (alice=editor,bob=viewer).",
)
@pass_ctx
def ui(ctx: Ctx, host: str, port: int, auth: str) -> None:
    """Start the campaign workbench: overview, configuration, draft with preview and apply,
    history, runs and customer explanations in the browser, plus a JSON API under /api
    (OpenAPI at /api/docs). Stop it with Ctrl-C."""
    import uvicorn

    from ..ui import AuthSettings, create_app

    settings = AuthSettings.from_env(auth, host)
    app = create_app(ctx.dsn, settings)
    echo_err(f"workbench on http://{host}:{port}/ (auth {auth}); Ctrl-C stops it")
    uvicorn.run(app, host=host, port=port, log_level="warning")


COMMANDS = (ui,)
