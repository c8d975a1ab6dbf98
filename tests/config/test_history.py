"""config history / diff / rollback: every apply is a version that can be applied again."""

from __future__ import annotations

import yaml

from sqlcompiler import api
from tests.cli.test_cli import sqlc
from tests.run.test_preview import V1
from tests.scenario import configure


def test_history_diff_and_rollback_restores_the_fingerprint(db, dsn):
    first = configure(db, V1)
    second = configure(db, {"groups": V1["groups"][:1]})  # VIP removed
    versions = api.config_history(dsn)
    assert [v.version for v in versions] == [second.history_id, first.history_id]
    assert versions[0].summary.startswith("+0 ~0 -")
    changes = [str(c) for c in api.config_diff(dsn, first.history_id, second.history_id)]
    assert any(c.startswith("- group 'VIP'") for c in changes), changes
    out = sqlc("config", "rollback", str(first.history_id), dsn=dsn)
    assert out.returncode == 0, out.stderr
    assert "+ group 'VIP'" in out.stdout
    newest = api.config_history(dsn)[0]
    assert newest.fingerprint == first.fingerprint  # exactly the earlier configuration
    assert newest.source == f"rollback to version {first.history_id}"
    again = sqlc("config", "rollback", str(first.history_id), dsn=dsn)
    assert "no changes" in again.stdout
    listed = sqlc("config", "history", dsn=dsn)
    assert listed.returncode == 0 and first.fingerprint[:12] in listed.stdout
    missing = sqlc("config", "rollback", "999", dsn=dsn)
    assert missing.returncode == 1 and "version 999 does not exist" in missing.stderr
    db.execute(
        "UPDATE campaign_engine.config_history SET document = NULL WHERE id = %s",
        (second.history_id,),
    )
    old = sqlc("config", "diff", str(first.history_id), str(second.history_id), dsn=dsn)
    assert old.returncode == 1 and "only its fingerprint and changes are known" in old.stderr


def test_yaml_diff_of_a_draft_against_the_live_configuration(db, dsn):
    """What an approver reads as text: only the lines that change, whatever the draft's own
    layout (both sides in the form `config export` writes)."""
    configure(db, V1)
    same = yaml.safe_dump(V1, allow_unicode=True, default_flow_style=True)  # another layout
    assert api.yaml_diff(db, api.parse_document(same, "draft")) == []
    smaller = api.parse_document(yaml.safe_dump({"groups": V1["groups"][:1]}), "draft")
    diff = api.yaml_diff(db, smaller)
    assert diff[0].startswith("@@") and not any(line.startswith("+") for line in diff)
    assert any(line.startswith("-") and "VIP" in line for line in diff)
    assert any(line.startswith("-") and "Chăm sóc" in line for line in diff)
