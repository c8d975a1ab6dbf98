"""The JSON API under ``/api``: guarded exactly as the pages are (the same dependencies: who is
logged in, the editor role, and the X-Requested-With header a cross-site form cannot send)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import yaml
from fastapi import APIRouter, Body, Request

from ... import api
from ...api import ConfigFile, approval
from ...api.approval import Change
from ..auth import User
from ..deps import API_WRITE, EDITOR, USER, workbench

router = APIRouter(prefix="/api")
BODY = Body(...)


@router.get("/runs", tags=["runs"])
def api_runs(request: Request, limit: int = 20, user: User = USER):
    return [_plain(r) for r in api.runs(workbench(request).dsn, min(max(limit, 1), 500))]


@router.get("/runs/{run_id}", tags=["runs"])
def api_run(request: Request, run_id: int, user: User = USER):
    record, counts = api.run_details(workbench(request).dsn, run_id)
    return {**_plain(record), "campaigns": [_plain(c) for c in counts]}


@router.get("/configuration", tags=["configuration"])
def api_configuration(request: Request, user: User = USER):
    return yaml.safe_load(api.export_config(workbench(request).dsn, "json"))


@router.post("/preview", tags=["configuration"])
def api_preview(request: Request, document: dict = BODY, show_customers: int = 0,
                user: User = USER, _w: None = API_WRITE):  # fmt: skip
    cfg = _document(document)
    shown = min(max(show_customers, 0), 50)
    return api.preview(workbench(request).dsn, cfg, show_customers=shown).to_json()


@router.post("/configuration", tags=["configuration"])
def api_apply(request: Request, document: dict = BODY, user: User = EDITOR,
              _w: None = API_WRITE):  # fmt: skip
    wb = workbench(request)
    with api.connect(wb.dsn) as conn:  # change_live refuses it in four-eyes mode (403)
        res = approval.change_live(conn, _document(document), Change(user.name, source="workbench api"),
                                   four_eyes=wb.auth.require_approval)  # fmt: skip
    return {"fingerprint": res.fingerprint, "changes": [str(c) for c in res.changes]}


@router.get("/customers/{cif}", tags=["results"])
def api_customer(request: Request, cif: str, user: User = USER):
    api.record_read(workbench(request).dsn, user.name, "customer", cif)
    return api.trace_customer(workbench(request).dsn, cif)


@router.get("/fields", tags=["configuration"])
def api_fields(request: Request, user: User = USER):
    return _plain(api.fields(workbench(request).dsn))


def _document(document: dict) -> ConfigFile:
    """A configuration sent as JSON, read exactly as a file would be (same errors)."""
    return api.parse_document(json.dumps(document, ensure_ascii=False), "request body")


def _plain(obj: Any) -> Any:
    return json.loads(json.dumps(dataclasses.asdict(obj), default=str))
