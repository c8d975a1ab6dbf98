"""A bounded load test of the workbench on loopback (issue 29): CLIENTS clients for SECONDS
seconds against the real server (uvicorn in this process, HTTP over 127.0.0.1), on the
overview, a customer's page and (two of the clients) a preview of the stored configuration.
Reports p50 / p95 / max and errors per request kind: a benchmark, not a timed test.

Usage: python benchmarks/ui_load.py [DSN] [--clients 20] [--seconds 30]
(default DSN: the embedded one, e.g. after `make demo`)."""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time

import httpx
import uvicorn

from sqlcompiler.infra.connection import connect, resolve_dsn
from sqlcompiler.ui import AuthSettings, create_app


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dsn", nargs="?")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    dsn = resolve_dsn(args.dsn)
    with connect(dsn) as conn:
        cifs = [r[0] for r in conn.execute(
            "SELECT cif FROM campaign_results.current_assignments LIMIT 200").fetchall()]  # fmt: skip
    port = _port()
    server = uvicorn.Server(uvicorn.Config(create_app(dsn, AuthSettings()), host="127.0.0.1",
                                           port=port, log_level="warning", proxy_headers=False))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base) as c:
        document = c.get("/api/configuration").json()
    stop = time.monotonic() + args.seconds
    times: dict[str, list[float]] = {"overview": [], "customer": [], "preview": []}
    errors: dict[str, int] = dict.fromkeys(times, 0)
    first_error: dict[str, str] = {}
    lock = threading.Lock()

    def client(k: int) -> None:
        kinds = ["preview"] if k < 2 else ["overview", "customer"]
        with httpx.Client(base_url=base, timeout=600) as c:
            i = 0
            while time.monotonic() < stop:
                kind = kinds[i % len(kinds)]
                t0 = time.perf_counter()
                if kind == "overview":
                    r = c.get("/")
                elif kind == "customer":
                    r = c.get("/customers", params={"cif": cifs[(k * 31 + i) % len(cifs)]})
                else:
                    r = c.post("/api/preview", json=document,
                               headers={"X-Requested-With": "sqlcompiler"})  # fmt: skip
                ms = 1000 * (time.perf_counter() - t0)
                with lock:
                    times[kind].append(ms)
                    # a preview refused because another holds the run lock is expected: counted apart
                    if r.status_code != 200:
                        errors[kind] += 1
                        first_error.setdefault(kind, f"{r.status_code} {r.text[:160]}")
                i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.should_exit = True
    print(f"{args.clients} clients, {args.seconds:.0f} s, {base}")
    print(f"{'request':<10} {'n':>6} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} {'non-200':>8}")
    for kind, ts in times.items():
        if not ts:
            continue
        q = statistics.quantiles(ts, n=20) if len(ts) > 1 else [ts[0]] * 19
        print(f"{kind:<10} {len(ts):>6} {statistics.median(ts):>9.1f} {q[18]:>9.1f} "
              f"{max(ts):>9.1f} {errors[kind]:>8}")  # fmt: skip
    for kind, text in first_error.items():
        print(f"first non-200 of {kind}: {text}")


if __name__ == "__main__":
    main()
