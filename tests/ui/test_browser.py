"""The manager's story in a real browser: Debian's chromium driven by Playwright.

Screenshots go to docs/ui/ (docs/ui.md shows them), so a reader sees what a user sees.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest
import uvicorn
import yaml

from sqlcompiler import run as runner
from sqlcompiler.ui import AuthSettings, create_app
from tests.conftest import _free_port
from tests.run.test_preview import V1, _scenario

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# screenshots go to a scratch folder; `make screenshots` points this at docs/ui to refresh the
# pictures the docs show (a test run leaves the tracked files alone)
SHOTS = Path(os.environ.get("SQLCOMPILER_SCREENSHOTS") or tempfile.mkdtemp(prefix="sqlc-shots-"))


@pytest.fixture
def server(db, dsn):
    _scenario(db)
    port = _free_port()
    config = uvicorn.Config(create_app(dsn, AuthSettings()), host="127.0.0.1", port=port,
                            log_level="warning")  # fmt: skip
    srv = uvicorn.Server(config)
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the workbench did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "chromium is missing: .ci/run installs it with apt"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1200, "height": 900})
        yield pg
        browser.close()


def test_manager_story(server, page, db, dsn):
    SHOTS.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server + "/")
    assert page.locator("text=Gọi gấp").first.is_visible()
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)

    _submit(page, "text=Configuration")
    assert page.locator("td", has_text="Nhắc nhở").first.is_visible()
    page.screenshot(path=str(SHOTS / "configuration.png"), full_page=True)

    # a draft with a wrong-typed value: the message names its place; fix it; preview; apply
    _submit(page, "text=Draft & preview")
    draft = {"groups": [V1["groups"][0] | {"campaigns": [
        V1["groups"][0]["campaigns"][0] | {"conditions": [
            {"data_source": "bank_sync_service.loans", "field_name": "dpd", "operator": ">", "field_value": "bốn mươi"}]},
        V1["groups"][0]["campaigns"][1],
    ]}]}  # fmt: skip
    page.fill("textarea", yaml.safe_dump(draft, allow_unicode=True, sort_keys=False))
    _submit(page, "button:has-text('Check')")
    problems = page.locator("#problems")
    assert "groups[0].campaigns[0].conditions[0]" in problems.inner_text()
    page.screenshot(path=str(SHOTS / "draft-problem.png"), full_page=True)
    fixed = page.input_value("textarea").replace("bốn mươi", "40")
    page.fill("textarea", fixed)
    _submit(page, "button:has-text('Preview')")
    page.wait_for_selector("#preview", timeout=60_000)  # the page refreshes while it computes
    preview = page.locator("#preview")
    assert "+1 from Nhắc nhở" in preview.inner_text()  # C1 (dpd 45) moves up
    assert "VIP" in preview.inner_text()  # removed group: its customers leave
    page.screenshot(path=str(SHOTS / "preview.png"), full_page=True)
    _submit(page, "button:has-text('Apply')")
    assert "applied" in page.locator("#message").inner_text()

    # the guided editor: a new group and campaign, three conditions (one value wrong first)
    page.goto(server + "/draft/condition")
    page.fill("#new-campaign input[name=group]", "Nhóm ưu tiên")
    page.fill("#new-campaign input[name=campaign]", "Ưu tiên cao")
    _submit(page, "#new-campaign button")
    assert page.locator("#existing").is_visible()  # the new campaign is the target now
    conditions = [
        ("bank_sync_service.loans", "dpd", "IN", "45, bốn lăm", "45, 70, 90"),
        ("bank_sync_service.customers", "segment", "=", None, "MASS"),
        ("bank_sync_service.loans", "product_type", "IN", None, "CARD, AUTO"),
    ]
    for source, column, operator, wrong, right in conditions:
        page.evaluate("window.notReloaded = true")
        for name, value in (("source", source), ("field", column), ("operator", operator)):
            _choose(page, name, value)  # each choice shows the step that fits it, in place
        # no change of context on a choice (WCAG 2.1 SC 3.2.2): the same page, focus kept
        assert page.evaluate("window.notReloaded === true")
        assert page.evaluate("document.activeElement.name") == "operator"
        if column == "segment":
            assert "common values" in page.inner_text("#common")  # what the data holds
            offered = page.locator("#common-values option").evaluate_all(
                "os => os.map(o => [o.value, o.textContent])"
            )
            assert ["MASS", "MASS (5)"] in offered  # the value box offers them, with counts
            operators = page.locator("select[name=operator] option").all_inner_texts()
            assert {
                "is one of (IN)",
                "matches the pattern, upper or lower case alike (ILIKE)",
                "is between (both ends included) (BETWEEN)",
            } <= set(operators)  # in words
        if wrong:
            page.fill("#value-step input[name=value]", wrong)
            _submit(page, "button:has-text('Add to the draft')")
            assert "bốn lăm" in page.inner_text("#value-problem")  # beside the value
            page.screenshot(path=str(SHOTS / "guided-condition.png"), full_page=True)
        page.fill("#value-step input[name=value]", right)
        _submit(page, "button:has-text('Add to the draft')")
        if column == "product_type":  # AUTO is in no loan: asked again, the value kept
            assert "no row has product_type = 'AUTO'" in page.inner_text("#value-problem")
            assert page.input_value("#value-step input[name=value]") == right
            page.check("#value-step input[name=confirm]")
            _submit(page, "button:has-text('Add to the draft')")
        assert page.locator("#added").is_visible()
    assert len(page.locator("#existing .cond").all()) == 3

    # a tree (SPEC §2b): segment OR product, then a relative date, negated, then removed
    _submit(page, "button[aria-label^='group bank_sync_service.customers.segment']")
    existing = page.locator("#existing .cond").all_inner_texts()
    assert existing[1] == (
        "(bank_sync_service.customers.segment = MASS OR bank_sync_service.loans.product_type IN "
        "['CARD', 'AUTO'])"
    )
    for name, value in (("source", "bank_sync_service.loans"), ("field", "next_payment_date"),
                        ("operator", ">=")):  # fmt: skip
        _choose(page, name, value)
    assert "today - 7d" in page.inner_text("#relative-hint")
    page.fill("#value-step input[name=value]", "today - 30d")
    _submit(page, "button:has-text('Add to the draft')")
    _submit(
        page, "button[aria-label='negate bank_sync_service.loans.next_payment_date >= today - 30d']"
    )
    assert page.locator("#existing .cond").all_inner_texts()[2] == (
        "NOT (bank_sync_service.loans.next_payment_date >= today - 30d)"
    )
    page.screenshot(path=str(SHOTS / "guided-tree.png"), full_page=True)
    _submit(page, "button[aria-label^='remove NOT (']")
    assert len(page.locator("#existing .cond").all()) == 2

    # reorder: Nhắc nhở before Gọi gấp, priorities renumbered
    page.goto(server + "/draft")
    _submit(page, "button[aria-label='move Nhắc nhở up']")
    assert page.locator("#order td", has_text="Nhắc nhở").first.is_visible()
    _submit(page, "button:has-text('Preview')")
    page.wait_for_selector("#preview", timeout=60_000)
    assert "Ưu tiên cao" in page.inner_text("#preview")
    _submit(page, "button:has-text('Apply')")
    assert "applied" in page.locator("#message").inner_text()
    # the configuration page shows the applied tree as one line
    page.goto(server + "/configuration")
    assert page.locator(".cond.tree").first.inner_text() == (
        "loan.dpd IN (45, 70, 90) AND (customer.segment = 'MASS' OR loan.product_type IN "
        "('CARD', 'AUTO'))"
    )
    page.screenshot(path=str(SHOTS / "configuration-tree.png"), full_page=True)

    # the nightly run, then the overview shows the new counts
    runner.run(dsn, max_drop=100)
    page.goto(server + "/")
    main = page.inner_text("main")
    assert "Ưu tiên cao" in main and "Chăm sóc" not in main  # the chart follows the new run

    # runs: the list, one run by campaign name, and what changed between the two runs
    page.goto(server + "/runs")
    page.screenshot(path=str(SHOTS / "runs.png"), full_page=True)
    first, second = sorted(int(x) for x in page.locator("table a").all_inner_texts())[-2:]
    _submit(page, f"table a:text-is('{second}')")
    assert "Ưu tiên cao" in page.inner_text("main")
    page.goto(server + "/runs")
    page.fill("input[name=a]", str(first))
    page.fill("input[name=b]", str(second))
    _submit(page, "button:has-text('Compare')")
    page.wait_for_selector("#moves", timeout=60_000)  # a job: the page refreshes until done
    assert "entered" in page.inner_text("#moves") and "left" in page.inner_text("#moves")
    page.screenshot(path=str(SHOTS / "runs-diff.png"), full_page=True)

    page.goto(server + "/customers?cif=C1")
    assert "Assigned to" in page.inner_text("main")
    assert "ANY" in page.inner_text("main")  # the tree of 'Ưu tiên cao', verdict per loan
    page.screenshot(path=str(SHOTS / "customer.png"), full_page=True)
    page.goto(server + "/history")
    page.screenshot(path=str(SHOTS / "history.png"), full_page=True)

    # custom fields: register one, upload values with a bad line, see the reject report
    page.goto(server + "/custom-fields")
    page.fill("input[name=name]", "điểm_rủi_ro")
    page.select_option("select[name=data_type]", value="number")
    _submit(page, "button:has-text('Register')")
    page.set_input_files("input[name=file]", files=[{
        "name": "diem.csv", "mimeType": "text/csv",
        "buffer": "account_number,điểm_rủi_ro\nL0,80\nL1,cao\nL7,5\n".encode()}])  # fmt: skip
    _submit(page, "button:has-text('Upload')")
    assert "Loaded 1 line(s)" in page.inner_text("#upload-result")
    assert "cao" in page.inner_text("#rejected") and "L7" in page.inner_text("#rejected")
    page.screenshot(path=str(SHOTS / "custom-fields.png"), full_page=True)
    # everything the pages loaded came from the workbench itself (no CDN)
    assert requests and all(u.startswith(server) for u in requests)


SECRETS = {"minh": ("viewer", "mật-khẩu-của-minh"), "lan": ("editor", "mật-khẩu-của-lan"),
           "chi": ("approver", "mật-khẩu-của-chi")}  # fmt: skip


@pytest.fixture
def token_server(db, dsn, monkeypatch, tmp_path):
    from tests.ui.test_api import users_file

    users_file(tmp_path, monkeypatch, **SECRETS)
    _scenario(db)
    settings = AuthSettings.from_env("token", "127.0.0.1", require_approval=True)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(dsn, settings), host="127.0.0.1", port=port,
                                        log_level="warning"))  # fmt: skip
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    while not srv.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


def _login(page, server: str, name: str, secret: str | None = None) -> None:
    page.goto(server + "/")
    page.fill("input[name=name]", name)
    page.fill("input[name=secret]", secret or SECRETS[name][1])
    _submit(page, "button[value=login]")  # the same button in every language


def test_viewer_is_refused_and_four_eyes_in_the_browser(token_server, page):
    _login(page, token_server, "chi", SECRETS["lan"][1])  # lan poses as the approver: refused
    assert "wrong name or secret" in page.inner_text("main")
    _login(page, token_server, "minh")  # a viewer
    page.goto(token_server + "/draft")
    assert page.locator("button:has-text('Apply')").count() == 0
    assert page.locator("button:has-text('Submit for approval')").count() == 0
    refused = page.request.post(
        token_server + "/draft", form={"document": "groups: []", "action": "submit"}
    )
    assert refused.status == 403
    assert "mật-khẩu" not in page.content()
    _submit(page, "button:has-text('Log out')")
    _login(page, token_server, "lan")  # an editor submits; she cannot approve her own draft
    page.goto(token_server + "/draft")
    page.fill(
        "textarea", page.input_value("textarea").replace("field_value: 60", "field_value: 50")
    )
    _submit(page, "button:has-text('Submit for approval')")
    assert "submitted for approval" in page.inner_text("#message")
    page.goto(token_server + "/approvals")
    assert "your own draft" in page.inner_text("main")
    assert page.locator("button:has-text('Approve')").count() == 0
    _submit(page, "button:has-text('Log out')")
    _login(page, token_server, "chi")  # the approver sees the change and sends it back
    page.goto(token_server + "/approvals")
    assert "when " in page.inner_text(".touched")  # the touched campaign's conditions
    _submit(page, "button:has-text('Preview its effect')")  # the submitted snapshot's effect
    page.wait_for_selector("#preview", timeout=60_000)  # the page refreshes while it computes
    assert "Preview over" in page.inner_text("#preview")
    page.screenshot(path=str(SHOTS / "approvals.png"), full_page=True)
    _no_serious_violation(page)
    page.fill("textarea[name=comment]", "ngưỡng 50 quá thấp, giữ 55")
    _submit(page, "button:has-text('Send back')")
    assert "Nothing is waiting" in page.inner_text("main")
    _submit(page, "button:has-text('Log out')")
    _login(page, token_server, "lan")  # she reads why, changes it, submits again
    page.goto(token_server + "/draft")
    assert "chi sent this draft back: ngưỡng 50 quá thấp, giữ 55" in page.inner_text("#returned")
    page.fill(
        "textarea", page.input_value("textarea").replace("field_value: 50", "field_value: 55")
    )
    _submit(page, "button:has-text('Submit for approval')")
    _submit(page, "button:has-text('Log out')")
    _login(page, token_server, "chi")  # the approver applies the new submission
    page.goto(token_server + "/approvals")
    _submit(page, "button:has-text('Approve and apply')")
    assert "lan, approved by chi" in page.inner_text("main")
    assert "It takes effect at the next run" in page.inner_text("#applied")


def _submit(page, selector: str) -> None:
    """Click a link or a form's button and wait for the page it loads: every button of the
    workbench submits a form, and a check that reads the page before the answer arrives reads
    the old page (a race the loaded CI machine lost)."""
    with page.expect_navigation(timeout=60_000):
        page.click(selector)


def _choose(page, name: str, value: str) -> None:
    """Pick ``value`` in the step form's select ``name``; the page updates in place and keeps
    the choice in its address (so a reload or a shared link shows the same step)."""
    page.select_option(f"select[name={name}]", value=value)
    page.wait_for_function(
        "([n, v]) => new URLSearchParams(location.search).get(n) === v", arg=[name, value]
    )


def _no_serious_violation(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    bad = [f"{v['id']}: {v['help']}" for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], page.url


PAGES = ["/", "/configuration", "/draft", "/draft/condition?target=0:1&source=bank_sync_service.loans&field=dpd&operator=%3E",
         "/history", "/runs", "/runs/1", "/customers?cif=C1", "/custom-fields", "/blocks", "/login"]  # fmt: skip


def test_no_serious_accessibility_violation(server, page):
    """axe-core (the copy axe-playwright-python ships) on every page: no serious or critical
    violation. The workbench's own CSP would refuse axe's script, so it runs through the
    browser's devtools channel (page.evaluate), which the page's policy does not govern."""
    for path in PAGES:
        page.goto(server + path)
        _no_serious_violation(page)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: no sideways page scroll
    for path in PAGES:
        page.goto(server + path)
        _no_serious_violation(page)
        wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"{path} scrolls sideways by {wide}px at 390px"
