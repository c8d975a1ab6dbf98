"""The Kafka messages, built in SQL (docs/kafka.md and its JSON Schemas): assignments and
unassignments in (cif, group) order, and the run-completed control message. Assignment and
unassignment values are built with json_build_object (text, keys in the documented order),
1.7 × faster than jsonb for the relay, whose time is mostly this SQL."""

from __future__ import annotations

from psycopg import sql

from ..run.export import contacts_agg

SCHEMA = "sqlcompiler.assignment.v1"
UNASSIGNED_SCHEMA = "sqlcompiler.unassignment.v1"
COMPLETED_SCHEMA = "sqlcompiler.run_completed.v1"

_MESSAGES = """
SELECT p.cif, p.campaign_group_id,
  CASE WHEN p.unassigned THEN %(unassigned_schema)s::text ELSE %(schema)s::text END,
  COALESCE(m.value, n.value)
FROM (
  -- the next (cif, group) keys: each branch walks its (cif, campaign_group_id) index and stops
  -- at the batch size, so a batch costs the batch, not the run (a customer is never both
  -- assigned and unassigned in one group of one run)
  SELECT k.cif, k.campaign_group_id, k.unassigned FROM (
    (SELECT a.cif, a.campaign_group_id, FALSE AS unassigned FROM campaign_results.assignments a
     WHERE a.run_id = %(run)s AND (a.cif, a.campaign_group_id) > (%(cif)s, %(group)s)
     ORDER BY a.cif, a.campaign_group_id LIMIT {limit})
    UNION ALL
    (SELECT u.cif, u.campaign_group_id, TRUE FROM campaign_results.unassignments u
     WHERE u.run_id = %(run)s AND (u.cif, u.campaign_group_id) > (%(cif)s, %(group)s)
     ORDER BY u.cif, u.campaign_group_id LIMIT {limit})
  ) AS k
  ORDER BY 1, 2
  LIMIT {limit}
) AS p
-- each key's message from a lateral subquery that finds at most one row (LIMIT 1: the key is
-- unique in its run): the planner's estimate is the batch (joined on the keys it was 17 ×
-- the batch, enough to pass a stock server's JIT thresholds), and the keys' order carries
-- through to the result without a sort
LEFT JOIN LATERAL (
  SELECT json_build_object(
    'schema', %(schema)s::text,
    'message_id', a.run_id || ':' || a.campaign_group_id || ':' || a.cif,
    'run_id', a.run_id,
    'configuration_fingerprint', r.config_fingerprint,
    'request_ids', to_json(r.request_ids),
    'cif', a.cif,
    'campaign_group', json_build_object('id', a.campaign_group_id, 'name', g.name),
    'campaign', json_build_object('id', a.campaign_id, 'name', c.name),
    'account_numbers', to_json(a.account_numbers),
    'contacts', coalesce((
      SELECT {contacts}
      FROM campaign_results.contacts k
      WHERE k.run_id = %(run)s AND k.cif = a.cif AND k.campaign_group_id = a.campaign_group_id), '[]'::json)
  )::text AS value
  FROM campaign_results.assignments a
  JOIN campaign_results.runs r ON r.run_id = a.run_id
  LEFT JOIN campaign_engine.campaign_groups g ON g.id = a.campaign_group_id
  LEFT JOIN campaign_engine.campaigns c ON c.id = a.campaign_id
  WHERE NOT p.unassigned AND a.run_id = %(run)s AND a.cif = p.cif
    AND a.campaign_group_id = p.campaign_group_id
  LIMIT 1
) AS m ON TRUE
LEFT JOIN LATERAL (
  SELECT json_build_object(
    'schema', %(unassigned_schema)s::text,
    'message_id', u.run_id || ':' || u.campaign_group_id || ':' || u.cif || ':unassigned',
    'run_id', u.run_id,
    'configuration_fingerprint', r.config_fingerprint,
    'request_ids', to_json(r.request_ids),
    'cif', u.cif,
    'campaign_group', json_build_object('id', u.campaign_group_id, 'name', g.name),
    'reason', CASE WHEN g.id IS NULL THEN 'group_removed' ELSE 'not_matched' END,
    'previous', json_build_object(
      'run_id', u.previous_run_id,
      'campaign', json_build_object('id', u.previous_campaign_id, 'name', c.name))
  )::text AS value
  FROM campaign_results.unassignments u
  JOIN campaign_results.runs r ON r.run_id = u.run_id
  LEFT JOIN campaign_engine.campaign_groups g ON g.id = u.campaign_group_id
  LEFT JOIN campaign_engine.campaigns c ON c.id = u.previous_campaign_id
  WHERE p.unassigned AND u.run_id = %(run)s AND u.cif = p.cif
    AND u.campaign_group_id = p.campaign_group_id
  LIMIT 1
) AS n ON TRUE
ORDER BY 1, 2
"""


def messages(batch: int) -> sql.Composed:
    """The next ``batch`` messages after a (cif, group) key. The batch size is a literal, not
    a parameter: psycopg prepares a query it runs five times, and PostgreSQL's generic plan
    for ``LIMIT $n`` assumes a tenth of the rows (84,172 for a batch of 5,000 at 1M)."""
    return sql.SQL(_MESSAGES).format(
        contacts=sql.SQL(contacts_agg("json")), limit=sql.Literal(int(batch))
    )


COMPLETED = """
SELECT jsonb_build_object(
  'schema', %(schema)s::text,
  'run_id', r.run_id,
  'kind', r.kind,
  'as_of', COALESCE(r.as_of, (r.started_at AT TIME ZONE 'UTC')::date),
  'started_at', r.started_at,
  'finished_at', r.finished_at,
  'configuration_fingerprint', r.config_fingerprint,
  'request_ids', to_jsonb(r.request_ids),
  'population', r.population_size,
  'assignments', r.assignments,
  'unassignments', coalesce(r.unassignments, 0),
  'contacts', r.contacts,
  'groups', coalesce((
    SELECT jsonb_agg(jsonb_build_object(
             'id', g.key::bigint, 'name', g.value ->> 'name',
             'assigned', (g.value ->> 'assigned')::bigint,
             'left', coalesce((g.value ->> 'left')::bigint, 0),
             'contacts', (g.value ->> 'contacts')::bigint) ORDER BY g.key::bigint)
    FROM jsonb_each(r.counts -> 'groups') g), '[]'::jsonb)
)::text
FROM campaign_results.runs r WHERE r.run_id = %(run)s
"""
