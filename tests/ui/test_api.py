"""The workbench's pages and JSON API (FastAPI's TestClient against a real database)."""

from __future__ import annotations

import html
import re

import pytest
import yaml
from fastapi.testclient import TestClient

from sqlcompiler.errors import SqlCompilerError
from sqlcompiler.ui import AuthSettings, create_app
from tests.run.test_preview import V1, _scenario

WRITE = {"X-Requested-With": "sqlcompiler"}
LOCAL = "http://127.0.0.1"  # a Host the workbench serves (TestClient's own is testserver)


@pytest.fixture
def client(db, dsn):
    _scenario(db)
    return TestClient(create_app(dsn, AuthSettings()), base_url=LOCAL)


def _csrf(client: TestClient) -> str:
    page = client.get("/draft").text
    return page.split('name="csrf" value="')[1].split('"')[0]


def _finished(client: TestClient, url: str, seconds: float = 60) -> str:
    """Follow a preview job's page (it refreshes itself while running) until it is done."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        page = client.get(url).text
        if 'id="progress"' not in page:
            return page
        assert time.monotonic() < deadline, "the preview did not finish"
        time.sleep(0.2)


def test_pages_render_with_names(client):
    for path, text in [
        ("/", "Gọi gấp"), ("/configuration", "Nhắc nhở"), ("/draft", "Nhóm trễ hạn"),
        ("/history", "version"), ("/runs", "succeeded"),
        ("/runs/1", "Chăm sóc"), ("/customers?cif=C0", "Assigned to"),
    ]:  # fmt: skip
        r = client.get(path)
        assert r.status_code == 200 and text in r.text, path
    csv = client.get("/results.csv")
    assert csv.status_code == 200 and csv.text.startswith("cif,campaign_group,campaign")


def test_api_endpoints(client):
    assert client.get("/api/runs").json()[0]["status"] == "succeeded"
    run = client.get("/api/runs/1").json()
    assert {c["campaign"] for c in run["campaigns"]} >= {"Gọi gấp", "Chăm sóc"}
    assert client.get("/api/configuration").json()["groups"][0]["name"] == "Nhóm trễ hạn"
    assert client.get("/api/customers/C0").json()["cif"] == "C0"
    assert any(f["field"] == "dpd" for f in client.get("/api/fields").json()["fields"])
    draft = {"groups": V1["groups"][:1]}
    assert client.post("/api/preview", json=draft).status_code == 403  # no CSRF header
    preview = client.post("/api/preview", json=draft, headers=WRITE).json()
    vip = [g for g in preview["groups"] if g["name"] == "VIP"][0]
    assert vip["campaigns"][0]["left"] == 2
    bad = client.post("/api/preview", json={"groups": [{"name": "G", "campaigns": [
        {"name": "C", "priority": 1, "conditions": [{"data_source": "bank_sync_service.loans",
         "field_name": "dpd", "operator": ">", "field_value": "many"}]}]}]}, headers=WRITE)  # fmt: skip
    assert bad.status_code == 422 and "dpd" in bad.json()["error"]
    applied = client.post("/api/configuration", json=draft, headers=WRITE).json()
    assert any(c.startswith("- group 'VIP'") for c in applied["changes"])
    assert client.get("/api/openapi.json").json()["info"]["title"] == "sqlcompiler workbench"


def test_draft_check_preview_apply_and_stale_base(client, db):
    token = _csrf(client)
    doc = yaml.safe_dump({"groups": V1["groups"][:1]}, allow_unicode=True)
    assert (
        client.post("/draft", data={"document": doc, "action": "apply"}).status_code == 403
    )  # CSRF
    wrong = doc.replace("60", "sixty")
    page = client.post("/draft", data={"document": wrong, "action": "validate", "csrf": token}).text
    assert "groups[0].campaigns[0].conditions[0]" in page and "sixty" in page  # next to its place
    assert "sixty" in client.get("/draft").text  # the draft survives a reload
    started = client.post("/draft", data={"document": doc, "action": "preview", "csrf": token},
                          follow_redirects=False)  # fmt: skip
    assert started.status_code == 303 and started.headers["location"].startswith("/draft/preview/")
    page = _finished(client, started.headers["location"])
    assert 'id="preview"' in page and "VIP" in page
    # someone else applies meanwhile: this draft's apply is refused
    from tests.scenario import configure

    configure(db, {"groups": V1["groups"][1:]})
    refused = client.post("/draft", data={"document": doc, "action": "apply", "csrf": token})
    assert refused.status_code == 422 and "changed since this draft was started" in refused.text


def users_file(tmp_path, monkeypatch, **people: tuple[str, str]) -> None:
    """SQLCOMPILER_UI_USERS with name=(role, secret) per person, as `ui user add` writes it."""
    from sqlcompiler.ui.users import add_user

    path = tmp_path / "users"
    for name, (role, secret) in people.items():
        add_user(path, name, role, secret)
    monkeypatch.setenv("SQLCOMPILER_UI_USERS", str(path))


def login(client: TestClient, name: str, secret: str):
    page = client.get("/login").text
    token = page.split('name="csrf" value="')[1].split('"')[0]
    return client.post("/login", data={"name": name, "secret": secret, "csrf": token})


def test_token_auth_and_viewer_cannot_change_anything(db, dsn, monkeypatch, tmp_path):
    _scenario(db)
    users_file(tmp_path, monkeypatch, lan=("editor", "lan-bí-mật-123"),
               minh=("viewer", "minh-bí-mật-456"))  # fmt: skip
    settings = AuthSettings.from_env("token", "0.0.0.0")
    client = TestClient(create_app(dsn, settings), base_url=LOCAL)
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/api/runs").status_code == 401
    assert login(client, "minh", "wrong").status_code == 401
    assert login(client, "minh", "minh-bí-mật-456").status_code == 200
    assert "minh · viewer" in client.get("/").text
    assert "bí-mật" not in client.get("/draft").text
    token = _csrf(client)
    doc = yaml.safe_dump({"groups": V1["groups"][:1]}, allow_unicode=True)
    assert (
        client.post("/draft", data={"document": doc, "action": "apply", "csrf": token}).status_code
        == 403
    )
    assert client.post("/api/configuration", json={"groups": []}, headers=WRITE).status_code == 403
    assert client.post("/history/1/rollback", data={"csrf": token}).status_code == 403
    with pytest.raises(SqlCompilerError, match="only on a loopback address"):
        AuthSettings.from_env("none", "0.0.0.0")


def test_guided_condition_steps_offer_only_what_fits(client):
    page = client.get("/draft/condition").text
    assert "Nhóm trễ hạn / Gọi gấp" in page
    page = client.get("/draft/condition", params={"target": "0:1", "source": "bank_sync_service.customers",
                                                  "field": "is_vip"}).text  # fmt: skip
    ops = page.split('name="operator"')[1].split("</select>")[0]
    values = set(re.findall(r'value="([^"]*)"', ops))
    assert {"=", "IS NULL"} <= values and not {"LIKE", "BETWEEN"} & values  # a boolean's
    assert ">is missing (IS NULL)<" in ops  # operators in words, the file's word beside
    token = _csrf(client)
    form = {"csrf": token, "target": "0:1", "source": "bank_sync_service.loans", "field": "dpd",
            "operator": "IN", "value": "10, mười"}  # fmt: skip
    bad = client.post("/draft/condition", data=form)
    assert bad.status_code == 422 and 'id="value-problem"' in bad.text and "mười" in bad.text
    assert "mười" not in client.get("/draft").text  # the draft is unchanged
    ok = client.post("/draft/condition", data=form | {"value": "10, 20"})
    assert ok.status_code == 200 and 'id="added"' in ok.text
    draft = yaml.safe_load(
        client.get("/draft")
        .text.split("<textarea")[1]
        .split(">", 1)[1]
        .split("</textarea>")[0]
        .replace("&#39;", "'")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&amp;", "&")
        .replace("&#34;", '"')
    )
    added = draft["groups"][0]["campaigns"][1]["conditions"][-1]
    assert added == {"data_source": "bank_sync_service.loans", "field_name": "dpd",
                     "operator": "IN", "field_value": [10, 20]}  # fmt: skip


def test_reorder_custom_fields_upload_and_runs_diff(client, db, tmp_path):
    token = _csrf(client)
    # move Nhắc nhở above Gọi gấp: priorities renumbered 10, 20
    r = client.post("/draft/reorder", data={"csrf": token, "group": 0, "campaign": 1,
                                            "direction": "up"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    textarea = client.get("/draft").text.split("<textarea")[1].split(">", 1)[1]
    group = yaml.safe_load(html.unescape(textarea.split("</textarea>")[0]))["groups"][0]
    assert [(c["name"], c["priority"]) for c in group["campaigns"]] == [
        ("Nhắc nhở", 10),
        ("Gọi gấp", 20),
    ]
    # register a field and upload values with a bad line: the reject report is on the page
    r = client.post("/custom-fields", data={"csrf": token, "action": "register", "name": "điểm",
                                            "data_type": "number", "description": "risk"})  # fmt: skip
    assert r.status_code == 200 and "registered" in r.text
    upload = "account_number,điểm\nL0,10\nL1,nhiều\nL9,5\n"
    r = client.post("/custom-fields", data={"csrf": token, "action": "upload"},
                    files={"file": ("values.csv", upload.encode(), "text/csv")})  # fmt: skip
    assert r.status_code == 200 and 'id="rejected"' in r.text
    assert "Loaded 1 line(s)" in r.text and "L9" in r.text and "nhiều" in r.text
    # the runs diff page
    from sqlcompiler import run as runner

    db.execute("UPDATE bank_sync_service.loans SET dpd = 0 WHERE cif = 'C2'")
    second = runner.run(db.info.dsn).run_id
    started = client.get(f"/runs-diff?a=1&b={second}", follow_redirects=False)
    page = _finished(client, started.headers["location"])
    assert "left" in page and "C2" in page


def test_four_eyes_and_proxy_auth(db, dsn, monkeypatch):
    _scenario(db)
    monkeypatch.setenv("SQLCOMPILER_UI_ROLES", "lan=editor,chi=approver")
    settings = AuthSettings.from_env("proxy", "0.0.0.0", require_approval=True,
                                     trusted_proxies="testclient")  # fmt: skip
    client = TestClient(create_app(dsn, settings), base_url=LOCAL)
    as_lan, as_chi = {"X-Forwarded-User": "lan"}, {"X-Forwarded-User": "chi"}
    assert client.get("/", headers={}).status_code == 403  # no user from the proxy
    page = client.get("/draft", headers=as_lan).text
    token = page.split('name="csrf" value="')[1].split('"')[0]
    assert "Submit for approval" in page and 'value="apply"' not in page
    doc = yaml.safe_dump({"groups": V1["groups"][:1]}, allow_unicode=True)
    r = client.post(
        "/draft", headers=as_lan, data={"document": doc, "action": "apply", "csrf": token}
    )
    assert r.status_code == 403  # four eyes: no direct apply
    r = client.post(
        "/draft", headers=as_lan, data={"document": doc, "action": "submit", "csrf": token}
    )
    assert "submitted for approval" in r.text
    # lan cannot approve (not an approver), nor can anyone approve their own draft
    assert (
        client.post("/approvals/lan/approve", headers=as_lan, data={"csrf": token}).status_code
        == 403
    )
    page = client.get("/draft", headers=as_chi).text
    chi_token = page.split('name="csrf" value="')[1].split('"')[0]
    r = client.post(
        "/draft", headers=as_chi, data={"document": doc, "action": "submit", "csrf": chi_token}
    )
    assert (
        client.post("/approvals/chi/approve", headers=as_chi, data={"csrf": chi_token}).status_code
        == 403
    )
    waiting = client.get("/approvals", headers=as_chi).text
    assert "lan" in waiting
    digest = waiting.split('name="digest" value="')[1].split('"')[0]
    r = client.post("/approvals/lan/approve", headers=as_chi,
                    data={"csrf": chi_token, "digest": digest}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    newest = client.get("/history", headers=as_chi).text
    assert "lan, approved by chi" in newest
    with pytest.raises(SqlCompilerError, match="needs --trusted-proxies"):
        AuthSettings.from_env("proxy", "0.0.0.0")


def test_the_ui_command_serves_and_refuses_unsafe_binding(db, dsn):
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.cli.test_cli import sqlc
    from tests.conftest import _free_port

    _scenario(db)
    refused = sqlc("ui", "--host", "0.0.0.0", dsn=dsn)
    assert refused.returncode == 1 and "only on a loopback address" in refused.stderr
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sqlcompiler", "--dsn", dsn, "ui", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                body = (
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                )
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.2)
        assert "Gọi gấp" in body
    finally:
        proc.terminate()
        proc.wait(10)


def _draft_doc(client: TestClient) -> dict:
    textarea = client.get("/draft").text.split("<textarea")[1].split(">", 1)[1]
    return yaml.safe_load(html.unescape(textarea.split("</textarea>")[0]))


def test_guide_shows_the_data_removes_conditions_and_edits_contact_rules(client):
    page = client.get("/draft/condition", params={
        "target": "0:0", "source": "bank_sync_service.loans", "field": "product_type", "operator": "="}).text  # fmt: skip
    assert "common values: &#39;CARD&#39; (5)" in page  # what the data holds, beside the value
    assert "bank_sync_service.loans.dpd &gt; 60" in page  # the campaign's conditions now
    token = _csrf(client)
    r = client.post(
        "/draft/condition", data={"csrf": token, "edit": "remove", "target": "0:0", "index": 0}
    )
    assert r.status_code == 200
    assert _draft_doc(client)["groups"][0]["campaigns"][0]["conditions"] == []
    # a new contact rule on "Nhắc nhở", then a condition on that rule
    r = client.post("/draft/condition", data={"csrf": token, "edit": "rule", "target": "0:1",
                                              "party": "reference_customer_all", "contact": "mobile"})  # fmt: skip
    assert r.status_code == 200, r.text
    rules = _draft_doc(client)["groups"][0]["campaigns"][1]["contact_rules"]
    assert rules[-1] == {"rule_priority": 2, "outputs": [
        {"related_party_type": "reference_customer_all", "contact_type": "mobile"}]}  # fmt: skip
    r = client.post("/draft/condition", data={
        "csrf": token, "target": "0:1:1", "source": "bank_sync_service.customers", "field": "is_vip",
        "operator": "=", "value": "true"})  # fmt: skip
    assert r.status_code == 200, r.text
    rule = _draft_doc(client)["groups"][0]["campaigns"][1]["contact_rules"][1]
    assert rule["conditions"] == [{"data_source": "bank_sync_service.customers",
                                   "field_name": "is_vip", "operator": "=", "field_value": True}]  # fmt: skip
    bad = client.post("/draft/condition", data={"csrf": token, "edit": "rule", "target": "0:1",
                                                "party": "neighbour", "contact": "mobile"})  # fmt: skip
    assert bad.status_code == 422 and "neighbour" in bad.text


def test_rollback_from_the_history_page(client):
    token = _csrf(client)
    doc = yaml.safe_dump({"groups": V1["groups"][:1]}, allow_unicode=True)
    client.post("/draft", data={"document": doc, "action": "apply", "csrf": token})
    versions = client.get("/history").text
    assert "Roll back to this" in versions
    oldest = int(versions.split('action="/history/')[1].split("/rollback")[0])
    r = client.post(f"/history/{oldest}/rollback", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303
    assert "VIP" in client.get("/configuration").text  # the removed group is back


def test_the_guide_questions_values_that_cannot_be_meant(client):
    """dpd BETWEEN 30 AND 1 can never hold: refused. A product the data does not hold: asked
    again with "add anyway", the typed value kept; ticked, it is added."""
    base = {"csrf": _csrf(client), "target": "0:1", "source": "bank_sync_service.loans"}
    reversed_ = client.post("/draft/condition", data=base | {
        "field": "dpd", "operator": "BETWEEN", "low": "30", "high": "1"})  # fmt: skip
    assert reversed_.status_code == 422 and "can never hold" in reversed_.text
    unseen = base | {"field": "product_type", "operator": "=", "value": "VIP"}
    asked = client.post("/draft/condition", data=unseen)
    assert asked.status_code == 422 and "no row has product_type = &#39;VIP&#39;" in asked.text
    assert 'name="confirm"' in asked.text and 'value="VIP"' in asked.text
    before = _draft_doc(client)["groups"][0]["campaigns"][1]["conditions"]
    assert all(c.get("field_value") != "VIP" for c in before)  # not added without a yes
    added = client.post("/draft/condition", data=unseen | {"confirm": "1"})
    assert added.status_code == 200 and 'id="added"' in added.text
    conditions = _draft_doc(client)["groups"][0]["campaigns"][1]["conditions"]
    assert conditions[-1]["field_value"] == "VIP"
