"""What every page shares, as FastAPI dependencies: the workbench's settings (``app.state``),
who is logged in, the editor role, the CSRF checks, and rendering a page."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from . import i18n
from .auth import AuthSettings, User
from .jobs import Jobs
from .sessions import LoginLimiter, Sessions

HERE = Path(__file__).resolve().parent


@dataclass
class Workbench:
    """One workbench: its database, its access settings, its templates and background jobs."""

    dsn: str
    auth: AuthSettings
    pages: Jinja2Templates
    jobs: Jobs
    sessions: Sessions
    limiter: LoginLimiter

    @classmethod
    def create(cls, dsn: str, auth: AuthSettings) -> Workbench:
        pages = Jinja2Templates(directory=HERE / "templates")
        pages.env.globals["fmt"] = lambda n: f"{n:,}" if isinstance(n, int) else n
        pages.env.globals["four_eyes"] = auth.require_approval
        i18n.install(pages.env)
        return cls(dsn, auth, pages, Jobs(), Sessions(), LoginLimiter())


class Redirect(Exception):
    """Raised by a dependency to send the browser elsewhere (the login page)."""

    def __init__(self, to: str):
        self.to = to


def workbench(request: Request) -> Workbench:
    return request.app.state.workbench


def current_user(request: Request) -> User:
    auth = workbench(request).auth
    user = auth.default_user()
    if auth.mode == "proxy":
        host = request.client.host if request.client else None
        user = auth.from_proxy(host, request.headers.get(auth.proxy_header))
        if user is None:
            raise HTTPException(403, "this workbench is served behind its SSO proxy only")
    if user is None:
        saved = workbench(request).sessions.get(request.session.get("sid"))
        if saved:
            user = User(saved.name, saved.role)
    if user is None:
        if request.url.path.startswith("/api/"):
            raise HTTPException(401, "log in first (POST /login)")
        raise Redirect("/login")
    return user


def editor(user: User = Depends(current_user)) -> User:  # noqa: B008
    if not user.can_edit:
        raise HTTPException(403, f"{user.name} is a viewer: changes need the editor role")
    return user


def csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return token


async def check_form(request: Request) -> None:
    form = await request.form()
    if not secrets.compare_digest(str(form.get("csrf", "")), csrf(request)):
        raise HTTPException(403, "the form is stale or forged (CSRF token); reload the page")


def check_api_write(request: Request) -> None:
    """A header a cross-site form cannot send."""
    if request.headers.get("x-requested-with") != "sqlcompiler":
        raise HTTPException(403, "send the header X-Requested-With: sqlcompiler")


def render(
    request: Request, name: str, user: User | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return workbench(request).pages.TemplateResponse(
        request, name, {"user": user, "csrf": csrf(request), "page": name, **context},
        status_code=status_code,
    )  # fmt: skip


# the parameters every route repeats
USER = Depends(current_user)
EDITOR = Depends(editor)
FORM = Depends(check_form)
API_WRITE = Depends(check_api_write)
