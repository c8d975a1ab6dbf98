"""The guided editor's live count: about how many customers a campaign catches, from a sample
evaluated by the reference evaluator; exact on a small table, close on a big one."""

from __future__ import annotations

from sqlcompiler.api.editing import Estimate, estimate_campaign
from sqlcompiler.config.model import ConfigFile
from tests.run.test_preview import V1, _scenario
from tests.scenario import Scenario, cond, configure
from tests.ui.test_api import LOCAL, _csrf


def test_exact_on_a_small_table(db):
    _scenario(db)  # dpd 90, 45, 10, 0, 70
    draft = ConfigFile.model_validate(V1)
    reach = estimate_campaign(db, draft, "Nhóm trễ hạn", "Nhắc nhở")
    # dpd > 0 holds for four; 'Gọi gấp' (dpd > 60) catches two of them first
    assert reach == Estimate(matching=4, assigned=2, sample=5, population=5)
    assert estimate_campaign(db, draft, "Nhóm trễ hạn", "không có") is None
    assert estimate_campaign(db, draft, "VIP", "Chăm sóc").matching == 2  # is_vip


def test_close_on_a_big_table(db):
    s = Scenario()
    for i in range(6000):  # one in three past due: an estimate near 2,000
        s.customer(f"K{i:05}", name=f"Nguyễn Thị {i}").loan(
            f"K{i:05}", f"A{i:05}", dpd=30 * (i % 3 == 0)
        )
    s.load(db)
    db.execute("ANALYZE bank_sync_service.customers")
    late = {"name": "Trễ", "priority": 1, "conditions": [cond("l", "dpd", ">", 0)]}
    draft = ConfigFile.model_validate({"groups": [{"name": "G", "campaigns": [late]}]})
    configure(db, {"groups": [{"name": "G", "campaigns": [late]}]})
    reach = estimate_campaign(db, draft, "G", "Trễ", sample=600)
    assert reach.population == 6000 and 150 <= reach.sample <= 1200  # a sample, not the table
    assert 1500 <= reach.matching <= 2500 and reach.assigned == reach.matching


def test_the_guide_shows_it(db, dsn):
    from fastapi.testclient import TestClient

    from sqlcompiler.ui import AuthSettings, create_app

    _scenario(db)
    client = TestClient(create_app(dsn, AuthSettings()), base_url=LOCAL)
    _csrf(client)  # the draft starts from the live configuration
    page = client.get("/draft/condition", params={"target": "0:1"}).text
    assert 'id="reach"' in page
    assert "would catch <strong>4</strong> customers, <strong>2</strong> of them" in page


def test_not_recounted_while_a_condition_is_being_chosen(db, dsn):
    """Choosing a new condition's source, field and operator does not change the campaign:
    the sample is not evaluated again for each choice; adding the condition counts again."""
    from fastapi.testclient import TestClient

    from sqlcompiler.ui import AuthSettings, create_app

    _scenario(db)
    client = TestClient(create_app(dsn, AuthSettings()), base_url=LOCAL)
    token = _csrf(client)
    choosing = {
        "target": "0:1",
        "source": "bank_sync_service.loans",
        "field": "dpd",
        "operator": ">",
    }
    assert 'id="reach"' not in client.get("/draft/condition", params=choosing).text
    added = client.post("/draft/condition", data={"csrf": token, **choosing, "value": "40"})
    assert added.status_code == 200
    # dpd > 0 and > 40: 90, 45, 70; Gọi gấp (dpd > 60) catches 90 and 70 first
    assert "would catch <strong>3</strong> customers, <strong>1</strong> of them" in added.text
