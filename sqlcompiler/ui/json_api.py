"""``/api``: the workbench's JSON endpoints for integrations, over the same library calls as
the pages (described by the OpenAPI schema at ``/api/docs``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import yaml
from fastapi import Body, Depends, FastAPI, HTTPException

from .. import api
from ..api import ConfigFile, connect
from .auth import AuthSettings, User


def add_json_api(
    app: FastAPI,
    dsn: str,
    auth: AuthSettings,
    current_user: Callable[..., User],
    editor: Callable[..., User],
    check_api_write: Callable[..., None],
) -> None:
    """The JSON routes; ``current_user``, ``editor`` and ``check_api_write`` are the app's own
    dependencies (who is logged in, the editor role, and the X-Requested-With header a
    cross-site form cannot send), so the API is guarded exactly as the pages are."""

    @app.get("/api/runs", tags=["runs"])
    def api_runs(limit: int = 20, user: User = Depends(current_user)):  # noqa: B008
        return [_plain(r) for r in api.runs(dsn, min(max(limit, 1), 500))]

    @app.get("/api/runs/{run_id}", tags=["runs"])
    def api_run(run_id: int, user: User = Depends(current_user)):  # noqa: B008
        record, counts = api.run_details(dsn, run_id)
        return {**_plain(record), "campaigns": [_plain(c) for c in counts]}

    @app.get("/api/configuration", tags=["configuration"])
    def api_configuration(user: User = Depends(current_user)):  # noqa: B008
        return yaml.safe_load(api.export_config(dsn, "json"))

    @app.post("/api/preview", tags=["configuration"])
    def api_preview(document: dict = Body(...), show_customers: int = 0,  # noqa: B008
                    user: User = Depends(current_user),  # noqa: B008
                    _w: None = Depends(check_api_write)):  # noqa: B008  # fmt: skip
        cfg = _document(document)
        return api.preview(dsn, cfg, show_customers=min(max(show_customers, 0), 50)).to_json()

    @app.post("/api/configuration", tags=["configuration"])
    def api_apply(document: dict = Body(...), user: User = Depends(editor),  # noqa: B008
                  _w: None = Depends(check_api_write)):  # noqa: B008  # fmt: skip
        if auth.require_approval:
            raise HTTPException(403, "four-eyes mode: submit drafts for approval in the workbench")
        with connect(dsn) as conn:
            res = api.apply_config(conn, _document(document), applied_by=user.name,
                                   source_name="workbench api")  # fmt: skip
        return {"fingerprint": res.fingerprint, "changes": [str(c) for c in res.changes]}

    @app.get("/api/customers/{cif}", tags=["results"])
    def api_customer(cif: str, user: User = Depends(current_user)):  # noqa: B008
        return api.trace_customer(dsn, cif)

    @app.get("/api/fields", tags=["configuration"])
    def api_fields(user: User = Depends(current_user)):  # noqa: B008
        return _plain(api.fields(dsn))


def _document(document: dict) -> ConfigFile:
    """A configuration sent as JSON, read exactly as a file would be (same errors)."""
    return api.parse_document(json.dumps(document, ensure_ascii=False), "request body")


def _plain(obj: Any) -> Any:
    return json.loads(json.dumps(dataclasses.asdict(obj), default=str))
