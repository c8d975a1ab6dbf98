"""The workbench application: pages for people, ``/api`` for integrations, one library below.

Every page and endpoint calls ``sqlcompiler.api`` (the functions the CLI calls); nothing the
browser sends reaches SQL except as a configuration document through the validator, a run id
(an integer) or a cif (a bound parameter).
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import yaml
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from .. import api
from ..api import CONTACT_TYPES, PARTY_TYPES, connect, drafts
from ..errors import ConfigError, SqlCompilerError
from . import guide
from .auth import AuthSettings, User
from .jobs import Jobs
from .json_api import add_json_api
from .overview import overview as _overview

HERE = Path(__file__).resolve().parent
RUNS_PER_PAGE = 25


def create_app(dsn: str, auth: AuthSettings | None = None) -> FastAPI:
    auth = auth or AuthSettings()
    app = FastAPI(
        title="sqlcompiler workbench",
        description="The campaign configuration, its preview and the results, as JSON.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.add_middleware(
        SessionMiddleware, secret_key=auth.session_secret, same_site="strict", https_only=False
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    pages = Jinja2Templates(directory=HERE / "templates")
    pages.env.globals["fmt"] = lambda n: f"{n:,}" if isinstance(n, int) else n
    pages.env.globals["four_eyes"] = auth.require_approval
    jobs = Jobs()

    def current_user(request: Request) -> User:
        user = auth.default_user()
        if auth.mode == "proxy":
            host = request.client.host if request.client else None
            user = auth.from_proxy(host, request.headers.get(auth.proxy_header))
            if user is None:
                raise HTTPException(403, "this workbench is served behind its SSO proxy only")
        if user is None:
            saved = request.session.get("user")
            if saved:
                user = User(saved["name"], saved["role"])
        if user is None:
            if request.url.path.startswith("/api/"):
                raise HTTPException(401, "log in first (POST /login)")
            raise _Redirect("/login")
        return user

    def csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(24)
        return token

    def editor(request: Request, user: User = Depends(current_user)) -> User:  # noqa: B008
        if not user.can_edit:
            raise HTTPException(403, f"{user.name} is a viewer: changes need the editor role")
        return user

    async def check_form(request: Request) -> None:
        form = await request.form()
        if not secrets.compare_digest(str(form.get("csrf", "")), csrf(request)):
            raise HTTPException(403, "the form is stale or forged (CSRF token); reload the page")

    def check_api_write(request: Request) -> None:
        if request.headers.get("x-requested-with") != "sqlcompiler":
            raise HTTPException(403, "send the header X-Requested-With: sqlcompiler")

    def render(
        request: Request, name: str, user: User, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        return pages.TemplateResponse(
            request, name, {"user": user, "csrf": csrf(request), "page": name, **context},
            status_code=status_code,
        )  # fmt: skip

    @app.exception_handler(_Redirect)
    async def _redirect(_request: Request, exc: _Redirect):
        return RedirectResponse(exc.to, status_code=303)

    @app.exception_handler(SqlCompilerError)
    async def _error(request: Request, exc: SqlCompilerError):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc)}, status_code=422)
        return pages.TemplateResponse(
            request, "error.html", {"user": None, "csrf": "", "page": "", "message": str(exc)},
            status_code=422,
        )  # fmt: skip

    # -- login -------------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request):
        if auth.mode == "none":
            return RedirectResponse("/", status_code=303)
        return pages.TemplateResponse(
            request, "login.html", {"user": None, "csrf": csrf(request), "page": "login", "error": None}
        )  # fmt: skip

    @app.post("/login", include_in_schema=False)
    def login(request: Request, name: str = Form(...), token: str = Form(...)):
        user = auth.login(name.strip(), token)
        if user is None:
            return pages.TemplateResponse(
                request, "login.html",
                {"user": None, "csrf": csrf(request), "page": "login", "error": "wrong name or token"},
                status_code=401,
            )  # fmt: skip
        request.session.clear()
        request.session["user"] = {"name": user.name, "role": user.role}
        return RedirectResponse("/", status_code=303)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request):
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # -- pages -------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request, user: User = Depends(current_user)):  # noqa: B008
        return render(request, "overview.html", user, **_overview(dsn))

    @app.get("/configuration", response_class=HTMLResponse, include_in_schema=False)
    def configuration(request: Request, user: User = Depends(current_user)):  # noqa: B008
        with connect(dsn) as conn:
            config = api.load_config(conn)
        return render(request, "configuration.html", user, config=config)

    @app.get("/draft", response_class=HTMLResponse, include_in_schema=False)
    def draft_page(request: Request, user: User = Depends(current_user)):  # noqa: B008
        with connect(dsn) as conn:
            draft = drafts.load(conn, user.name)
        return render(request, "draft.html", user, draft=draft, problems=[], preview=None,
                      changes=None, message=None, order=_order(draft.document))  # fmt: skip

    @app.post("/draft", response_class=HTMLResponse, include_in_schema=False)
    async def draft_action(
        request: Request,
        user: User = Depends(editor),  # noqa: B008
        _csrf: None = Depends(check_form),  # noqa: B008
        document: str = Form(...),
        action: str = Form("validate"),
    ):
        problems: list[tuple[str, str]] = []
        preview = changes = message = None
        with connect(dsn) as conn:
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
                message = "submitted for approval: another user with the approver role applies it"
            if cfg is not None and action == "apply":
                if auth.require_approval:
                    raise HTTPException(403, "four-eyes mode: submit the draft for approval")
                drafts.require_base(conn, draft)
                result = api.apply_config(conn, cfg, applied_by=user.name, source_name="workbench")
                drafts.reset(conn, user.name)
                message = (
                    f"applied {len(result.changes)} changes as {user.name}, fingerprint "
                    f"{result.fingerprint[:12]}" if result.changes else "no changes to apply"
                )  # fmt: skip
                draft = drafts.load(conn, user.name)
        if cfg is not None and action == "preview":
            job = jobs.start(user.name, lambda progress: api.preview(
                dsn, cfg, show_customers=5, progress=progress))  # fmt: skip
            return RedirectResponse(f"/draft/preview/{job}", status_code=303)
        elif cfg is not None and action == "validate":
            changes = api.plan_document(dsn, cfg)
            message = "valid: " + (f"{len(changes)} changes" if changes else "no changes")
        return render(request, "draft.html", user, draft=draft, problems=problems,
                      preview=preview, changes=changes, message=message,
                      order=_order(draft.document))  # fmt: skip

    @app.get("/draft/preview/{job_id}", response_class=HTMLResponse, include_in_schema=False)
    def preview_job(request: Request, job_id: str, user: User = Depends(current_user)):  # noqa: B008
        job = jobs.get(job_id, user.name)
        with connect(dsn) as conn:
            draft = drafts.load(conn, user.name)
        if job.error:
            raise SqlCompilerError(job.error)
        return render(request, "draft.html", user, draft=draft, problems=[],
                      preview=job.result, progress=job.lines, running=job.result is None,
                      changes=None, message=None, order=_order(draft.document))  # fmt: skip

    @app.get("/approvals", response_class=HTMLResponse, include_in_schema=False)
    def approvals(request: Request, user: User = Depends(current_user)):  # noqa: B008
        with connect(dsn) as conn:
            waiting = [
                (s, api.plan_document(dsn, api.parse_document(s.document, f"draft of {s.editor}")))
                for s in drafts.submissions(conn)
            ]
        return render(request, "approvals.html", user, waiting=waiting)

    @app.post("/approvals/{editor}/approve", include_in_schema=False)
    async def approve(request: Request, editor: str, user: User = Depends(current_user),  # noqa: B008
                      _csrf: None = Depends(check_form)):  # noqa: B008  # fmt: skip
        if not user.can_approve:
            raise HTTPException(403, f"{user.name} is not an approver")
        if user.name == editor:
            raise HTTPException(403, "four eyes: you cannot approve your own draft")
        with connect(dsn) as conn:
            sub = drafts.submission(conn, editor)
            drafts.require_base(conn, drafts.Draft(sub.document, sub.base_fingerprint))
            api.apply_config(conn, api.parse_document(sub.document, f"draft of {editor}"),
                             applied_by=f"{editor}, approved by {user.name}",
                             source_name="workbench (four-eyes)")  # fmt: skip
            drafts.reset(conn, editor)
        return RedirectResponse("/history", status_code=303)

    @app.get("/draft/condition", response_class=HTMLResponse, include_in_schema=False)
    def guide_page(request: Request, user: User = Depends(editor)):  # noqa: B008
        with connect(dsn) as conn:
            draft = drafts.load(conn, user.name)
            s = guide.step(conn, draft.document, dict(request.query_params))
        return render(request, "guide.html", user, step=s, sources=guide.SOURCES, added=None,
                      parties=PARTY_TYPES, contacts=CONTACT_TYPES)  # fmt: skip

    @app.post("/draft/condition", response_class=HTMLResponse, include_in_schema=False)
    async def guide_add(request: Request, user: User = Depends(editor),  # noqa: B008
                        _csrf: None = Depends(check_form)):  # noqa: B008  # fmt: skip
        form = {k: str(v) for k, v in (await request.form()).items()}
        edits = {
            "rule": guide.add_rule,
            "campaign": guide.add_campaign,
            **dict.fromkeys(("remove", "switch", "negate", "group"), guide.combine),
        }
        edit = edits.get(form.get("edit", ""), guide.add)
        with connect(dsn) as conn:
            draft = drafts.load(conn, user.name)
            text, s = edit(conn, draft.document, form)
            if s.problem is None:
                drafts.save(conn, user.name, text)
        status = 200 if s.problem is None else 422
        return render(request, "guide.html", user, step=s, sources=guide.SOURCES,
                      added=s.problem is None, status_code=status, parties=PARTY_TYPES,
                      contacts=CONTACT_TYPES)  # fmt: skip

    @app.post("/draft/reorder", include_in_schema=False)
    async def reorder(request: Request, user: User = Depends(editor),  # noqa: B008
                      _csrf: None = Depends(check_form)):  # noqa: B008  # fmt: skip
        form = await request.form()
        with connect(dsn) as conn:
            draft = drafts.load(conn, user.name)
            text = guide.reorder(draft.document, int(form["group"]), int(form["campaign"]),
                                 str(form["direction"]))  # fmt: skip
            drafts.save(conn, user.name, text)
        return RedirectResponse("/draft#order", status_code=303)

    @app.get("/custom-fields", response_class=HTMLResponse, include_in_schema=False)
    def custom_fields_page(request: Request, user: User = Depends(current_user)):  # noqa: B008
        return render(request, "custom_fields.html", user, fields=api.list_custom_fields(dsn),
                      result=None, rejected=[], message=None)  # fmt: skip

    @app.post("/custom-fields", response_class=HTMLResponse, include_in_schema=False)
    async def custom_fields_action(request: Request, user: User = Depends(editor),  # noqa: B008
                                   _csrf: None = Depends(check_form)):  # noqa: B008  # fmt: skip
        import tempfile

        form = await request.form()
        result, rejected, message = None, [], None
        if form.get("action") == "register":
            api.add_custom_field(dsn, str(form.get("name", "")).strip(), str(form.get("data_type")),
                                 str(form.get("description", "")) or None)  # fmt: skip
            message = f"registered {str(form.get('name')).strip()!r}"
        else:
            upload = form.get("file")
            if upload is None or not getattr(upload, "filename", ""):
                raise ConfigError("choose a CSV or JSON-lines file to upload")
            suffix = Path(upload.filename).suffix[:10] or ".csv"
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"upload{suffix}"
                path.write_bytes(await upload.read())
                rejects = Path(tmp) / "rejected.tsv"
                result = api.upload_custom_fields(dsn, path, source_system="workbench",
                                                  uploaded_by=user.name, reject_file=rejects)  # fmt: skip
                if rejects.exists():
                    rejected = [
                        ln.split("\t", 2)
                        for ln in rejects.read_text(encoding="utf-8").splitlines()[1:]
                    ]
        return render(request, "custom_fields.html", user, fields=api.list_custom_fields(dsn),
                      result=result, rejected=rejected[:200], message=message)  # fmt: skip

    @app.get("/runs-diff", include_in_schema=False)
    def runs_diff_start(a: int, b: int, user: User = Depends(current_user)):  # noqa: B008
        # it reads both runs' results (a second at 10M customers): like the preview, a job
        job = jobs.start(user.name, lambda _progress: api.runs_diff(dsn, a, b, sample=5))
        return RedirectResponse(f"/runs-diff/{job}", status_code=303)

    @app.get("/runs-diff/{job_id}", response_class=HTMLResponse, include_in_schema=False)
    def runs_diff_page(request: Request, job_id: str, user: User = Depends(current_user)):  # noqa: B008
        job = jobs.get(job_id, user.name)
        if job.error:
            raise SqlCompilerError(job.error)
        if job.result is None:
            return render(request, "runs_diff.html", user, running=True, a=None, b=None, moves=[])
        ra, rb, moves = job.result
        return render(request, "runs_diff.html", user, running=False, a=ra, b=rb, moves=moves)

    @app.get("/history", response_class=HTMLResponse, include_in_schema=False)
    def history(request: Request, a: int | None = None, b: int | None = None,
                user: User = Depends(current_user)):  # noqa: B008  # fmt: skip
        versions = api.config_history(dsn, 50)
        diff = api.config_diff(dsn, a, b) if a is not None and b is not None else None
        return render(request, "history.html", user, versions=versions, diff=diff, a=a, b=b)

    @app.post("/history/{version}/rollback", include_in_schema=False)
    async def rollback(request: Request, version: int, user: User = Depends(editor),  # noqa: B008
                       _csrf: None = Depends(check_form)):  # noqa: B008  # fmt: skip
        api.config_rollback(dsn, version, applied_by=user.name)
        return RedirectResponse("/history", status_code=303)

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    def runs(request: Request, page: int = 1, user: User = Depends(current_user)):  # noqa: B008
        page = max(page, 1)
        records = api.runs(dsn, RUNS_PER_PAGE * page)[RUNS_PER_PAGE * (page - 1) :]
        return render(request, "runs.html", user, records=records, page=page,
                      more=len(records) == RUNS_PER_PAGE)  # fmt: skip

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(request: Request, run_id: int, user: User = Depends(current_user)):  # noqa: B008
        record, counts = api.run_details(dsn, run_id)
        return render(request, "run.html", user, record=record, counts=counts)

    @app.get("/customers", response_class=HTMLResponse, include_in_schema=False)
    def customer(request: Request, cif: str = "", user: User = Depends(current_user)):  # noqa: B008
        trace = api.trace_customer(dsn, cif.strip()) if cif.strip() else None
        return render(request, "customer.html", user, trace=trace, cif=cif)

    @app.get("/results.csv", include_in_schema=False)
    def results_csv(user: User = Depends(current_user)):  # noqa: B008
        def chunks():
            yield from api.results_csv_chunks(dsn)

        stamp = dt.date.today().isoformat()
        return StreamingResponse(chunks(), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="current-results-{stamp}.csv"'})  # fmt: skip

    add_json_api(app, dsn, auth, current_user, editor, check_api_write)

    return app


def _order(text: str) -> list:
    try:
        return guide.campaign_order(text)
    except (ConfigError, yaml.YAMLError, AttributeError, TypeError):
        return []  # a draft that does not parse: the editor shows why on Check


class _Redirect(Exception):
    def __init__(self, to: str):
        self.to = to
