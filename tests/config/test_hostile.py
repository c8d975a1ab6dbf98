"""Hostile and broken configuration files: each reproduction is a one-line ConfigError, and a
file at the limits validates, applies and runs (valid ⇒ applies ⇒ compiles ⇒ runs)."""

from __future__ import annotations

import pytest

from sqlcompiler import api
from sqlcompiler import run as runner
from sqlcompiler.config import files
from sqlcompiler.errors import ConfigError
from tests.cli.test_cli import sqlc
from tests.scenario import Scenario, cond


def _doc(condition=None, *, group="G", campaign="C", priority=1) -> dict:
    return {
        "custom_fields": [{"field_name": "risk", "data_type": "number"}],
        "groups": [{"name": group, "campaigns": [
            {"name": campaign, "priority": priority,
             "conditions": [condition] if condition else []},
        ]}],
    }  # fmt: skip


def _messages(exc: ConfigError) -> str:
    return "\n".join(f"{loc}: {msg}" for loc, msg in exc.problems)


def test_duplicate_keys_are_an_error_not_last_one_wins():
    text = "groups:\n  - name: G\n    campaigns: []\ncustom_fields: []\ngroups: []\n"
    with pytest.raises(ConfigError) as info:
        files.parse(text, "c.yaml")
    assert "c.yaml:5:1" in _messages(info.value)
    assert "duplicate key 'groups' (first at line 1)" in _messages(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('groups: [{name: "G\\u0000x", campaigns: []}]', "NUL or control characters"),
        (
            'groups: [{name: "G\\ud800", campaigns: []}]',
            "unable to parse raw data as a unicode string",
        ),
        ("groups: [{name: " + "x" * 256 + ", campaigns: []}]", "at most 255 characters"),
        (
            "groups: [{name: G, campaigns: [{name: C, priority: 2147483648}]}]",
            "less than or equal to 2147483647",
        ),
        ("[" * 2000 + "]" * 2000, ""),
    ],
)
def test_what_the_tables_cannot_hold_is_refused_when_read(text, message):
    with pytest.raises(ConfigError) as info:
        files.parse(text, "c.yaml")
    assert message in _messages(info.value)


def test_non_utf8_file_is_one_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("groups: [{name: Trần, campaigns: []}]".encode("utf-16"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        files.load(path)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (cond("l", "dpd", ">", "1e999999999"), "out of range"),
        (cond("f", "risk", ">", "1e-999"), "out of range"),
        (cond("l", "dpd", "IN", ["1", "2e400"]), "out of range"),
        (cond("l", "dpd", "=", "1" * 101), "more than 100 significant digits"),
        (cond("c", "segment", "=", "MA\x00SS"), "NUL character"),
        (cond("c", "segment", "LIKE", "MA\x07%"), "control character(s) U+0007"),
    ],
)
def test_values_the_sql_cannot_carry_are_refused_by_validate(db, condition, message):
    with pytest.raises(ConfigError) as info:
        api.validate_config(db, files.ConfigFile.model_validate(_doc(condition)))
    assert message in _messages(info.value)


def test_a_file_at_the_limits_validates_applies_and_runs(db, dsn):
    Scenario().customer("C1", segment="MASS\tVIP").loan("C1", "L1", dpd=5).load(db)
    doc = _doc(
        cond("l", "dpd", "<", "1e300"),
        group="G" * 255,
        campaign="Chiến dịch " + "x" * 244,
        priority=2**31 - 1,
    )
    doc["groups"][0]["campaigns"].append(
        {
            "name": "tab",
            "priority": -(2**31),
            "conditions": [cond("c", "segment", "=", "MASS\tVIP")],
        }
    )
    cfg = files.ConfigFile.model_validate(doc)
    api.validate_config(db, cfg)
    api.apply_config(db, cfg)
    res = runner.run(dsn)
    assert res.status == "succeeded" and res.assigned == 1


def test_cli_prints_one_line_for_a_duplicate_key(tmp_path, dsn):
    path = tmp_path / "dup.yaml"
    path.write_text("groups: []\ngroups: []\n", encoding="utf-8")
    res = sqlc("config", "validate", str(path), dsn=dsn)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith("Error: ") and "duplicate key 'groups'" in res.stderr
