"""Preview: what a draft configuration would do to the current results, without publishing.

The draft is applied inside a REPEATABLE READ transaction that is rolled back at the end, and
its statements run as a full run's do (on ``jobs`` connections sharing that snapshot, writing
the staging tables, which are emptied at the end): the configuration tables, the published
results and the run records are exactly as they were. The run lock is held throughout, so no
run uses the staging tables meanwhile. The counts therefore come from the same statements a run
executes over the same data, and equal what ``config apply`` followed by ``run`` produces.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from .. import source
from ..compiler import compile_config
from ..compiler.settings import set_local_statements
from ..config import dates
from ..config.db import Change, apply, fields_without_values, load_validated, plan
from ..config.lint import lint
from ..config.model import ConfigFile, Configuration
from ..config.validate import validate
from ..infra import migrations
from ..infra.connection import connect
from ..progress import Progress, quiet
from .executor import Split, execute, split
from .lock import run_lock
from .preview_context import live_conditions, since_results, standing_messages
from .preview_warnings import Warning, data_warnings
from .record import GroupResult
from .staging import empty_staging, unconstrain_staging


@dataclass
class CampaignPreview:
    name: str
    priority: int | None
    assigned: int = 0
    contacts: int = 0
    entered: int = 0
    left: int = 0
    moved_in: dict[str, int] = field(default_factory=dict)
    moved_out: dict[str, int] = field(default_factory=dict)
    removed: bool = False  # in the current results, not in the draft
    samples: dict[str, list[str]] = field(default_factory=dict)  # movement -> sample cifs
    suppressed: dict[str, int] = field(default_factory=dict)  # reason -> contacts (SPEC §6)


@dataclass
class GroupPreview:
    name: str
    unassigned: int
    campaigns: list[CampaignPreview]
    removed: bool = False


@dataclass
class Preview:
    fingerprint: str
    changes: list[Change]
    population: int
    groups: list[GroupPreview]
    warnings: list[Warning]
    seconds: float = 0.0
    # applied since the current results were made ([]: nothing; None: not known any more):
    # movements come from these too, not only from the draft
    since_results: list[Change] | None = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Terraform's sense: the configuration or the results would change."""
        moved = any(
            c.entered or c.left or c.moved_in or c.moved_out
            for g in self.groups
            for c in g.campaigns
        )
        return bool(self.changes) or moved

    def to_json(self) -> dict[str, Any]:
        """The stable shape of ``config plan --preview --format json`` (more keys may follow)."""
        return {
            "fingerprint": self.fingerprint,
            "population": self.population,
            "changes": [str(c) for c in self.changes],
            "groups": [
                {
                    "name": g.name,
                    "unassigned": g.unassigned,
                    **({"removed": True} if g.removed else {}),
                    "campaigns": [_campaign_json(c) for c in g.campaigns],
                }
                for g in self.groups
            ],
            "warnings": [dataclasses.asdict(w) for w in self.warnings],
            "since_results": None
            if self.since_results is None
            else [str(c) for c in self.since_results],
        }


def _campaign_json(c: CampaignPreview) -> dict[str, Any]:
    out = dataclasses.asdict(c)
    for optional in ("removed", "samples", "suppressed"):  # only when they say something
        if not out[optional]:
            del out[optional]
    return out


MOVES = """
SELECT coalesce(n.campaign_group_id, o.campaign_group_id), o.campaign_id, n.campaign_id,
       count(*), (array_agg(coalesce(n.cif, o.cif) ORDER BY coalesce(n.cif, o.cif)))[1:%(n)s]
FROM campaign_results.assignments_staging n
FULL JOIN campaign_results.current_assignments o
  ON o.cif = n.cif AND o.campaign_group_id = n.campaign_group_id
WHERE o.campaign_id IS DISTINCT FROM n.campaign_id
GROUP BY 1, 2, 3
"""


