"""The manager's story in Vietnamese, in Chromium with a Vietnamese browser (issue 31): a new
campaign built step by step with a range and a relative date, a wrong range refused before it is
added, submitted, a second user sees the change and its preview and sends it back with a
comment, the editor fixes and resubmits, approval, confirmation, the Overview's pending marker,
the run, the counts. Every page checked with axe at 1200 px and 390 px.

The story counts the user's actions and the pages the browser loads while building the
campaign, for the issue's before/after comparison (printed; `pytest -s` shows it).
"""

from __future__ import annotations

from sqlcompiler import run as runner
from tests.ui.test_browser import (  # noqa: F401  (fixtures)
    CHROMIUM,
    SECRETS,
    SHOTS,
    _choose,
    _no_serious_violation,
    _submit,
    token_server,
)

LOG_OUT = "form[action='/logout'] button"


class Counted:
    """The page, counting what the user does (fill, choose, click, tick) and each page load."""

    def __init__(self, page):
        self.page, self.actions, self.loads = page, 0, 0
        page.on("load", self._loaded)

    def _loaded(self, _page) -> None:
        self.loads += 1

    def fill(self, selector: str, value: str) -> None:
        self.actions += 1
        self.page.fill(selector, value)

    def select(self, selector: str, value: str) -> None:
        self.actions += 1
        self.page.select_option(selector, value=value)

    def choose(self, name: str, value: str) -> None:
        self.actions += 1
        _choose(self.page, name, value)

    def submit(self, selector: str) -> None:
        self.actions += 1
        _submit(self.page, selector)


def _login(page, server: str, name: str) -> None:
    page.goto(server + "/")
    assert page.locator("html").get_attribute("lang") == "vi"
    page.fill("input[name=name]", name)
    page.fill("input[name=secret]", SECRETS[name][1])
    _submit(page, "button[value=login]")


def test_manager_story_in_vietnamese(token_server, db, dsn):  # noqa: F811 (the fixture)
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "chromium is missing: .ci/run installs it with apt"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(locale="vi-VN", viewport={"width": 1200, "height": 900})
        page = context.new_page()
        _story(page, token_server, dsn)
        browser.close()


