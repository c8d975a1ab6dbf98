from __future__ import annotations

from sqlcompiler import metrics, runner
from tests.scenario import Scenario, configure


def test_run_metrics_written_to_textfile(db, dsn, tmp_path, monkeypatch):
    Scenario().customer("C1").customer("C2").load(db)
    configure(db, {"groups": [{"name": "G", "campaigns": [{"name": "all", "priority": 1}]}]})
    res = runner.run(dsn)
    path = tmp_path / "sqlcompiler.prom"
    monkeypatch.setenv("SQLCOMPILER_METRICS_TEXTFILE", str(path))
    assert metrics.export_one_shot() == str(path)
    text = path.read_text()
    assert "sqlcompiler_run_duration_seconds" in text and "sqlcompiler_processing_rate" in text
    campaign = res.groups[0].campaigns
    (cid,) = campaign
    assert f'sqlcompiler_assigned_customers{{campaign="{cid}",group="G"}} 2.0' in text
