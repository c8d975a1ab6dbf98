"""Each user's draft (edit, check, preview, apply or submit) and the approvals of four eyes."""

from __future__ import annotations

from urllib.parse import quote

import yaml
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ... import api
from ...api import approval, drafts
from ...api.approval import Change
from ...errors import ConfigError, SqlCompilerError
from .. import guide
from ..auth import User
from ..deps import EDITOR, FORM, USER, render, workbench
from ..i18n import _

router = APIRouter(include_in_schema=False)


def order(text: str) -> list:
    """The draft's campaigns in priority order, for the reorder buttons."""
    try:
        return guide.campaign_order(text)
    except (ConfigError, yaml.YAMLError, AttributeError, TypeError):
        return []  # a draft that does not parse: the editor shows why on Check


def _page(request: Request, user: User, draft: drafts.Draft, **context):
    context = {"problems": [], "preview": None, "changes": None, "message": None, **context}
    return render(request, "draft.html", user, draft=draft, order=order(draft.document), **context)


@router.get("/draft", response_class=HTMLResponse)
def draft_page(request: Request, user: User = USER):
    with api.connect(workbench(request).dsn) as conn:
        draft = drafts.load(conn, user.name)
    return _page(request, user, draft)


@router.post("/draft", response_class=HTMLResponse)
async def draft_action(
    request: Request,
    user: User = EDITOR,
    _csrf: None = FORM,
    document: str = Form(...),
    action: str = Form("validate"),
):
    wb = workbench(request)
    problems: list[tuple[str, str]] = []
    changes = message = None
    with api.connect(wb.dsn) as conn:
        draft = drafts.save(conn, user.name, document)
        try:
            cfg = api.parse_document(document, "draft")
            api.validate_config(conn, cfg)
        except ConfigError as exc:
            problems = exc.problems
            cfg = None
        if cfg is not None and action == "submit":
            drafts.require_base(conn, draft)
            drafts.submit(conn, user.name, document)
            message = _("submitted for approval: another user with the approver role applies it")
        if cfg is not None and action == "apply":
            approval.check_four_eyes(wb.auth.require_approval, Change(user.name))
            drafts.require_base(conn, draft)
            result = approval.change_live(conn, cfg, Change(user.name),
                                          four_eyes=wb.auth.require_approval)  # fmt: skip
            drafts.reset(conn, user.name)
            message = (
                _("applied %(n)s changes as %(who)s, fingerprint %(fingerprint)s: they take effect "
                  "at the next run (the scheduler's nightly `sqlcompiler run`)")
                % {"n": len(result.changes), "who": user.name,
                   "fingerprint": result.fingerprint[:12]}
                if result.changes else _("no changes to apply")
            )  # fmt: skip
            draft = drafts.load(conn, user.name)
    if cfg is not None and action == "preview":
        job = wb.jobs.start(user.name, lambda progress: api.preview(
            wb.dsn, cfg, show_customers=5, progress=progress))  # fmt: skip
        return RedirectResponse(f"/draft/preview/{job}", status_code=303)
    elif cfg is not None and action == "validate":
        changes = api.plan_document(wb.dsn, cfg)
        message = (_("valid: %(n)s changes") % {"n": len(changes)} if changes
                   else _("valid: no changes"))  # fmt: skip
    return _page(request, user, draft, problems=problems, changes=changes, message=message)


@router.get("/draft/preview/{job_id}", response_class=HTMLResponse)
def preview_job(request: Request, job_id: str, user: User = USER):
    wb = workbench(request)
    job = wb.jobs.get(job_id, user.name)
    with api.connect(wb.dsn) as conn:
        draft = drafts.load(conn, user.name)
    if job.error:
        raise SqlCompilerError(job.error)
    return _page(request, user, draft, preview=job.result, progress=job.lines,
                 running=job.result is None)  # fmt: skip


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, user: User = USER):
    return _approvals(request, user)


def _approvals(request: Request, user: User, **context):
    """Each submission with its plan and, for every campaign the plan touches, its conditions
    and contact rules: the approver sees what would change, not only that something would."""
    dsn = workbench(request).dsn
    waiting = []
    with api.connect(dsn) as conn:
        for s in drafts.submissions(conn):
            parsed = api.parse_document(s.document, f"draft of {s.editor}")
            changes = api.plan_document(dsn, parsed)
            waiting.append((s, changes, approval.digest(s.document),
                            _touched(api.validate_config(conn, parsed), changes),
                            api.yaml_diff(conn, parsed)))  # fmt: skip
    context = {"preview": None, "preview_of": None, "running": False, "progress": [], **context}
    return render(request, "approvals.html", user, waiting=waiting, **context)


