"""Logging in and out (token mode; in proxy and none modes the user comes with the request)."""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from .. import i18n
from ..deps import FORM, csrf, workbench
from ..i18n import _

router = APIRouter(include_in_schema=False)


def _login_page(request: Request, error: str | None, status_code: int = 200) -> HTMLResponse:
    return workbench(request).pages.TemplateResponse(
        request, "login.html",
        {"user": None, "csrf": csrf(request), "page": "login", "error": error},
        status_code=status_code,
    )  # fmt: skip


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    if workbench(request).auth.mode == "none":
        return RedirectResponse("/", status_code=303)
    return _login_page(request, None)


@router.post("/login")
async def login(request: Request, _csrf: None = FORM, name: str = Form("", max_length=64),
                secret: str = Form("", max_length=1024)):  # fmt: skip
    wb = workbench(request)
    name = name.strip()
    address = request.client.host if request.client else "?"
    wait = wb.limiter.blocked(name, address)
    if wait:
        minutes = max(1, round(wait / 60))
        return _login_page(request, _("too many failed logins: try again in %(minutes)s min")
                           % {"minutes": minutes}, status_code=429)  # fmt: skip
    user = wb.auth.login(name, secret)
    if user is None:
        wb.limiter.failed(name, address)
        return _login_page(request, _("wrong name or secret"), status_code=401)
    wb.sessions.revoke(request.session.get("sid"))
    request.session.clear()  # a new session id and CSRF token: none survives a login
    request.session["sid"] = wb.sessions.create(user.name, user.role)
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
async def logout(request: Request, _csrf: None = FORM):
    workbench(request).sessions.revoke(request.session.get("sid"))
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.post("/language")
async def choose_language(request: Request, _csrf: None = FORM, to: str = Form(..., max_length=8),
                          back: str = Form("/", max_length=2000)):  # fmt: skip
    """The user's language, kept in a cookie for a year; back to the page they were on."""
    if to not in i18n.LANGUAGES:
        raise HTTPException(422, f"no pages in {to!r}: choose one of {', '.join(i18n.LANGUAGES)}")
    local = back.startswith("/") and not back.startswith("//") and "\\" not in back
    response = RedirectResponse(back if local else "/", status_code=303)
    response.set_cookie(i18n.COOKIE, to, max_age=365 * 86400, httponly=True, samesite="lax",
                        secure=workbench(request).auth.secure_cookies)  # fmt: skip
    return response
