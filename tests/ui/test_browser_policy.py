"""The contact policy in the workbench, in Chromium: a manager blocks a customer's number on
the Blocks page and sees it not called in the draft's preview and on the customer page."""

from __future__ import annotations

from tests.run.test_preview import V1
from tests.scenario import configure
from tests.ui.test_browser import (  # noqa: F401  (fixtures)
    SHOTS,
    _no_serious_violation,
    _submit,
    page,
    server,
)

POLICY = {"timezone": "Asia/Ho_Chi_Minh", "calling_window": {"start": "07:00", "end": "21:00"},
          "limits": [{"per": "party", "days": 7, "attempts": 7}]}  # fmt: skip


def test_a_block_added_in_the_workbench_is_seen_in_the_preview_and_customer_page(
    server,  # noqa: F811 (the fixture)
    page,  # noqa: F811 (the fixture)
    db,
):
    configure(db, V1 | {"contact_policy": POLICY})  # the policy is on; C1's phone is +8491
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(server + "/blocks")
    page.select_option("select[name=scope]", "phone")
    page.fill("#new-block input[name=value]", "+8491")
    page.fill("#new-block input[name=reason]", "do_not_call")
    page.fill("#new-block input[name=note]", "khách yêu cầu ngừng gọi, phiếu 4521")
    _submit(page, "#new-block button")
    row = page.locator("#blocks tr", has_text="+8491").inner_text()
    assert "do_not_call" in row and "khách yêu cầu" in row and "active" in row
    page.screenshot(path=str(SHOTS / "blocks.png"), full_page=True)
    _no_serious_violation(page)

    page.goto(server + "/draft")
    _submit(page, "button[value=preview]")
    page.wait_for_selector("#preview", timeout=60_000)  # the page refreshes while it computes
    late = page.locator("#preview tr", has_text="Nhắc nhở").inner_text()
    assert "1 contacts not called: blocked: do_not_call 1" in late
    page.screenshot(path=str(SHOTS / "preview-suppressed.png"), full_page=True)

    page.goto(server + "/customers?cif=C1")
    assert "+8491 (mobile, C1) not called: blocked: do_not_call" in page.inner_text("main")
    page.goto(server + "/blocks")
    _submit(page, "button[aria-label='remove block 1']")
    assert "removed by" in page.locator("#blocks tr", has_text="+8491").inner_text()