@router.post("/approvals/{editor}/preview")
async def preview_submission(request: Request, editor: str, user: User = USER,
                             _csrf: None = FORM,
                             seen: str = Form("", alias="digest", max_length=64)):  # fmt: skip
    """The preview of exactly the submitted snapshot the approver is looking at."""
    if not user.can_approve:
        raise HTTPException(403, f"{user.name} is not an approver")
    wb = workbench(request)
    with api.connect(wb.dsn) as conn:
        sub = _seen_submission(conn, editor, seen)
        cfg = api.parse_document(sub.document, f"draft of {editor}")
        api.validate_config(conn, cfg)  # its problems now, not from inside the job
    job = wb.jobs.start(user.name, lambda progress: api.preview(
        wb.dsn, cfg, show_customers=5, progress=progress))  # fmt: skip
    return RedirectResponse(
        f"/approvals/preview/{job}?editor={quote(editor)}&digest={seen}", status_code=303
    )


@router.get("/approvals/preview/{job_id}", response_class=HTMLResponse)
def approvals_preview(request: Request, job_id: str, editor: str = "", digest: str = "",
                      user: User = USER):  # fmt: skip
    job = workbench(request).jobs.get(job_id, user.name)
    if job.error:
        raise SqlCompilerError(job.error)
    return _approvals(request, user, preview=job.result, preview_of=(editor, digest),
                     running=job.result is None, progress=job.lines)  # fmt: skip


def _seen_submission(conn, editor: str, seen: str) -> drafts.Submission:
    """``editor``'s submission, if it is still the one the approver's page showed."""
    sub = drafts.submission(conn, editor)
    if approval.digest(sub.document) != seen:
        raise HTTPException(409, f"{editor} submitted a different draft since this page was "
                            "opened: review it again on Approvals")  # fmt: skip
    return sub


def _touched(config, changes) -> list[tuple[str, str, str, list[str]]]:
    """(group, campaign, its conditions, its rules) of the campaigns a change names (a change's
    ``what`` names a campaign as ``campaign 'C' in group 'G'``, its rules and conditions too)."""
    out = []
    for g in config.groups:
        for c in g.campaigns:
            named = f"campaign {c.name!r} in group {g.name!r}"
            if any(named in ch.what for ch in changes):
                rules = [f"rule {r.priority} when {r.where.describe()} -> "
                         + ", ".join(f"{o.party} {o.contact}" for o in r.outputs)
                         for r in c.rules]  # fmt: skip
                out.append((g.name, c.name, c.where.describe(), rules))
    return out


@router.post("/approvals/{editor}/return")
async def send_back(request: Request, editor: str, user: User = USER, _csrf: None = FORM,
                    seen: str = Form("", alias="digest", max_length=64),
                    comment: str = Form(..., min_length=1, max_length=1000)):  # fmt: skip
    """The approver returns the submission to its editor with a comment (nothing applied)."""
    if not user.can_approve:
        raise HTTPException(403, f"{user.name} is not an approver")
    approval.check_four_eyes(True, Change(editor, user.name))
    with api.connect(workbench(request).dsn) as conn:
        _seen_submission(conn, editor, seen)
        drafts.send_back(conn, editor, user.name, comment.strip())
    return RedirectResponse("/approvals", status_code=303)


@router.post("/approvals/{editor}/approve")
async def approve(request: Request, editor: str, user: User = USER, _csrf: None = FORM,
                  seen: str = Form("", alias="digest", max_length=64)):  # fmt: skip
    """Applies exactly the snapshot the approver saw: a later submission needs a new look."""
    if not user.can_approve:
        raise HTTPException(403, f"{user.name} is not an approver")
    change = Change(editor, user.name, "workbench (four-eyes)")
    approval.check_four_eyes(True, change)
    with api.connect(workbench(request).dsn) as conn:
        sub = _seen_submission(conn, editor, seen)
        drafts.require_base(conn, drafts.Draft(sub.document, sub.base_fingerprint))
        cfg = api.parse_document(sub.document, f"draft of {editor}")
        result = approval.change_live(conn, cfg, change, four_eyes=True)
        drafts.reset(conn, editor)
    return RedirectResponse(f"/history?applied={len(result.changes)}", status_code=303)
