"""The configuration's contact_policy (SPEC §6): each check names its place, a file without
one keeps its fingerprint, and apply / plan / export / history carry it."""

from __future__ import annotations

import yaml

from sqlcompiler import api
from sqlcompiler.config.canonical import fingerprint
from sqlcompiler.config.model import ConfigFile
from sqlcompiler.errors import ConfigError
from tests.run.test_preview import V1
from tests.scenario import configure

POLICY = {"timezone": "Asia/Ho_Chi_Minh", "calling_window": {"start": "07:00", "end": "21:00"},
          "limits": [{"per": "party", "days": 7, "attempts": 7}, {"per": "phone", "days": 1, "attempts": 3}],
          "after_connected_days": 7}  # fmt: skip


def _problems(db, policy: dict) -> list[tuple[str, str]]:
    try:
        api.validate_config(db, ConfigFile.model_validate(V1 | {"contact_policy": policy}))
    except ConfigError as exc:
        return exc.problems
    return []


def test_each_check_names_its_place(db):
    configure(db, V1)
    assert _problems(db, POLICY) == []
    bad = POLICY | {"timezone": "Asia/Hanoi_City", "calling_window": {"start": "21:00", "end": "7:00"},
                    "limits": [{"per": "customer", "days": 0, "attempts": 0}],
                    "reference_min_days": -1}  # fmt: skip
    problems: dict[str, str] = {}
    for where, what in _problems(db, bad):
        problems[where] = problems.get(where, "") + what + "; "
    assert "is not an IANA time zone name" in problems["contact_policy.timezone"]
    assert "'7:00' is not a time: write it" in problems["contact_policy.calling_window.end"]
    assert problems["contact_policy.limits[0]"] == (
        "per 'customer': use party or phone; days 0: from 1 to 400 (attempts are kept 400 days); "
        "attempts 0: at least 1; "
    )
    assert "0 (off) to 400" in problems["contact_policy.reference_min_days"]
    late = POLICY | {"calling_window": {"start": "21:00", "end": "07:00"}}
    assert _problems(db, late) == [("contact_policy.calling_window",
                                    "start 21:00 must be before end 07:00")]  # fmt: skip
    few = POLICY | {"limits": [{"per": "phone", "days": 401, "attempts": 0}]}
    (where, what), (_, what2) = _problems(db, few)
    assert where == "contact_policy.limits[0]" and "from 1 to 400" in what and "at least 1" in what2


def test_apply_plan_export_and_the_fingerprint(db, dsn):
    without = ConfigFile.model_validate(V1)
    before = fingerprint(without)
    assert fingerprint(ConfigFile.model_validate(yaml.safe_load(yaml.safe_dump(V1)))) == before
    configure(db, V1)
    with_policy = ConfigFile.model_validate(V1 | {"contact_policy": POLICY})
    assert fingerprint(with_policy) != before
    plan = [str(c) for c in api.plan_document(dsn, with_policy)]
    assert plan == ["+ contact policy: Asia/Ho_Chi_Minh 07:00-21:00, 7 per party in 7d, "
                    "3 per phone in 1d, 7d after connected"]  # fmt: skip
    configure(db, V1 | {"contact_policy": POLICY})
    exported = yaml.safe_load(api.export_config(dsn))
    assert exported["contact_policy"] == POLICY | {"limits": POLICY["limits"]}
    assert api.plan_document(dsn, with_policy) == []  # applied: nothing left to do
    changed = POLICY | {"reference_min_days": 30}
    configure(db, V1 | {"contact_policy": changed})
    configure(db, V1)  # removed again
    history = api.config_history(dsn)
    assert history[0].fingerprint == before
    assert [str(c) for c in api.config_diff(dsn, history[2].version, history[1].version)] == [
        "~ contact policy: Asia/Ho_Chi_Minh 07:00-21:00, 7 per party in 7d, 3 per phone in 1d, "
        "7d after connected, references every 30d"
    ]
    assert [str(c) for c in api.config_diff(dsn, history[1].version, history[0].version)] == [
        "- contact policy"
    ]
