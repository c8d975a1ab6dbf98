"""The guided editor's pages: a condition (or rule, campaign, tree edit) step by step, and the
campaigns' order; each change is saved to the user's draft when the whole draft validates."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ... import api
from ...api import CONTACT_TYPES, PARTY_TYPES, drafts
from .. import guide
from ..auth import User
from ..deps import EDITOR, FORM, render, workbench

router = APIRouter(include_in_schema=False)
EDITS = {
    "rule": guide.add_rule,
    "campaign": guide.add_campaign,
    **dict.fromkeys(("remove", "switch", "negate", "group"), guide.combine),
}


def _page(request: Request, user: User, step, added: bool | None, status_code: int = 200):
    return render(request, "guide.html", user, step=step, sources=guide.SOURCES, added=added,
                  status_code=status_code, parties=PARTY_TYPES, contacts=CONTACT_TYPES)  # fmt: skip


@router.get("/draft/condition", response_class=HTMLResponse)
def guide_page(request: Request, user: User = EDITOR):
    with api.connect(workbench(request).dsn) as conn:
        draft = drafts.load(conn, user.name)
        step = guide.step(conn, draft.document, dict(request.query_params))
    return _page(request, user, step, None)


@router.post("/draft/condition", response_class=HTMLResponse)
async def guide_add(request: Request, user: User = EDITOR, _csrf: None = FORM):
    form = {k: str(v) for k, v in (await request.form()).items()}
    edit = EDITS.get(form.get("edit", ""), guide.add)
    with api.connect(workbench(request).dsn) as conn:
        draft = drafts.load(conn, user.name)
        text, step = edit(conn, draft.document, form)
        if step.problem is None:
            drafts.save(conn, user.name, text)
    return _page(request, user, step, step.problem is None, 200 if step.problem is None else 422)


@router.post("/draft/reorder")
async def reorder(request: Request, user: User = EDITOR, _csrf: None = FORM,
                  group: int = Form(..., ge=0, le=10_000), campaign: int = Form(..., ge=0, le=10_000),
                  direction: Literal["up", "down"] = Form(...)):  # fmt: skip
    with api.connect(workbench(request).dsn) as conn:
        draft = drafts.load(conn, user.name)
        text = guide.reorder(draft.document, group, campaign, direction)
        drafts.save(conn, user.name, text)
    return RedirectResponse("/draft#order", status_code=303)