def _story(page, server: str, dsn: str) -> None:
    _login(page, server, "lan")  # an editor
    assert page.inner_text("h1") == "Tổng quan"
    _no_serious_violation(page)

    # the campaign, built step by step: counted from the first page to the last addition
    user = Counted(page)
    page.goto(server + "/configuration")
    user.submit("a:has-text('Chiến dịch mới')")  # the builder, from the configuration
    user.fill("#new-campaign input[name=group]", "Nhóm trễ hạn")
    user.fill("#new-campaign input[name=campaign]", "Hứa trả bị lỡ")
    user.submit("#new-campaign button")
    for name, value in (("source", "bank_sync_service.loans"), ("field", "dpd"),
                        ("operator", "BETWEEN")):  # fmt: skip
        user.choose(name, value)
    user.fill("#value-step input[name=low]", "30")
    user.fill("#value-step input[name=high]", "1")
    user.submit("button[value=add]")  # refused before it is added, in Vietnamese
    assert "không bao giờ đúng" in page.inner_text("#value-problem")
    page.screenshot(path=str(SHOTS / "vi-guided-problem.png"), full_page=True)
    user.fill("#value-step input[name=low]", "1")
    user.fill("#value-step input[name=high]", "30")
    user.submit("button[value=add]")
    assert "Đã thêm vào bản nháp" in page.inner_text("#added")
    for name, value in (("source", "bank_sync_service.loans"), ("field", "next_payment_date"),
                        ("operator", ">=")):  # fmt: skip
        user.choose(name, value)
    user.fill("#value-step input[name=value]", "today - 30d")
    user.submit("button[value=add]")
    user.submit("button[aria-label='phủ định bank_sync_service.loans.next_payment_date >= "
                "today - 30d']")  # fmt: skip
    assert page.locator("#existing .cond").all_inner_texts() == [
        "bank_sync_service.loans.dpd BETWEEN [1, 30]",
        "NOT (bank_sync_service.loans.next_payment_date >= today - 30d)",
    ]
    user.select("#new-rule select[name=party]", "customer")  # its phones: the customer's mobiles
    user.select("#new-rule select[name=contact]", "mobile")
    user.submit("#new-rule button")
    print(f"\nbuilding the campaign: {user.actions} actions, {user.loads} page loads")
    page.screenshot(path=str(SHOTS / "vi-guided-tree.png"), full_page=True)
    _no_serious_violation(page)

    # submitted; the approver sees the change and its preview, and sends it back
    page.goto(server + "/draft")
    _submit(page, "button[value=submit]")
    assert "đã gửi phê duyệt" in page.inner_text("#message")
    _submit(page, LOG_OUT)
    _login(page, server, "chi")
    page.goto(server + "/approvals")
    assert "Hứa trả bị lỡ" in page.inner_text("main")
    page.click("details.yaml-diff summary")  # the change as YAML too
    assert page.locator(".yaml-diff span.ok", has_text="Hứa trả bị lỡ").count() == 1
    _submit(page, "button[value=preview]")
    page.wait_for_selector("#preview", timeout=60_000)  # the page refreshes while it computes
    assert "Xem trước trên 5 khách hàng" in page.inner_text("#preview")
    page.screenshot(path=str(SHOTS / "vi-approvals.png"), full_page=True)
    _no_serious_violation(page)
    page.fill("textarea[name=comment]", "dpd 1–30 quá rộng, dùng 1–15")
    _submit(page, "button[value=return]")
    assert "Không có gì đang chờ." in page.inner_text("main")
    _submit(page, LOG_OUT)

    # the editor reads why, fixes it, submits again; the approver applies it
    _login(page, server, "lan")
    page.goto(server + "/draft")
    assert "chi đã trả lại bản nháp này: dpd 1–30 quá rộng, dùng 1–15" in page.inner_text(
        "#returned"
    )
    document = page.input_value("textarea")
    assert document.count("- 30\n") == 1  # the range's upper bound, as YAML writes it
    page.fill("textarea", document.replace("- 30\n", "- 15\n"))
    _submit(page, "button[value=submit]")
    _submit(page, LOG_OUT)
    _login(page, server, "chi")
    page.goto(server + "/approvals")
    _submit(page, "button[value=approve]")
    assert "Đã áp dụng thành phiên bản" in page.inner_text("#applied")
    assert "lan, approved by chi" in page.inner_text("main")  # the history records both names
    page.goto(server + "/")
    assert "Cấu hình đã thay đổi" in page.inner_text("#pending")  # until the next run
    assert (
        page.locator("tr.pending", has_text="Hứa trả bị lỡ")
        .inner_text()
        .endswith("mới: chờ lần chạy đầu tiên")
    )
    page.screenshot(path=str(SHOTS / "vi-overview-pending.png"), full_page=True)

    # the night's run: the marker goes, the last run and the counts are shown
    runner.run(dsn, max_drop=100)
    page.goto(server + "/")
    assert page.locator("#pending").count() == 0 and page.locator("tr.pending").count() == 0
    assert "thành công" in page.inner_text("#last-run")
    assert "Phân bổ theo chiến dịch" in page.inner_text("main")
    page.goto(server + "/configuration")
    row = page.locator("tr", has_text="Hứa trả bị lỡ").inner_text()
    assert "loan.dpd BETWEEN 1 AND 15 AND NOT (loan.next_payment_date >=" in row
    assert "1: số điện thoại di động của chính khách hàng" in row  # in words

    # every page at a phone's width in Vietnamese: no serious violation, no sideways scroll
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", "/configuration", "/draft", "/draft/condition", "/history", "/runs",
                 "/runs/1", "/customers?cif=C1", "/custom-fields", "/approvals", "/blocks"):  # fmt: skip
        page.goto(server + path)
        _no_serious_violation(page)
        wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"{path} scrolls sideways by {wide}px at 390px in Vietnamese"
