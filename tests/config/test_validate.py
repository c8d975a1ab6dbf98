from __future__ import annotations

import datetime as dt

import pytest

from sqlcompiler import api
from sqlcompiler.config import files
from sqlcompiler.config.model import ConfigFile
from sqlcompiler.errors import ConfigError
from tests.paths import REPO
from tests.scenario import cond


def _doc(*conditions, custom=None, rules=None):
    return {
        "custom_fields": custom or [{"field_name": "risk", "data_type": "number"}],
        "groups": [{"name": "G", "campaigns": [
            {"name": "C", "priority": 1, "conditions": list(conditions), "contact_rules": rules or []}
        ]}],
    }  # fmt: skip


def _problems(db, doc) -> list[str]:
    with pytest.raises(ConfigError) as info:
        api.validate_config(db, ConfigFile.model_validate(doc))
    return [f"{loc}: {msg}" for loc, msg in info.value.problems]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (cond("l", "dpd", ">", "abc"), "'abc' is not a number"),
        (
            cond("l", "dpd", "LIKE", "1%"),
            "operator LIKE does not apply to number field dpd; use =, !=, >, >=, <, <=, IN, NOT IN, BETWEEN, IS NULL, IS NOT NULL",
        ),
        (cond("c", "is_vip", ">", True), "operator > does not apply to boolean field is_vip"),
        (cond("l", "dpdd", "=", 1), "has no column 'dpdd'; did you mean 'dpd'?"),
        (cond("l", "dpd; DROP TABLE x", "=", 1), "has no column 'dpd; DROP TABLE x'"),
        (cond("f", "riks", "=", 1), "custom field 'riks' is not registered"),
        (
            {"data_source": "loans", "field_name": "dpd", "operator": "=", "field_value": 1},
            "unknown data_source 'loans'",
        ),
        (cond("l", "dpd", "~", 1), "unknown operator '~'"),
        (cond("l", "next_payment_date", "=", "2024-13-01"), "is not a real day"),
        (cond("l", "next_payment_date", "=", "01/02/2024"), "write it as YYYY-MM-DD"),
        (cond("c", "is_vip", "=", "yes"), "use true or false"),
        (cond("l", "dpd", "IN", "30"), "needs a JSON array"),
        (cond("l", "dpd", "IN", []), "needs a non-empty array"),
        (cond("l", "dpd", "BETWEEN", [1, 2, 3]), "BETWEEN needs an array of two bounds"),
        (cond("l", "dpd", "IN", [1, "x"]), "'x' is not a number"),
        (cond("c", "segment", "IN", ["A", 3]), "3 is not a string; quote it"),
        (cond("l", "dpd", "="), "operator = needs a field_value"),
        (cond("c", "segment", "LIKE", "abc\\"), "must not end with a lone backslash"),
    ],
)
def test_each_condition_rule(db, condition, message):
    problems = _problems(db, _doc(condition))
    assert len(problems) == 1
    assert problems[0].startswith(
        "groups[0].campaigns[0].conditions[0] (group 'G', campaign 'C', condition 0)"
    )
    assert message in problems[0]


def test_accepted_values(db):
    cfg = api.validate_config(db, ConfigFile.model_validate(_doc(
        cond("l", "dpd", "IN", ["30", 60, 90.5]),
        cond("l", "dpd", " not   in ", [1]),
        cond("l", "dpd", "<>", 3),
        cond("c", "is_vip", "=", "TRUE"),
        cond("c", "segment", "ilike", "%mass%"),
        cond("f", "risk", "is null"),
        cond("c", "created_at", ">=", "2024-01-01"),  # timestamp column compared as a date
    )))  # fmt: skip
    ops = [c.op for c in cfg.groups[0].campaigns[0].conditions]
    assert ops == ["IN", "NOT IN", "!=", "=", "ILIKE", "IS NULL", ">="]
    assert [str(v) for v in cfg.groups[0].campaigns[0].conditions[0].values] == ["30", "60", "90.5"]


