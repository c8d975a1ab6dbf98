"""Server time of each workbench page on a real database (issue: ≤ 300 ms at 1M customers,
the preview excepted). Usage: python benchmarks/ui_pages.py [DSN]  (default: the embedded one).

In-process (FastAPI's TestClient): the time is the server's, without a network. Each page is
fetched three times; the report gives the median."""

from __future__ import annotations

import statistics
import sys
import time

from fastapi.testclient import TestClient

from sqlcompiler.infra.connection import connect, resolve_dsn
from sqlcompiler.ui import AuthSettings, create_app


def main() -> None:
    dsn = resolve_dsn(sys.argv[1] if len(sys.argv) > 1 else None)
    client = TestClient(create_app(dsn, AuthSettings()), base_url="http://127.0.0.1")
    runs = client.get("/api/runs?limit=1").json()
    run_id = runs[0]["run_id"] if runs else 1
    with connect(dsn) as conn:
        row = conn.execute(
            "SELECT cif FROM campaign_results.current_assignments LIMIT 1"
        ).fetchone()
    cif = row[0] if row else "C0000000001"
    full = [r["run_id"] for r in client.get("/api/runs?limit=50").json()
            if r["status"] == "succeeded" and not r["dry_run"] and not r["results_dropped"]]  # fmt: skip
    pages = ["/", "/configuration", "/draft", "/history", "/runs", f"/runs/{run_id}",
             f"/customers?cif={cif}", "/custom-fields", "/draft/condition",
             "/draft/condition?target=0:0&source=bank_sync_service.loans&field=product_type&operator=%3D",
             "/api/runs", f"/api/runs/{run_id}", "/api/configuration", f"/api/customers/{cif}"]  # fmt: skip
    if len(full) >= 2:  # the comparison itself runs as a job, like the preview
        t0 = time.perf_counter()
        job = client.get(f"/runs-diff?a={full[1]}&b={full[0]}", follow_redirects=False)
        while 'id="progress"' in client.get(job.headers["location"]).text:
            time.sleep(0.05)
        ms = 1000 * (time.perf_counter() - t0)
        print(f"{'runs comparison job (whole)':<40} {ms:>10.1f}")
    print(f"{'page':<40} {'median ms':>10}")
    for path in pages:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            r = client.get(path)
            times.append(1000 * (time.perf_counter() - t0))
            assert r.status_code == 200, (path, r.status_code, r.text[:200])
        print(f"{path:<40} {statistics.median(times):>10.1f}")


if __name__ == "__main__":
    main()
