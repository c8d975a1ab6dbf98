"""Logging in and out (token mode; in proxy and none modes the user comes with the request)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ..deps import csrf, workbench

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
def login(request: Request, name: str = Form(...), token: str = Form(...)):
    user = workbench(request).auth.login(name.strip(), token)
    if user is None:
        return _login_page(request, "wrong name or token", status_code=401)
    request.session.clear()
    request.session["user"] = {"name": user.name, "role": user.role}
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
def logout(request: Request):
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