def test_structure_rules_are_all_reported_at_once(db):
    doc = {
        "custom_fields": [{"field_name": "x", "data_type": "money"}, {"field_name": "y", "data_type": "string"},
                          {"field_name": "y", "data_type": "string"}],
        "groups": [
            {"name": "G", "campaigns": [
                {"name": "A", "priority": 1, "contact_rules": [
                    {"rule_priority": 1, "outputs": [{"related_party_type": "neighbour", "contact_type": "mobile"}]},
                    {"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "fax"}]},
                ]},
                {"name": "A", "priority": 1},
            ]},
            {"name": "G", "campaigns": []},
        ],
    }  # fmt: skip
    text = "\n".join(_problems(db, doc))
    for expected in [
        "data_type 'money' is not one of string, number, date, boolean",
        "custom field 'y' is registered twice",
        "related_party_type 'neighbour' is not one of",
        "contact_type 'fax' is not one of mobile, home, work, all",
        "rule_priority 1 is used twice",
        "campaign name 'A' is used twice",
        "priority 1 is also used by campaign 'A'",
        "group name 'G' is used twice",
    ]:
        assert expected in text


def test_file_errors_have_locations(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("groups:\n  - name: G\n    campaigns:\n      - name: A\n        priorty: 1\n")
    with pytest.raises(ConfigError) as info:
        files.load(p)
    text = str(info.value)
    assert "groups[0].campaigns[0].priorty: unknown key 'priorty'" in text
    assert "groups[0].campaigns[0].priority: required key 'priority' is missing" in text
    p.write_text("groups: [\n")
    with pytest.raises(ConfigError, match=r"c.yaml:\d+:\d+: not valid YAML"):
        files.load(p)


def test_yaml_dates_stay_text(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(
        "groups:\n- name: G\n  campaigns:\n  - name: A\n    priority: 1\n    conditions:\n"
        "    - {data_source: bank_sync_service.loans, field_name: next_payment_date, operator: '=', field_value: 2026-01-02}\n"
    )
    assert files.load(p).groups[0].campaigns[0].conditions[0].field_value == "2026-01-02"


def test_gate_rejects_bad_rows_written_by_another_tool(db, dsn):
    db.execute("INSERT INTO campaign_engine.campaign_groups (id, name) VALUES (1, 'Early')")
    db.execute(
        "INSERT INTO campaign_engine.campaigns (id, campaign_group_id, name, priority) VALUES (5, 1, 'P1', 1)"
    )
    db.execute(
        "INSERT INTO campaign_engine.base_conditions (id, campaign_id, data_source, field_name, operator, field_value) "
        "VALUES (42, 5, 'bank_sync_service.loans', 'dpd', '>', 'abc')"
    )
    with pytest.raises(ConfigError) as info:
        api.compile_statements(dsn)
    msg = str(info.value)
    assert "group 'Early' id 1" in msg and "campaign 'P1' id 5" in msg and "condition id 42" in msg
    assert "'abc' is not a number" in msg


def test_published_json_schema_is_current():
    import json

    from sqlcompiler.config.model import json_schema

    published = REPO / "docs" / "config.schema.json"
    assert json.loads(published.read_text()) == json_schema(), (
        "run: sqlcompiler config schema > docs/config.schema.json"
    )
    assert json_schema()["$defs"]["OutputSpec"]["properties"]["contact_type"]["enum"] == [
        "mobile",
        "home",
        "work",
        "all",
    ]


def _tree_doc(conditions) -> dict:
    return {"groups": [{"name": "G", "campaigns": [
        {"name": "C", "priority": 1, "conditions": conditions, "contact_rules": []}
    ]}]}  # fmt: skip


def _deep(levels: int) -> dict:
    node: dict = cond("l", "dpd", ">", 1)
    for i in range(levels):
        node = {"all" if i % 2 else "any": [node, cond("l", "dpd", "<", 5)]}
    return node


# (conditions, where the problem is, what it says) — written by hand, SPEC §2a and §2b
TREE_PROBLEMS = [
    ({"any": []}, "conditions.any (group 'G', campaign 'C')", "an empty 'any' has no meaning"),
    ([cond("l", "dpd", ">", 1), {"all": []}], "conditions[1].all (group 'G', campaign 'C')",
     "an empty 'all' has no meaning"),
    ({"any": [cond("l", "dpd", ">", 1), {"not": []}]}, "conditions.any[1].not",
     "an empty 'not' has no meaning"),
    (_deep(9), "(group 'G', campaign 'C')", "deeper than 8 levels"),
    ({"any": [cond("l", "dpd", "=", i) for i in range(201)]}, "conditions (group 'G', campaign 'C')",
     "the condition tree has 201 conditions; at most 200"),
    ({"not": cond("c", "segment", "=", "today - 7d")}, "conditions.not (group 'G', campaign 'C', condition 0)",
     "'today - 7d' is a date relative to the run, which only a date field can compare with; this field is a string"),
    ([cond("l", "dpd", ">", "today")], "conditions[0]", "this field is a number"),
    ({"any": [cond("l", "next_payment_date", ">", "today - 7")]}, "conditions.any[0]",
     "'today - 7' is not a date; write it as YYYY-MM-DD or relative to the run: today, today - 7d, "
     "today + 2w, today - 1m"),
    ([cond("l", "next_payment_date", ">", "yesterday")], "conditions[0]", "'yesterday' is not a date"),
    ([cond("l", "next_payment_date", ">", "7d")], "conditions[0]", "'7d' is not a date"),
    ([cond("l", "next_payment_date", "IN", ["today", "today - 1y"])], "conditions[0]",
     "'today - 1y' is not a date"),
    ([cond("l", "next_payment_date", ">", "today - 99999m")], "conditions[0]",
     "is outside the years 1-9999"),
]  # fmt: skip


@pytest.mark.parametrize(("conditions", "where", "message"), TREE_PROBLEMS)
def test_tree_and_relative_date_problems_name_their_place(db, conditions, where, message):
    problems = _problems(db, _tree_doc(conditions))
    assert len(problems) == 1, problems
    assert problems[0].startswith("groups[0].campaigns[0].")
    assert where in problems[0] and message in problems[0], problems[0]


def test_a_node_with_two_keys_is_a_file_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "groups:\n- name: G\n  campaigns:\n  - name: C\n    priority: 1\n    conditions:\n"
        "      any:\n      - {all: [], any: []}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        files.load(path)
    assert str(info.value) == (
        f"{path}: groups[0].campaigns[0].conditions.any[0]: a condition node has exactly one key, "
        "all, any or not (got all, any); e.g. {any: [<condition>, <condition>]}"
    )


def test_relative_dates_resolve_against_the_as_of_date(db):
    """SPEC §2a by hand: units, signs, spaces, case, month ends clamped as PostgreSQL does."""
    doc = _tree_doc([
        cond("l", "next_payment_date", "IN", ["today", "TODAY-7D", "today + 2w", "today - 1m",
                                              "today+1m", "today - 13m", "  today  -  0d "]),
    ])  # fmt: skip
    config = api.validate_config(db, ConfigFile.model_validate(doc))
    # validate_config resolves against today; resolve again against a fixed day
    from sqlcompiler.config.validate import validate
    from sqlcompiler.source import catalog

    typed = validate(ConfigFile.model_validate(doc), catalog(db), dt.date(2024, 3, 31))
    leaf = typed.groups[0].campaigns[0].conditions[0]
    assert leaf.values == (
        dt.date(2024, 3, 31), dt.date(2024, 3, 24), dt.date(2024, 4, 14), dt.date(2024, 2, 29),
        dt.date(2024, 4, 30), dt.date(2023, 2, 28), dt.date(2024, 3, 31),
    )  # fmt: skip
    assert leaf.relative == (
        "today", "today - 7d", "today + 2w", "today - 1m", "today + 1m", "today - 13m",
        "today - 0d",
    )  # fmt: skip
    assert config.as_of is not None


def test_timezone_decides_today(monkeypatch):
    from sqlcompiler.config import dates

    monkeypatch.setenv("SQLCOMPILER_TIMEZONE", "Asia/Ho_Chi_Minh")
    assert dates.today() == dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date()
    monkeypatch.setenv("SQLCOMPILER_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="is not a time zone; use an IANA name"):
        dates.today()
