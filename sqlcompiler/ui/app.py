"""The workbench application: pages for people, ``/api`` for integrations, one library below.

Every page and endpoint calls ``sqlcompiler.api`` (the functions the CLI calls); nothing the
browser sends reaches SQL except as a configuration document through the validator, a run id
(an integer) or a cif (a bound parameter). The routes live in ``routes/``, one module per page;
what they share (settings, user, CSRF, rendering) in ``deps.py``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from ..errors import ApprovalRequired, SqlCompilerError
from .auth import AuthSettings
from .deps import HERE, Redirect, Workbench
from .guard import Guard
from .i18n import DEFAULT, LanguageMiddleware
from .routes import ROUTERS


def create_app(dsn: str, auth: AuthSettings | None = None, *, language: str = DEFAULT) -> FastAPI:
    auth = auth or AuthSettings()
    app = FastAPI(
        title="sqlcompiler workbench",
        description="The campaign configuration, its preview and the results, as JSON.",
        docs_url=None,  # Swagger UI loads from a CDN: the OpenAPI document is enough
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.workbench = wb = Workbench.create(dsn, auth)
    app.add_middleware(
        SessionMiddleware, secret_key=auth.session_secret, same_site="lax",
        https_only=auth.secure_cookies, max_age=None,  # the cookie ends with the browser
    )  # fmt: skip
    app.add_middleware(LanguageMiddleware, default=language)
    app.add_middleware(Guard, allowed_hosts=auth.allowed_hosts)  # outermost: added last
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(Redirect)
    async def _redirect(_request: Request, exc: Redirect):
        return RedirectResponse(exc.to, status_code=303)

    def _answer(request: Request, status: int, message: str):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        return wb.pages.TemplateResponse(
            request, "error.html", {"user": None, "csrf": "", "page": "", "message": message},
            status_code=status,
        )  # fmt: skip

    @app.exception_handler(SqlCompilerError)
    async def _error(request: Request, exc: SqlCompilerError):
        return _answer(request, 403 if isinstance(exc, ApprovalRequired) else 422, str(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        if request.url.path.startswith("/api/"):  # the API keeps FastAPI's {"detail": …}
            return await http_exception_handler(request, exc)
        return _answer(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        """A form or body that does not fit (missing field, not a number, too long): 422 with
        what was wrong, never a 500."""
        if request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        return _answer(request, 422, "; ".join(_problem(e) for e in exc.errors()[:5]))

    for router in ROUTERS:
        app.include_router(router)
    return app


def _problem(error: dict) -> str:
    where = ".".join(str(p) for p in error.get("loc", ())[1:]) or "the request"
    return f"{where}: {error.get('msg', 'not valid')}"
