"""Who leaves a group: per-group unassignments, removed groups, list runs (SPEC §4)."""

from __future__ import annotations

import pytest

from sqlcompiler import api
from sqlcompiler.config.model import ConfigFile
from sqlcompiler.run import orchestrate as runner
from sqlcompiler.run.staging import removed_groups
from tests.run.scenarios import TWO_GROUPS, setup_two_groups
from tests.scenario import cond, configure, results


@pytest.mark.parametrize("jobs", [1, 2])
def test_unassignments_record_who_left_each_group(db, dsn, jobs):
    setup_two_groups(db)
    first = runner.run(dsn, jobs=jobs)
    db.execute("UPDATE bank_sync_service.loans SET dpd = 0 WHERE cif IN ('C2', 'C3')")
    second = runner.run(dsn, jobs=jobs)
    left = db.execute(
        "SELECT cif, campaign_group_id, previous_run_id FROM campaign_results.unassignments "
        "WHERE run_id = %s ORDER BY cif",
        (second.run_id,),
    ).fetchall()
    g1 = db.execute("SELECT id FROM campaign_engine.campaign_groups WHERE name = 'G1'").fetchone()[
        0
    ]
    assert left == [("C2", g1, first.run_id), ("C3", g1, first.run_id)]
    assert second.unassigned == 2 and [g.left for g in second.groups] == [2, 0]
    # the counts each group statement returns are the rows it wrote
    stored = db.execute(
        "SELECT campaign_group_id, campaign_id, count(*) FROM campaign_results.assignments "
        "WHERE run_id = %s GROUP BY 1, 2",
        (second.run_id,),
    ).fetchall()
    assert sorted(stored) == sorted(
        (g.group_id, c, n) for g in second.groups for c, n in g.campaigns.items()
    )
    contacts = dict(
        db.execute(
            "SELECT campaign_group_id, count(*) FROM campaign_results.contacts "
            "WHERE run_id = %s GROUP BY 1",
            (second.run_id,),
        ).fetchall()
    )
    assert contacts and {g.group_id: g.contacts for g in second.groups if g.contacts} == contacts
    # a list run: only its cifs; a removed group: all its customers
    db.execute("UPDATE bank_sync_service.loans SET dpd = 0 WHERE cif = 'C4'")
    listed = runner.run(dsn, cifs=["C4", "C5"], jobs=jobs)
    assert listed.unassigned == 1
    configure(db, {"groups": [TWO_GROUPS["groups"][0]]})
    third = runner.run(dsn, jobs=jobs, max_drop=100)
    assert third.left_removed_groups == 6 and third.unassigned == 6
    stored = db.execute(
        "SELECT unassignments FROM campaign_results.runs WHERE run_id = %s", (third.run_id,)
    ).fetchone()[0]
    assert stored == 6


def test_removed_groups_come_from_the_run_records(db, dsn):
    """The groups whose assignments may still be current are read from the run records, so a
    night without removed groups does not scan the results; a record that does not list its
    groups (written before counts existed) makes every unconfigured group be checked."""
    setup_two_groups(db)
    first = runner.run(dsn)
    g1, g2 = (g.group_id for g in first.groups)
    assert removed_groups(db, [g1, g2]) == []
    assert removed_groups(db, [g1]) == [g2]
    db.execute("UPDATE campaign_results.runs SET counts = '{}' WHERE run_id = %s", (first.run_id,))
    assert removed_groups(db, [g1, g2]) is None
    configure(db, {"groups": [TWO_GROUPS["groups"][0]]})
    second = runner.run(dsn, max_drop=100)
    assert second.left_removed_groups == 6  # found without the record's list
    assert removed_groups(db, [g1]) == []  # G2's assignments are no longer current
    third = runner.run(dsn)
    assert third.left_removed_groups == 0 and third.unassigned == 0


def test_list_run_supersedes_only_its_customers_including_lost_assignments(db, dsn):
    setup_two_groups(db)
    runner.run(dsn)
    db.execute("UPDATE bank_sync_service.loans SET dpd = 0 WHERE cif IN ('C3', 'C4')")
    runner.run(dsn, cifs=["C3"])
    current = {(a[0], a[1]) for a in results(db)[0]}
    assert ("C3", "G1") not in current  # removed: C3 no longer matches
    assert ("C4", "G1") in current  # not in the list: unchanged
    assert ("C3", "G2") in current


def test_a_rollback_keeps_ids_so_nobody_leaves_a_group_they_stay_in(db, dsn):
    """Issue 31: a group removed and put back (a rollback between two runs) and a campaign
    removed and re-added keep their ids, so the next run records no one as leaving and the
    preview of the rollback shows no movement."""
    setup_two_groups(db)
    first = runner.run(dsn)
    before = _ids(db)
    g1, g2 = TWO_GROUPS["groups"]
    configure(db, {"groups": [g1]})  # G2 removed, no run in between
    preview = api.preview(dsn, ConfigFile.model_validate(TWO_GROUPS))  # the rollback's effect
    assert [c for g in preview.groups for c in g.campaigns if c.entered or c.left] == []
    configure(db, TWO_GROUPS)  # the rollback
    other = {"name": "other", "priority": 2, "conditions": [cond("l", "dpd", ">", 90)]}
    configure(db, {"groups": [g1 | {"campaigns": [other]}, g2]})  # 'late' removed
    configure(db, TWO_GROUPS)  # and added back
    assert _ids(db) == before
    second = runner.run(dsn)
    assert second.unassigned == 0 and second.left_removed_groups == 0
    assert sorted((g.group_id, g.campaigns) for g in second.groups) == sorted(
        (g.group_id, g.campaigns) for g in first.groups
    )
    # a new name gets a new id; so does a name whose old id is somebody else's now
    configure(db, {"groups": [g1]})
    db.execute(
        "UPDATE campaign_engine.retired_ids SET id = %s WHERE kind = 'group'", (before[0][1],)
    )
    configure(db, {"groups": [g1, g2, g2 | {"name": "G3"}]})
    now = {name: gid for name, gid, _c, _i in _ids(db)}
    assert len(set(now.values())) == 3 and now["G2"] != before[1][1]


def _ids(db) -> list[tuple]:
    return db.execute(
        "SELECT g.name, g.id, c.name, c.id FROM campaign_engine.campaign_groups g "
        "JOIN campaign_engine.campaigns c ON c.campaign_group_id = g.id ORDER BY 1, 3"
    ).fetchall()