def preview(
    dsn: str,
    draft: ConfigFile,
    *,
    show_customers: int = 0,
    jobs: int | None = None,
    source_schema: str = "bank_sync_service",
    progress: Progress = quiet,
    as_of: dt.date | None = None,
) -> Preview:
    """Evaluate ``draft`` over the current bank-sync data and compare with the current results.

    As a full run does, the run statement runs on ``jobs`` connections sharing one snapshot
    (they commit into the staging tables, which nobody reads while we hold the run lock, and
    which are emptied at the end whatever happens); with one job, all of it stays in one
    transaction that is rolled back.
    """
    t0 = time.monotonic()
    with connect(dsn, autocommit=True, application="sqlcompiler-preview") as meta:
        migrations.require_current(meta)
        with run_lock(meta, "preview again when it has finished"):
            catalog, _info = source.prepare_run(meta, None, progress)  # fdw: the run's snapshot
            # the run's work tables: empty and unconstrained (the next run constrains them again)
            unconstrain_staging(meta)
            empty_staging(meta)
            work = connect(dsn, application="sqlcompiler-preview")
            work.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            try:
                result = _evaluate_draft(work, meta, draft, catalog, show_customers, jobs,
                                  source_schema, progress, as_of or dates.today())  # fmt: skip
            finally:
                work.rollback()  # the draft configuration and any row written here
                work.close()
                empty_staging(meta)  # rows the group connections committed
    result.seconds = time.monotonic() - t0
    return result


def _evaluate_draft(
    work, meta, draft, catalog, show_customers, jobs, schema, progress, as_of
) -> Preview:
    typed = validate(draft, catalog, as_of)  # locations are the file's
    old = load_validated(work, catalog, as_of)
    old_names = {c.id: (g.name, c.name) for g in old.groups for c in g.campaigns}
    old_groups = {g.id: g.name for g in old.groups}
    changes = plan(work, draft)
    since = since_results(work, old.fingerprint)
    live_quiet = fields_without_values(work, old.custom_fields, schema)
    for statement in set_local_statements(False):
        work.execute(statement)
    apply(work, draft, catalog, applied_by="preview", source="preview")
    config = load_validated(work, catalog, as_of)
    progress(
        f"preview: configuration {config.fingerprint[:12]}, {len(config.groups)} groups, "
        f"as of {as_of}"
    )
    work.execute("SELECT set_config('sqlcompiler.run_id', '0', true)")
    population = work.execute(
        sql.SQL("SELECT count(*) FROM {}.customers").format(sql.Identifier(schema))
    ).fetchone()[0]
    how: Split = split(jobs, len(config.groups))
    compiled = compile_config(config, source_schema=schema, slices=how.slices)
    groups = [
        GroupResult(g.id, g.name, campaign_names={c.id: c.name for c in g.campaigns})
        for g in config.groups
    ]
    done = execute(work, compiled, groups, how, run_id=0, progress=progress)
    # (group id, campaign id) -> {reason: contacts}: SPEC §6, in the run statement as in a run
    suppressed = {(g.group_id, c): r for g in groups for c, r in g.campaign_suppressed.items()}
    reader = meta if done.committed else work  # committed rows: a connection that sees them
    contacts = dict(
        ((g, c), n)
        for g, c, n in reader.execute(
            "SELECT campaign_group_id, campaign_id, sum(cardinality(phone_ranks))::bigint FROM "
            "campaign_results.contact_lists_staging GROUP BY 1, 2"
        ).fetchall()
    )
    result = _groups(config, groups, contacts, population, old, old_names, suppressed)
    _movements(reader, result, config, old_names, old_groups, show_customers)
    warnings = _warnings(work, typed, result, schema, (old, live_quiet))
    return Preview(config.fingerprint, changes, population, result, warnings, since_results=since)


