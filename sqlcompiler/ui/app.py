"""The workbench application: pages for people, ``/api`` for integrations, one library below.

Every page and endpoint calls ``sqlcompiler.api`` (the functions the CLI calls); nothing the
browser sends reaches SQL except as a configuration document through the validator, a run id
(an integer) or a cif (a bound parameter). The routes live in ``routes/``, one module per page;
what they share (settings, user, CSRF, rendering) in ``deps.py``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from ..errors import SqlCompilerError
from .auth import AuthSettings
from .deps import HERE, Redirect, Workbench
from .routes import ROUTERS


def create_app(dsn: str, auth: AuthSettings | None = None) -> FastAPI:
    auth = auth or AuthSettings()
    app = FastAPI(
        title="sqlcompiler workbench",
        description="The campaign configuration, its preview and the results, as JSON.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.workbench = wb = Workbench.create(dsn, auth)
    app.add_middleware(
        SessionMiddleware, secret_key=auth.session_secret, same_site="strict", https_only=False
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(Redirect)
    async def _redirect(_request: Request, exc: Redirect):
        return RedirectResponse(exc.to, status_code=303)

    @app.exception_handler(SqlCompilerError)
    async def _error(request: Request, exc: SqlCompilerError):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc)}, status_code=422)
        return wb.pages.TemplateResponse(
            request, "error.html", {"user": None, "csrf": "", "page": "", "message": str(exc)},
            status_code=422,
        )  # fmt: skip

    for router in ROUTERS:
        app.include_router(router)
    return app
