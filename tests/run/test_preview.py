"""config plan --preview: the draft's counts without publishing, equal to apply + run."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from sqlcompiler import api
from sqlcompiler import run as runner
from sqlcompiler.config.model import ConfigFile
from sqlcompiler.errors import RunLocked
from sqlcompiler.run.preview import group_by_name
from tests.cli.test_cli import sqlc
from tests.compiler.test_differential import _load, configurations, datasets
from tests.scenario import Scenario, cond, configure, results

EXAMPLES = int(os.environ.get("SQLCOMPILER_PREVIEW_EXAMPLES", "40"))

RULE = [
    {"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "all"}]}
]
V1 = {"groups": [
    {"name": "Nhóm trễ hạn", "campaigns": [
        {"name": "Gọi gấp", "priority": 1, "conditions": [cond("l", "dpd", ">", 60)], "contact_rules": RULE},
        {"name": "Nhắc nhở", "priority": 2, "conditions": [cond("l", "dpd", ">", 0)], "contact_rules": RULE},
    ]},
    {"name": "VIP", "campaigns": [{"name": "Chăm sóc", "priority": 1, "conditions": [cond("c", "is_vip", "=", True)]}]},
]}  # fmt: skip


def _scenario(db):
    s = Scenario()
    for i, (dpd, vip) in enumerate([(90, False), (45, True), (10, False), (0, False), (70, True)]):
        s.customer(f"C{i}", name=f"Trần Văn {i}", is_vip=vip).loan(
            f"C{i}", f"L{i}", dpd=dpd, product_type="CARD"
        )
        s.phone(f"C{i}", i + 1, "mobile", f"+849{i}", primary=True)
    s.load(db)
    configure(db, V1)
    runner.run(db.info.dsn)


def _state(db):
    return (
        db.execute("SELECT count(*), max(run_id) FROM campaign_results.runs").fetchone(),
        db.execute(
            "SELECT fingerprint FROM campaign_engine.config_history ORDER BY id DESC LIMIT 1"
        ).fetchone(),
        results(db),
        db.execute("SELECT count(*) FROM campaign_results.assignments_staging").fetchone(),
    )


@pytest.mark.parametrize("jobs", [1, 2])
def test_movements_by_name_and_nothing_published(db, dsn, jobs):
    _scenario(db)
    before = _state(db)
    draft = {"groups": [
        {"name": "Nhóm trễ hạn", "campaigns": [
            # 60 -> 40: C1 (45) moves up from Nhắc nhở
            {"name": "Gọi gấp", "priority": 1, "conditions": [cond("l", "dpd", ">", 40)], "contact_rules": RULE},
            # 0 -> 20: C2 (10) leaves
            {"name": "Nhắc nhở", "priority": 2, "conditions": [cond("l", "dpd", ">", 20)], "contact_rules": RULE},
            # new: C3 (0) enters
            {"name": "Theo dõi", "priority": 3, "conditions": [cond("l", "dpd", "=", 0)]},
        ]},
    ]}  # VIP group removed: its 2 customers leave  # fmt: skip
    p = api.preview(dsn, ConfigFile.model_validate(draft), show_customers=5, jobs=jobs)
    assert _state(db) == before  # nothing applied, published, recorded or left in staging
    by = group_by_name(p)
    late = by["Nhóm trễ hạn"]
    assert (late["Gọi gấp"].assigned, late["Gọi gấp"].moved_in) == (3, {"Nhắc nhở": 1})
    assert late["Nhắc nhở"].moved_out == {"Gọi gấp": 1} and late["Nhắc nhở"].left == 1
    assert late["Nhắc nhở"].samples == {"left": ["C2"], "moved out to Gọi gấp": ["C1"]}
    assert (late["Theo dõi"].entered, late["Theo dõi"].assigned) == (1, 1)
    assert by["VIP"]["Chăm sóc"].left == 2 and by["VIP"]["Chăm sóc"].removed
    assert late["Gọi gấp"].contacts == 3
    assert [g.name for g in p.groups] == ["Nhóm trễ hạn", "VIP"]
    assert p.groups[0].unassigned == 5 - 4 and p.changed
    shape = p.to_json()
    assert set(shape) >= {"fingerprint", "groups", "warnings"}
    assert set(shape["groups"][0]) >= {"name", "unassigned", "campaigns"}
    assert set(shape["groups"][0]["campaigns"][0]) >= {
        "name", "priority", "assigned", "contacts", "entered", "left", "moved_in", "moved_out"
    }  # fmt: skip
    # the same numbers after a real apply + run
    configure(db, draft)
    res = runner.run(dsn, max_drop=100)
    assert res.unassigned == 1 + 2


def test_each_warning_has_its_place(db, dsn):
    _scenario(db)
    draft = {"groups": [{"name": "Nhóm trễ hạn", "campaigns": [
        {"name": "Thẻ tín dụng", "priority": 1, "conditions": [cond("l", "product_type", "=", "CREDIT_CARD")],
         "contact_rules": RULE},
        {"name": "Không ai", "priority": 2, "conditions": [cond("l", "dpd", ">", 1000)], "contact_rules": RULE},
        {"name": "Tất cả", "priority": 3},
        {"name": "Không thắng", "priority": 4, "contact_rules": RULE},
    ]}]}  # fmt: skip
    p = api.preview(dsn, ConfigFile.model_validate(draft))
    text = "\n".join(f"{w.where}: {w.message}" for w in p.warnings)
    assert (
        "groups[0].campaigns[0] (group 'Nhóm trễ hạn', campaign 'Thẻ tín dụng'): would catch 0 customers"
        in text
    )
    assert (
        "groups[0].campaigns[0].conditions[0] (group 'Nhóm trễ hạn', campaign 'Thẻ tín dụng', condition 0): "
        "the value 'CREDIT_CARD' never occurs in loan.product_type; common values: 'CARD' (5)"
    ) in text
    assert "no loan satisfies loan.dpd > 1000" in text
    assert "can never win: campaign 'Tất cả' (priority 3) comes first" in text  # lint
    assert "has no contact rules" in text


def test_what_is_not_the_drafts_doing_is_named(db, dsn):
    """Changes applied since the current results were made are listed (part of the movements
    are theirs), and a warning the live configuration has too is marked standing."""
    _scenario(db)
    nobody = {"name": "Không ai", "priority": 3, "conditions": [cond("l", "dpd", ">", 1000)]}
    late = V1["groups"][0]
    configure(db, {"groups": [late | {"campaigns": [*late["campaigns"], nobody]}]})  # no run
    other = {"name": "Cũng không ai", "priority": 4, "conditions": [cond("l", "dpd", "<", -5)]}
    draft = {"groups": [late | {"campaigns": [*late["campaigns"], nobody, other]}]}
    p = api.preview(dsn, ConfigFile.model_validate(draft))
    assert [str(c) for c in p.since_results] == [
        "- group 'VIP': 1 campaigns",
        "+ campaign 'Không ai' in group 'Nhóm trễ hạn': priority 3",
    ]
    standing = {w.message: w.standing for w in p.warnings if "satisfies" in w.message}
    assert standing == {"no loan satisfies loan.dpd > 1000": True,  # the live one has it
                        "no loan satisfies loan.dpd < -5": False}  # fmt: skip
    assert p.to_json()["since_results"] == [str(c) for c in p.since_results]
    configure(db, draft)
    runner.run(dsn, max_drop=100)
    assert api.preview(dsn, ConfigFile.model_validate(draft)).since_results == []


def test_cli_formats_and_detailed_exit_codes(db, dsn, tmp_path):
    import json

    import yaml

    _scenario(db)
    same = tmp_path / "same.yaml"
    same.write_text(yaml.safe_dump(V1, allow_unicode=True))
    out = sqlc("config", "plan", str(same), "--preview", "--detailed-exitcode", dsn=dsn)
    assert out.returncode == 0, out.stderr
    assert "Gọi gấp" in out.stdout and "configuration: no changes" in out.stdout
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({"groups": V1["groups"][:1]}, allow_unicode=True))
    out = sqlc(
        "config",
        "plan",
        str(changed),
        "--preview",
        "--format",
        "json",
        "--detailed-exitcode",
        dsn=dsn,
    )
    assert out.returncode == 2, out.stderr
    shape = json.loads(out.stdout)
    vip = [g for g in shape["groups"] if g["name"] == "VIP"][0]
    assert vip["campaigns"][0]["left"] == 2
    assert sqlc("config", "plan", str(changed), "--detailed-exitcode", dsn=dsn).returncode == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups: [{name: G, campaigns: [{name: C, priority: x}]}]")
    out = sqlc("config", "plan", str(bad), "--preview", "--detailed-exitcode", dsn=dsn)
    assert out.returncode == 1 and out.stderr.startswith("Error: ")


def test_preview_refuses_while_a_run_holds_the_lock(db, dsn):
    import psycopg
    import pytest

    _scenario(db)
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (runner.RUN_LOCK,))
        with pytest.raises(RunLocked):
            api.preview(dsn, ConfigFile.model_validate(V1))


@pytest.mark.property
@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)  # fmt: skip
@given(first=configurations(), second=configurations(), data=datasets())
def test_preview_equals_apply_then_run(db, dsn, first, second, data):
    _load(db, data)
    configure(db, first)
    runner.run(dsn, force=True)
    draft = ConfigFile.model_validate(second)
    p = api.preview(dsn, draft)
    previous = {(a[0], a[1]): a[2] for a in results(db)[0]}
    configure(db, second)
    res = runner.run(dsn, force=True)
    by = group_by_name(p)
    for g in res.groups:
        for cid, name in g.campaign_names.items():
            assert by[g.name][name].assigned == g.campaigns.get(cid, 0), (g.name, name)
    assert sum(c.contacts for c in _draft_campaigns(p)) == res.contacts
    assert sum(c.left for g in p.groups for c in g.campaigns) == res.unassigned
    current = {(a[0], a[1]): a[2] for a in results(db)[0]}
    entered = sum(1 for k in current if k not in previous)
    moved = sum(1 for k in current if k in previous and current[k] != previous[k])
    assert sum(c.entered for c in _draft_campaigns(p)) == entered
    assert sum(sum(c.moved_in.values()) for c in _draft_campaigns(p)) == moved


def _draft_campaigns(p):
    return [c for g in p.groups for c in g.campaigns if not c.removed]
