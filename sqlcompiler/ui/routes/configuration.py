"""The stored configuration: its page, its history (diff, rollback) and the custom fields."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ... import api
from ...api import approval, drafts
from ...api.approval import Change
from ...errors import ConfigError
from ..auth import User
from ..deps import EDITOR, FORM, USER, render, workbench
from ..i18n import _

router = APIRouter(include_in_schema=False)


@router.get("/configuration", response_class=HTMLResponse)
def configuration(request: Request, user: User = USER):
    with api.connect(workbench(request).dsn) as conn:
        config = api.load_config(conn)
    return render(request, "configuration.html", user, config=config)


@router.get("/history", response_class=HTMLResponse)
def history(request: Request, a: int | None = None, b: int | None = None,
            applied: int | None = None, user: User = USER):  # fmt: skip
    dsn = workbench(request).dsn
    versions = api.config_history(dsn, 50)
    diff = api.config_diff(dsn, a, b) if a is not None and b is not None else None
    message = None
    if applied is not None and versions:
        v = versions[0]
        message = _("Applied as version %(version)s by %(who)s (%(summary)s). It takes effect at "
                    "the next run (the scheduler's nightly `sqlcompiler run`); the Overview says "
                    "so until then.") % {"version": v.version, "who": v.applied_by,
                                         "summary": v.summary}  # fmt: skip
    return render(request, "history.html", user, versions=versions, diff=diff, a=a, b=b,
                  message=message)  # fmt: skip


@router.post("/history/{version}/rollback")
async def rollback(request: Request, version: int, user: User = EDITOR, _csrf: None = FORM):
    """In four-eyes mode a rollback is submitted like a draft (the version's configuration
    becomes the editor's submitted draft); otherwise it applies at once."""
    wb = workbench(request)
    with api.connect(wb.dsn) as conn:
        if wb.auth.require_approval:
            drafts.reset(conn, user.name)  # the draft starts from the current configuration
            drafts.submit(conn, user.name, approval.version_yaml(conn, version))
            return render(request, "message.html", user, title=_("Rollback submitted"),
                          message=_("The rollback to version %(version)s is submitted for "
                                    "approval (it is now your submitted draft): another user with "
                                    "the approver role applies it on Approvals.")
                          % {"version": version})  # fmt: skip
        approval.rollback_live(conn, version, Change(user.name), four_eyes=False)
    return RedirectResponse("/history", status_code=303)


@router.get("/custom-fields", response_class=HTMLResponse)
def custom_fields_page(request: Request, user: User = USER):
    return render(request, "custom_fields.html", user,
                  fields=api.list_custom_fields(workbench(request).dsn), result=None,
                  rejected=[], message=None)  # fmt: skip


@router.post("/custom-fields", response_class=HTMLResponse)
async def custom_fields_action(request: Request, user: User = EDITOR, _csrf: None = FORM):
    dsn = workbench(request).dsn
    form = await request.form()
    result, rejected, message = None, [], None
    if form.get("action") == "register":
        api.add_custom_field(dsn, str(form.get("name", "")).strip(), str(form.get("data_type")),
                             str(form.get("description", "")) or None)  # fmt: skip
        message = _("registered %(field)r") % {"field": str(form.get("name")).strip()}
    else:
        upload = form.get("file")
        if upload is None or not getattr(upload, "filename", ""):
            raise ConfigError("choose a CSV or JSON-lines file to upload")
        suffix = Path(upload.filename).suffix[:10] or ".csv"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload{suffix}"
            with path.open("wb") as out:  # in chunks: never the whole file in memory
                while chunk := await upload.read(1024 * 1024):
                    out.write(chunk)
            rejects = Path(tmp) / "rejected.tsv"
            result = api.upload_custom_fields(dsn, path, source_system="workbench",
                                              uploaded_by=user.name, reject_file=rejects)  # fmt: skip
            if rejects.exists():
                rejected = [
                    ln.split("\t", 2) for ln in rejects.read_text(encoding="utf-8").splitlines()[1:]
                ]
    return render(request, "custom_fields.html", user, fields=api.list_custom_fields(dsn),
                  result=result, rejected=rejected[:200], message=message)  # fmt: skip