def _groups(config, groups, contacts, population, old, old_names, suppressed) -> list:
    counted = {g.group_id: g for g in groups}
    out = []
    for g in config.groups:
        res = counted[g.id]
        campaigns = [
            CampaignPreview(
                c.name,
                c.priority,
                res.campaigns.get(c.id, 0),
                contacts.get((g.id, c.id), 0),
                suppressed=suppressed.get((g.id, c.id), {}),
            )
            for c in g.campaigns
        ]
        out.append(GroupPreview(g.name, population - res.assigned, campaigns))
    drafted = {g.name for g in config.groups}
    for g in old.groups:  # groups the draft removes: their customers all leave
        if g.name not in drafted:
            out.append(
                GroupPreview(
                    g.name,
                    population,
                    [CampaignPreview(c.name, c.priority, removed=True) for c in g.campaigns],
                    removed=True,
                )  # fmt: skip
            )
    return out


def _movements(conn, result, config, old_names, old_groups, show_customers) -> None:
    """Entered, left and moved per campaign, against the current results (SPEC §4 views)."""
    new_names = {c.id: (g.name, c.name) for g in config.groups for c in g.campaigns}
    group_names = {**old_groups, **{g.id: g.name for g in config.groups}}
    by_name = {(g.name, c.name): c for g in result for c in g.campaigns}

    def campaign(group_id, campaign_id, names) -> CampaignPreview:
        gname, cname = names.get(campaign_id) or (
            group_names.get(group_id, f"group id {group_id}"),
            f"campaign id {campaign_id} (no longer configured)",
        )
        if (gname, cname) not in by_name:
            target = next((g for g in result if g.name == gname), None)
            if target is None:
                target = GroupPreview(gname, 0, [], removed=True)
                result.append(target)
            target.campaigns.append(CampaignPreview(cname, None, removed=True))
            by_name[(gname, cname)] = target.campaigns[-1]
        return by_name[(gname, cname)]

    for group_id, old_id, new_id, n, cifs in conn.execute(
        MOVES, {"n": max(show_customers, 0)}
    ).fetchall():
        sample = list(cifs or [])[:show_customers]
        if old_id is None:
            c = campaign(group_id, new_id, new_names)
            c.entered += n
            _sample(c, "entered", sample)
        elif new_id is None:
            c = campaign(group_id, old_id, old_names)
            c.left += n
            _sample(c, "left", sample)
        else:
            to = campaign(group_id, new_id, new_names)
            frm = campaign(group_id, old_id, old_names)
            frm_name = (old_names.get(old_id) or ("", frm.name))[1]
            to_name = (new_names.get(new_id) or ("", to.name))[1]
            to.moved_in[frm_name] = to.moved_in.get(frm_name, 0) + n
            frm.moved_out[to_name] = frm.moved_out.get(to_name, 0) + n
            _sample(to, f"moved in from {frm_name}", sample)
            _sample(frm, f"moved out to {to_name}", sample)


def _sample(c: CampaignPreview, key: str, cifs: list[str]) -> None:
    if cifs:
        c.samples[key] = cifs


def _warnings(conn, typed: Configuration, result, schema, live) -> list[Warning]:
    """``live``: the live configuration and its custom fields without values, whose warnings
    make the draft's same warnings standing."""
    out: list[Warning] = []
    counts = {(g.name, c.name): c for g in result for c in g.campaigns}
    for gi, g in enumerate(typed.groups):
        for ci, c in enumerate(g.campaigns):
            if counts.get((g.name, c.name)) and counts[(g.name, c.name)].assigned == 0:
                out.append(Warning(
                    f"groups[{gi}].campaigns[{ci}] (group {g.name!r}, campaign {c.name!r})",
                    "would catch 0 customers",
                ))  # fmt: skip
    out += data_warnings(conn, typed, schema, live_conditions(live[0]))
    quiet_fields = fields_without_values(conn, typed.custom_fields, schema)
    standing = standing_messages(*live)
    out += [Warning(f.location, f.message, f.message in standing)
            for f in lint(typed, quiet_fields)]  # fmt: skip
    return out


def group_by_name(p: Preview) -> dict[str, dict[str, CampaignPreview]]:
    """{group: {campaign: counts}} (tests and the workbench look campaigns up by name)."""
    out: dict[str, dict[str, CampaignPreview]] = defaultdict(dict)
    for g in p.groups:
        for c in g.campaigns:
            out[g.name][c.name] = c
    return dict(out)
