"""What the runs produced: the overview, the runs, a run, two runs compared, a customer, the
results download."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from ... import api
from ...errors import SqlCompilerError
from ..auth import User
from ..deps import USER, render, workbench
from ..overview import overview as _overview

router = APIRouter(include_in_schema=False)
RUNS_PER_PAGE = 25


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, user: User = USER):
    return render(request, "overview.html", user, **_overview(workbench(request).dsn))


@router.get("/runs", response_class=HTMLResponse)
def runs(request: Request, page: int = 1, user: User = USER):
    page = max(page, 1)
    records = api.runs(workbench(request).dsn, RUNS_PER_PAGE * page)
    records = records[RUNS_PER_PAGE * (page - 1) :]
    return render(request, "runs.html", user, records=records, page=page,
                  more=len(records) == RUNS_PER_PAGE)  # fmt: skip


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: int, user: User = USER):
    record, counts = api.run_details(workbench(request).dsn, run_id)
    return render(request, "run.html", user, record=record, counts=counts)


@router.get("/runs-diff")
def runs_diff_start(request: Request, a: int, b: int, user: User = USER):
    # it reads both runs' results (a second at 10M customers): like the preview, a job
    wb = workbench(request)
    job = wb.jobs.start(user.name, lambda _progress: api.runs_diff(wb.dsn, a, b, sample=5))
    return RedirectResponse(f"/runs-diff/{job}", status_code=303)


@router.get("/runs-diff/{job_id}", response_class=HTMLResponse)
def runs_diff_page(request: Request, job_id: str, user: User = USER):
    job = workbench(request).jobs.get(job_id, user.name)
    if job.error:
        raise SqlCompilerError(job.error)
    if job.result is None:
        return render(request, "runs_diff.html", user, running=True, a=None, b=None, moves=[])
    ra, rb, moves = job.result
    return render(request, "runs_diff.html", user, running=False, a=ra, b=rb, moves=moves)


@router.get("/customers", response_class=HTMLResponse)
def customer(request: Request, cif: str = Query("", max_length=255), user: User = USER):
    dsn = workbench(request).dsn
    trace = None
    if cif.strip():
        api.record_read(dsn, user.name, "customer", cif.strip())
        trace = api.trace_customer(dsn, cif.strip())
    return render(request, "customer.html", user, trace=trace, cif=cif)


@router.get("/results.csv")
def results_csv(request: Request, user: User = USER):
    api.record_read(workbench(request).dsn, user.name, "results")
    dsn = workbench(request).dsn
    stamp = dt.date.today().isoformat()
    return StreamingResponse(api.results_csv_chunks(dsn), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="current-results-{stamp}.csv"'})  # fmt: skip
