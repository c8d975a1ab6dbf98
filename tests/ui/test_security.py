"""The workbench's controls against a colleague with ordinary access: each attack of issue 29
tried as that colleague would, and refused."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import yaml
from fastapi.testclient import TestClient

from sqlcompiler.errors import SqlCompilerError
from sqlcompiler.ui import AuthSettings, create_app
from sqlcompiler.ui.sessions import Sessions
from tests.conftest import _free_port
from tests.run.test_preview import V1, _scenario
from tests.ui.test_api import LOCAL, WRITE, _csrf, _finished, login, users_file

LAN, CHI = ("editor", "lan-bí-mật-123"), ("approver", "chi-bí-mật-456")


@pytest.fixture
def four_eyes(db, dsn, monkeypatch, tmp_path):
    """Token mode with four eyes: lan edits, chi approves; one client per person."""
    _scenario(db)
    users_file(tmp_path, monkeypatch, lan=LAN, chi=CHI)
    app = create_app(dsn, AuthSettings.from_env("token", "127.0.0.1", require_approval=True))
    lan, chi = TestClient(app, base_url=LOCAL), TestClient(app, base_url=LOCAL)
    assert login(lan, "lan", LAN[1]).status_code == 200
    assert login(chi, "chi", CHI[1]).status_code == 200
    return lan, chi


def _history(client: TestClient) -> str:
    return client.get("/history").text


def test_the_token_of_one_person_does_not_open_anothers_name(db, dsn, monkeypatch, tmp_path):
    _scenario(db)
    users_file(tmp_path, monkeypatch, lan=LAN, chi=CHI)
    client = TestClient(
        create_app(dsn, AuthSettings.from_env("token", "127.0.0.1")), base_url=LOCAL
    )
    assert login(client, "chi", LAN[1]).status_code == 401  # lan's secret, chi's name
    assert login(client, "nobody", LAN[1]).status_code == 401
    assert client.get("/api/runs").status_code == 401


def test_shared_token_alone_is_refused_with_the_way_forward(monkeypatch):
    monkeypatch.delenv("SQLCOMPILER_UI_USERS", raising=False)
    monkeypatch.setenv("SQLCOMPILER_UI_TOKEN", "one-for-all")
    with pytest.raises(SqlCompilerError, match="ui user add .*SQLCOMPILER_UI_TOKEN.*no longer"):
        AuthSettings.from_env("token", "127.0.0.1")


def test_logins_are_rate_limited_per_name(db, dsn, monkeypatch, tmp_path):
    _scenario(db)
    users_file(tmp_path, monkeypatch, lan=LAN)
    client = TestClient(
        create_app(dsn, AuthSettings.from_env("token", "127.0.0.1")), base_url=LOCAL
    )
    codes = [login(client, "lan", f"guess-{i}").status_code for i in range(5)]
    assert codes == [401] * 5
    blocked = login(client, "lan", LAN[1])  # even the right secret waits now
    assert blocked.status_code == 429 and "too many failed logins" in blocked.text


def test_logout_ends_the_session_for_a_copied_cookie(four_eyes):
    lan, _ = four_eyes
    stolen = dict(lan.cookies)
    assert lan.post("/logout", data={"csrf": _csrf(lan)}, follow_redirects=False).status_code == 303
    thief = TestClient(lan.app, base_url=LOCAL, cookies=stolen)
    assert thief.get("/api/runs").status_code == 401


def test_sessions_expire_when_idle():
    sessions = Sessions(idle=0.05, absolute=60)
    sid = sessions.create("lan", "editor")
    assert sessions.get(sid).name == "lan"
    time.sleep(0.1)
    assert sessions.get(sid) is None


def test_rollback_under_four_eyes_waits_for_the_approver(four_eyes, db):
    from sqlcompiler import api

    lan, chi = four_eyes
    # version 2 (applied from the CLI, as a DBA would): one group fewer than version 1
    api.apply_config(db, api.parse_document(yaml.safe_dump({"groups": V1["groups"][:1]}), "cli"),
                     applied_by="dba")  # fmt: skip
    pending = lan.get("/").text  # the manager sees that the change waits for the next run
    assert "The configuration changed since these results: version 2" in pending
    before = _history(lan)
    r = lan.post("/history/1/rollback", data={"csrf": _csrf(lan)})
    assert r.status_code == 200 and "submitted for approval" in r.text
    assert _history(lan) == before  # nothing applied
    page = chi.get("/approvals").text
    digest = page.split('name="digest" value="')[1].split('"')[0]
    r = chi.post("/approvals/lan/approve", data={"csrf": _csrf(chi), "digest": digest})
    assert r.status_code == 200 and "lan, approved by chi" in r.text
    assert "It takes effect at the next run" in r.text  # feedback after the approval
    assert "configuration changed" not in chi.get("/").text  # back to what the run used


def test_the_api_cannot_apply_under_four_eyes(four_eyes):
    lan, chi = four_eyes
    for client in (lan, chi):  # not even the approver alone
        r = client.post("/api/configuration", json={"groups": []}, headers=WRITE)
        assert r.status_code == 403 and "four-eyes" in r.json()["error"]


def test_the_approver_applies_only_the_snapshot_seen(four_eyes):
    lan, chi = four_eyes
    doc = yaml.safe_dump({"groups": V1["groups"][:1]}, allow_unicode=True)
    lan.post("/draft", data={"document": doc, "action": "submit", "csrf": _csrf(lan)})
    seen = chi.get("/approvals").text.split('name="digest" value="')[1].split('"')[0]
    later = yaml.safe_dump({"groups": []}, allow_unicode=True)  # lan swaps the draft
    lan.post("/draft", data={"document": later, "action": "submit", "csrf": _csrf(lan)})
    r = chi.post("/approvals/lan/approve", data={"csrf": _csrf(chi), "digest": seen})
    assert r.status_code == 409 and "submitted a different draft" in r.text
    assert "Nhóm trễ hạn" in chi.get("/configuration").text  # unchanged


def test_a_foreign_host_is_refused(db, dsn):
    _scenario(db)
    app = create_app(dsn, AuthSettings())
    assert TestClient(app, base_url="http://attacker.example").get("/").status_code == 400
    for host in ("http://127.0.0.1:8700", "http://localhost", "http://[::1]:8700"):
        assert TestClient(app, base_url=host).get("/").status_code == 200, host
    named = create_app(dsn, AuthSettings.from_env("none", "127.0.0.1",
                                                  allowed_hosts=("wb.bank.vn",)))  # fmt: skip
    assert TestClient(named, base_url="http://wb.bank.vn").get("/").status_code == 200


def test_pages_carry_the_security_headers(db, dsn):
    _scenario(db)
    r = TestClient(create_app(dsn, AuthSettings()), base_url=LOCAL).get("/draft/condition")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "same-origin"
    assert "onchange" not in r.text and "data-autosubmit" in r.text  # no inline script
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


@pytest.fixture
def client(db, dsn):
    _scenario(db)
    return TestClient(create_app(dsn, AuthSettings()), base_url=LOCAL)


@pytest.mark.parametrize(
    "form",
    [{"group": "x", "campaign": "0", "direction": "up"}, {},
     {"group": "0", "campaign": "0", "direction": "sideways"}],
)  # fmt: skip
def test_bad_reorder_forms_answer_422_with_a_message(client, form):
    r = client.post("/draft/reorder", data={"csrf": _csrf(client), **form})
    assert r.status_code == 422 and "That did not work" in r.text
    assert "group" in r.text or "direction" in r.text


@pytest.mark.parametrize(
    ("name", "said"), [("f" * 300, "at most 128 characters"), ("risk\x00score", "control")]
)
def test_bad_custom_field_names_answer_422(client, name, said):
    r = client.post("/custom-fields", data={"csrf": _csrf(client), "action": "register",
                                            "name": name, "data_type": "number"})  # fmt: skip
    assert r.status_code == 422 and said in r.text


@pytest.mark.parametrize(
    "document",
    ["groups: " + "[" * 5000 + "]" * 5000,
     "groups:\n- name: G\n  campaigns:\n  - name: C\n    priority: " + "9" * 5000],
)  # fmt: skip
def test_a_hostile_draft_still_opens_with_its_problem_shown(client, document):
    r = client.post("/draft", data={"csrf": _csrf(client), "document": document})
    assert r.status_code == 200
    assert "nested more than 100 levels" in r.text or "more than 4,300 digits" in r.text
    again = client.get("/draft")  # saved as it is: the page opens, the editor can fix it
    assert again.status_code == 200 and "Draft" in again.text


def test_an_oversized_body_is_refused_before_it_is_read(client):
    big = "x" * (3 * 1024 * 1024)
    r = client.post("/draft", data={"csrf": _csrf(client), "document": big})
    assert r.status_code == 413

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(4):
            yield b"document=" + b"x" * (1024 * 1024)

    r = client.post("/draft", content=chunks(),
                    headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 413


def test_a_huge_integer_in_a_file_is_a_one_line_error(tmp_path, dsn, db):
    from tests.cli.test_cli import sqlc

    path = tmp_path / "c.yaml"
    path.write_text("groups:\n- name: G\n  campaigns:\n  - name: C\n    priority: " + "9" * 5000)
    r = sqlc("config", "validate", str(path), dsn=dsn)
    assert r.returncode == 1 and "more than 4,300 digits" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2


def _serve(dsn: str, *args: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sqlcompiler", "--dsn", dsn, "ui", "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.2)


def _get(port: int, headers: dict[str, str]) -> int:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/runs", headers=headers)
    try:
        return urllib.request.urlopen(req, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_proxy_trust_is_the_tcp_peer_not_a_header(db, dsn):
    """The real server (uvicorn): a local process cannot pose as a remote proxy with
    X-Forwarded-For, and a proxy on the same host that adds X-Forwarded-For still works."""
    _scenario(db)
    spoofed = {"X-Forwarded-For": "10.0.0.5", "X-Forwarded-User": "chi"}
    proc, port = _serve(dsn, "--auth", "proxy", "--trusted-proxies", "10.0.0.5")
    try:
        assert _get(port, spoofed) == 403
    finally:
        proc.terminate()
        proc.wait(10)
    proc, port = _serve(dsn, "--auth", "proxy", "--trusted-proxies", "127.0.0.1")
    try:
        assert _get(port, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-User": "lan"}) == 200
        assert _get(port, {"X-Forwarded-For": "203.0.113.7"}) == 403  # no user named
    finally:
        proc.terminate()
        proc.wait(10)


def test_reads_of_customers_and_results_are_audited(four_eyes, db):
    lan, chi = four_eyes
    assert lan.get("/customers", params={"cif": "C0"}).status_code == 200
    assert chi.get("/api/customers/C1").status_code == 200
    assert chi.get("/results.csv").status_code == 200
    rows = db.execute(
        "SELECT username, what, subject FROM campaign_engine.ui_reads ORDER BY id"
    ).fetchall()
    assert rows == [("lan", "customer", "C0"), ("chi", "customer", "C1"), ("chi", "results", None)]


def test_the_approver_sees_the_change_and_can_send_it_back(four_eyes):
    lan, chi = four_eyes
    doc = {"groups": [dict(V1["groups"][0], campaigns=[
        *V1["groups"][0]["campaigns"],
        {"name": "Hứa trả bị lỡ", "priority": 99, "conditions": [
            {"data_source": "bank_sync_service.loans", "field_name": "dpd", "operator": "BETWEEN",
             "field_value": [1, 30]}]},
    ])], "custom_fields": V1.get("custom_fields", [])}  # fmt: skip
    text = yaml.safe_dump(doc, allow_unicode=True)
    lan.post("/draft", data={"document": text, "action": "submit", "csrf": _csrf(lan)})
    page = chi.get("/approvals").text
    assert "Hứa trả bị lỡ" in page and "when loan.dpd BETWEEN 1 AND 30" in page  # not blind
    digest = page.split('name="digest" value="')[1].split('"')[0]
    # the preview of exactly this snapshot, beside it, before deciding
    started = chi.post("/approvals/lan/preview", data={"csrf": _csrf(chi), "digest": digest},
                       follow_redirects=False)  # fmt: skip
    assert started.status_code == 303
    assert started.headers["location"].startswith("/approvals/preview/")
    shown = _finished(chi, started.headers["location"])
    assert 'id="preview"' in shown and "Hứa trả bị lỡ" in shown.split('id="preview"')[1]
    assert "Approve and apply" in shown and "Send back" in shown  # decide from that page
    refused = lan.post("/approvals/lan/preview", data={"csrf": _csrf(lan), "digest": digest})
    assert refused.status_code == 403  # the editor is not an approver
    nobody = chi.post("/approvals/minh/preview", data={"csrf": _csrf(chi), "digest": digest})
    assert nobody.status_code == 422 and "minh has no draft waiting for approval" in nobody.text
    assert chi.post("/approvals/lan/preview", data={"digest": digest}).status_code == 403  # CSRF
    r = chi.post("/approvals/lan/return", data={"csrf": _csrf(chi), "digest": digest,
                                                 "comment": "thiếu điều kiện phân khúc"})  # fmt: skip
    assert r.status_code == 200 and "Nothing is waiting" in r.text
    mine = lan.get("/draft").text
    assert "chi sent this draft back: thiếu điều kiện phân khúc" in mine
    assert "Hứa trả bị lỡ" in mine  # the draft stays the editor's
    assert "Hứa trả bị lỡ" not in chi.get("/configuration").text  # nothing applied
    lan.post("/draft", data={"document": text, "action": "submit", "csrf": _csrf(lan)})
    assert "sent this draft back" not in lan.get("/draft").text  # a new submission clears it
