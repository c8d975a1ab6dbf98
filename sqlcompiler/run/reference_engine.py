"""The reference engine of a run: the reference evaluator in Python, customer by customer,
its rows COPYed into the staging tables the compiled statements would fill (debugging)."""

from __future__ import annotations

import datetime as dt
import time

import psycopg

from .. import reference
from ..config.model import Configuration
from ..config.policy import ContactPolicy
from ..progress import Progress
from ..reference import policy as reference_policy
from .record import GroupResult, count_results
from .staging import record_unassignments


def too_many(population: int, limit: int) -> str:
    return (
        f"the reference engine evaluates customers one by one in Python and is meant for small "
        f"populations; {population:,} customers is above the limit of {limit:,} "
        "(--cifs to narrow it, or raise --reference-limit / SQLCOMPILER_REFERENCE_LIMIT)"
    )


def write(
    work: psycopg.Connection, config: Configuration, cifs: list[str] | None, schema: str,
    progress: Progress, run_id: int, groups: list[GroupResult], as_of: dt.date,
) -> None:  # fmt: skip
    """Evaluate in Python, COPY the results into the staging tables."""
    t0 = time.monotonic()
    data = reference.load_data(work, cifs, schema)
    found = reference.evaluate(config, data, cifs)
    if config.policy is not None:
        _policy(work, config.policy, as_of, run_id, found, groups)
    with work.cursor().copy(
        "COPY campaign_results.assignments_staging (run_id, cif, campaign_group_id, campaign_id, account_numbers) FROM STDIN"
    ) as cp:
        for a in found:
            cp.write_row((run_id, a.cif, a.campaign_group_id, a.campaign_id, a.account_numbers))
    with work.cursor().copy(
        "COPY campaign_results.contact_rows_staging (run_id, cif, campaign_group_id, campaign_id, position, "
        "rule_priority, party_type, party_cif, relationship_type, contact_type, phone_number, is_primary, "
        "is_verified, phone_id) FROM STDIN"
    ) as cp:
        for a in found:
            for k in a.contacts:
                cp.write_row((
                    run_id, a.cif, a.campaign_group_id, a.campaign_id, k["position"], k["rule_priority"],
                    k["party_type"], k["party_cif"], k["relationship_type"], k["contact_type"],
                    k["phone_number"], k["is_primary"], k["is_verified"], k["phone_id"],
                ))  # fmt: skip
    seconds = time.monotonic() - t0
    progress(f"  reference engine: {len(found):,} assignments in {seconds:.2f}s")


def _policy(work, policy: ContactPolicy, as_of, run_id: int, found, groups) -> None:
    """SPEC §6 by the reference statement of it: contacts removed from the assignments
    before they are written, and recorded with their reason."""
    removed = reference_policy.apply_all(work, policy, as_of, found)
    by_id = {g.group_id: g for g in groups}
    with work.cursor().copy(
        "COPY campaign_results.suppressed_contacts_staging (run_id, cif, campaign_group_id, "
        "campaign_id, rule_priority, party_type, party_cif, contact_type, phone_number, reason) "
        "FROM STDIN"
    ) as cp:
        for k in removed:
            cp.write_row((run_id, k["cif"], k["campaign_group_id"], k["campaign_id"],
                          k["rule_priority"], k["party_type"], k["party_cif"], k["contact_type"],
                          k["phone_number"], k["reason"]))  # fmt: skip
            g = by_id[k["campaign_group_id"]]
            g.suppressed[k["reason"]] = g.suppressed.get(k["reason"], 0) + 1


def counts(work: psycopg.Connection, groups: list[GroupResult], population: bool) -> int:
    """Count what the reference engine wrote and who left a group (the compiled statements
    return these themselves); the assignments ended because their group was removed."""
    count_results(work, groups)
    left = record_unassignments(work, population=population)
    for g in groups:
        g.left = left.pop(g.group_id, 0)
    return sum(left.values())
