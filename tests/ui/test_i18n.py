"""The workbench in Vietnamese: the catalogue covers every marked text, the language comes from
the user's choice or the browser, and every page renders in it (FastAPI's TestClient against a
real database; the browser story in Vietnamese is in test_browser.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sqlcompiler.ui import AuthSettings, catalogue, create_app, i18n
from tests.run.test_preview import _scenario
from tests.ui.test_api import LOCAL, _csrf

PAGES = {
    "/": "Tổng quan", "/configuration": "Các chiến dịch theo thứ tự ưu tiên",
    "/draft": "Bản nháp của bạn được lưu trên máy chủ", "/history": "Lịch sử cấu hình",
    "/runs": "thành công", "/runs/1": "Lần chạy 1", "/customers?cif=C0": "Được phân bổ vào",
    "/custom-fields": "Đăng ký một trường", "/runs-diff?a=1&b=1": "So sánh",
    "/blocks": "Số điện thoại và người không được gọi",
    "/draft/condition?target=0:0&source=bank_sync_service.loans&field=dpd&operator=%3E":
        "5. Giá trị của",
}  # fmt: skip


def test_the_catalogue_translates_every_marked_text():
    """`make messages` leaves nothing to translate, no stale entry, and each translation keeps
    its message's placeholders (Babel's python-format check)."""
    catalog = catalogue.merged("vi")
    assert catalogue.untranslated(catalog) == []
    assert {m.id for m in catalog if m.id} == {m.id for m in catalogue.extracted() if m.id}
    assert [(m.id, e) for m, errors in catalog.check() for e in errors] == []


@pytest.mark.parametrize(
    "cookie, accept, default, chosen",
    [
        (None, "vi-VN,vi;q=0.9,en-US;q=0.8", "en", "vi"),
        (None, "en-US,en;q=0.9,vi;q=0.8", "vi", "en"),
        (None, "fr-FR, vi;q=0.5, en;q=0.4", "en", "vi"),  # the best we have
        (None, "fr-FR, de;q=0.5", "vi", "vi"),  # nothing we have: the workbench's default
        (None, "vi;q=0, en", "vi", "en"),  # q=0 means "not this one"
        (None, "vi;q=bad", "en", "en"),
        (None, None, "en", "en"),
        ("en", "vi-VN", "vi", "en"),  # the user's own choice wins
        ("xx", "vi-VN", "en", "vi"),  # a cookie we do not know is ignored
    ],
)
def test_the_language_chosen(cookie, accept, default, chosen):
    assert i18n.choose(cookie, accept, default) == chosen


@pytest.fixture
def client(db, dsn):
    _scenario(db)
    return TestClient(create_app(dsn, AuthSettings()), base_url=LOCAL)


def test_every_page_in_vietnamese_and_the_switch_back(client):
    vi = {"Accept-Language": "vi-VN,vi;q=0.9"}
    for path, text in PAGES.items():
        r = client.get(path, headers=vi)
        assert r.status_code == 200, path
        assert '<html lang="vi">' in r.text and text in r.text, path
        assert "Tổng quan</a>" in r.text and ">Overview<" not in r.text, path
    assert "Nhắc nhở" in client.get("/configuration", headers=vi).text  # names as written
    # the switch in the header: English for this user, whatever the browser asks for
    token = _csrf(client)
    switched = client.post("/language", data={"csrf": token, "to": "en", "back": "/runs?page=1"},
                           headers=vi, follow_redirects=False)  # fmt: skip
    assert switched.status_code == 303 and switched.headers["location"] == "/runs?page=1"
    assert "httponly" in switched.headers["set-cookie"].lower()
    page = client.get("/runs", headers=vi).text
    assert '<html lang="en">' in page and ">Overview<" in page
    assert 'lang="vi">Tiếng Việt</button>' in page  # and back again from here
    # a link to elsewhere is not followed; an unknown language is refused with the choices
    away = client.post("/language", data={"csrf": token, "to": "vi", "back": "//evil.example/"},
                       follow_redirects=False)  # fmt: skip
    assert away.status_code == 303 and away.headers["location"] == "/"
    unknown = client.post("/language", data={"csrf": token, "to": "fr"})
    assert unknown.status_code == 422 and "choose one of en, vi" in unknown.text
    assert client.post("/language", data={"to": "vi"}).status_code == 403  # no CSRF token


def test_messages_from_the_pages_code_and_the_default_language(db, dsn):
    """Text made by the routes (the guide's problems, the apply message) follows the language;
    `ui --language vi` serves Vietnamese to browsers that ask for neither language."""
    _scenario(db)
    client = TestClient(create_app(dsn, AuthSettings(), language="vi"), base_url=LOCAL)
    token = _csrf(client)
    assert '<html lang="vi">' in client.get("/", headers={"Accept-Language": "fr"}).text
    problem = client.post("/draft/condition", data={"csrf": token, "target": "0:0"})
    assert problem.status_code == 422
    assert "hãy chọn chiến dịch, nguồn dữ liệu, trường và toán tử trước" in problem.text
    reversed_range = client.post("/draft/condition", data={
        "csrf": token, "target": "0:0", "source": "bank_sync_service.loans", "field": "dpd",
        "operator": "BETWEEN", "low": "30", "high": "1"})  # fmt: skip
    assert "không bao giờ đúng" in reversed_range.text
    checked = client.post("/draft", data={"csrf": token, "action": "validate",
                                          "document": client.get("/api/configuration").text})  # fmt: skip
    assert "hợp lệ: không có thay đổi" in checked.text


def test_a_place_in_words_first_and_its_path_as_a_detail():
    where = "groups[0].campaigns[1].conditions[0] (group 'Nhóm, campaign X', campaign 'Gọi gấp', condition 0)"
    assert i18n.place(where) == (
        "group 'Nhóm, campaign X', campaign 'Gọi gấp', condition 0",
        "groups[0].campaigns[1].conditions[0]",
    )
    token = i18n._current.set("vi")
    try:
        assert i18n.place(where)[0] == (
            "nhóm 'Nhóm, campaign X', chiến dịch 'Gọi gấp', điều kiện 0"  # names untouched
        )
    finally:
        i18n._current.reset(token)
    assert i18n.place("custom field 'x'") == ("custom field 'x'", "")
