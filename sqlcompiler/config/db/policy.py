"""The contact policy's row (campaign_engine.contact_policy, none or one): read and written
as part of the configuration, by load_from_db and config apply."""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from ..policy import ContactPolicySpec, LimitSpec, WindowSpec

SELECT = (
    "SELECT timezone, window_start, window_end, limits, after_connected_days, "
    "reference_min_days FROM campaign_engine.contact_policy"
)

COLUMNS = "timezone, window_start, window_end, limits, after_connected_days, reference_min_days"


def load(conn: psycopg.Connection) -> ContactPolicySpec | None:
    row = conn.execute(SELECT).fetchone()
    if row is None:
        return None
    tz, start, end, limits, after, reference = row
    return ContactPolicySpec(
        timezone=tz,
        calling_window=WindowSpec(start=start.strftime("%H:%M"), end=end.strftime("%H:%M")),
        limits=[LimitSpec(**x) for x in limits],
        after_connected_days=after,
        reference_min_days=reference,
    )


def save(conn: psycopg.Connection, spec: ContactPolicySpec | None) -> None:
    if spec is None:
        conn.execute("DELETE FROM campaign_engine.contact_policy")
        return
    conn.execute(
        "INSERT INTO campaign_engine.contact_policy (singleton, timezone, window_start, "
        "window_end, limits, after_connected_days, reference_min_days) "
        "VALUES (true, %s, %s, %s, %s, %s, %s) ON CONFLICT (singleton) DO UPDATE SET "
        "timezone = EXCLUDED.timezone, window_start = EXCLUDED.window_start, "
        "window_end = EXCLUDED.window_end, limits = EXCLUDED.limits, "
        "after_connected_days = EXCLUDED.after_connected_days, "
        "reference_min_days = EXCLUDED.reference_min_days",
        (
            spec.timezone, spec.calling_window.start, spec.calling_window.end,
            Jsonb([x.model_dump() for x in spec.limits]),
            spec.after_connected_days, spec.reference_min_days,
        ),
    )  # fmt: skip
