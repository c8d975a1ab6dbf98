from __future__ import annotations

from sqlcompiler import run as runner
from sqlcompiler.infra import metrics
from tests.scenario import Scenario, configure


def test_run_metrics_written_to_textfile(db, dsn, tmp_path, monkeypatch):
    Scenario().customer("C1").customer("C2").load(db)
    configure(db, {"groups": [{"name": "G", "campaigns": [
        {"name": "Khách VIP", "priority": 1, "conditions": [
            {"data_source": "bank_sync_service.customers", "field_name": "is_vip", "operator": "=", "field_value": True}]},
        {"name": "all", "priority": 2},
    ]}]})  # fmt: skip
    res = runner.run(dsn)
    path = tmp_path / "sqlcompiler.prom"
    monkeypatch.setenv("SQLCOMPILER_METRICS_TEXTFILE", str(path))
    assert metrics.export_one_shot() == str(path)
    text = path.read_text()
    assert "sqlcompiler_run_duration_seconds" in text and "sqlcompiler_processing_rate" in text
    ids = {name: cid for cid, name in res.groups[0].campaign_names.items()}
    # by name, and a campaign that caught nobody is there as 0
    assert (
        f'sqlcompiler_assigned_customers{{campaign="all",campaign_id="{ids["all"]}",group="G"}} 2.0'
        in text
    )
    vip = f'sqlcompiler_assigned_customers{{campaign="Khách VIP",campaign_id="{ids["Khách VIP"]}",group="G"}} 0.0'
    assert vip in text
    assert "sqlcompiler_last_run_held 0.0" in text
    assert 'sqlcompiler_unassigned_customers{group="G"} 0.0' in text


def test_metrics_endpoint_exposes_counts(db, dsn):
    import urllib.request

    from tests.conftest import _free_port

    port = _free_port()
    metrics.serve(port)

    def scrape() -> dict[str, float]:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    Scenario().customer("C1").customer("C2").customer("C3").load(db)
    configure(db, {"groups": [{"name": "G", "campaigns": [{"name": "all", "priority": 1}]}]})
    before = scrape()
    res = runner.run(dsn)
    after = scrape()
    key = "sqlcompiler_customers_processed_total"
    assert after[key] - before.get(key, 0) == 3
    ok = 'sqlcompiler_runs_total{status="succeeded"}'
    assert after[ok] - before.get(ok, 0) == 1
    (cid,) = res.groups[0].campaigns
    assert (
        after[f'sqlcompiler_assigned_customers{{campaign="all",campaign_id="{cid}",group="G"}}']
        == 3
    )
    for name in (
        "sqlcompiler_run_duration_seconds",
        "sqlcompiler_processing_rate",
        "sqlcompiler_relay_lag_rows",
    ):
        assert name in after


def test_the_failed_run_alert_reads_the_textfile(tmp_path):
    """The check used by the failure tests says no on a night without failures."""
    from tests.alert_rules import fires

    ok = tmp_path / "ok.prom"
    ok.write_text(
        '# TYPE sqlcompiler_runs_total counter\nsqlcompiler_runs_total{status="succeeded"} 1.0\n'
    )
    bad = tmp_path / "bad.prom"
    bad.write_text(ok.read_text() + 'sqlcompiler_runs_total{status="failed"} 1.0\n')
    assert not fires("SqlcompilerRunFailed", ok)
    assert fires("SqlcompilerRunFailed", bad)
    held = tmp_path / "held.prom"
    held.write_text("# TYPE sqlcompiler_last_run_held gauge\nsqlcompiler_last_run_held 1.0\n")
    assert fires("SqlcompilerRunHeld", held) and not fires("SqlcompilerRunHeld", ok)
