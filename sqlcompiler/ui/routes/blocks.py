"""The contact policy's blocks (SPEC §6) for the people who manage them: who may not be called
and why, added and removed under the user's name (the CLI's `blocks`)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ... import api
from ...errors import ConfigError
from ..auth import User
from ..deps import EDITOR, FORM, USER, render, workbench

router = APIRouter(include_in_schema=False)


@router.get("/blocks", response_class=HTMLResponse)
def blocks_page(request: Request, user: User = USER, value: str | None = None):
    dsn = workbench(request).dsn
    return render(request, "blocks.html", user, value=value or "",
                  blocks=api.list_blocks(dsn, everything=True, value=value or None),
                  today=dt.date.today())  # fmt: skip


@router.post("/blocks")
async def add_block(request: Request, user: User = EDITOR, _csrf: None = FORM,
                    scope: Literal["phone", "party"] = Form(...),
                    value: str = Form(..., max_length=50), reason: str = Form(..., max_length=200),
                    valid_from: str = Form("", max_length=10), valid_until: str = Form("", max_length=10),
                    note: str = Form("", max_length=1000)):  # fmt: skip
    api.add_block(workbench(request).dsn, scope, value.strip(), reason.strip(),
                  added_by=user.name, valid_from=_day(valid_from, "from"),
                  valid_until=_day(valid_until, "until"), note=note.strip() or None)  # fmt: skip
    return RedirectResponse("/blocks", status_code=303)


@router.post("/blocks/{block_id}/remove")
async def remove_block(request: Request, block_id: int, user: User = EDITOR, _csrf: None = FORM):
    api.remove_block(workbench(request).dsn, block_id, removed_by=user.name)
    return RedirectResponse("/blocks", status_code=303)


def _day(text: str, name: str) -> dt.date | None:
    """A date input's value (empty: none)."""
    if not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"the block's {name} date {text!r} is not a date (YYYY-MM-DD)") from None
