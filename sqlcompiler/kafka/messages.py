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
  CASE WHEN p.unassigned THEN json_build_object(
    'schema', %(unassigned_schema)s::text,
    'message_id', p.run_id || ':' || p.campaign_group_id || ':' || p.cif || ':unassigned',
    'run_id', p.run_id,
    'configuration_fingerprint', r.config_fingerprint,
    'request_ids', to_json(r.request_ids),
    'cif', p.cif,
    'campaign_group', json_build_object('id', p.campaign_group_id, 'name', g.name),
    'reason', CASE WHEN g.id IS NULL THEN 'group_removed' ELSE 'not_matched' END,
    'previous', json_build_object(
      'run_id', p.previous_run_id,
      'campaign', json_build_object('id', p.campaign_id, 'name', c.name))
  ) WHEN r.window_start IS NULL THEN json_build_object({assignment}
  ) ELSE json_build_object({assignment},
    -- with a contact policy (SPEC §6): the calling window of the run's day and how many of
    -- the assignment's selected contacts the policy removed (keys only then: the messages of
    -- a configuration without a policy are as they were)
    'window_start', r.window_start,
    'window_end', r.window_end,
    'suppressed', (SELECT count(*) FROM campaign_results.suppressed_contacts s
                   WHERE s.run_id = %(run)s AND s.cif = p.cif
                     AND s.campaign_group_id = p.campaign_group_id)
  ) END::text
FROM (
  -- the batch: the next (cif, group) keys with their rows, each branch walking its
  -- (cif, campaign_group_id) index and stopping at the batch size, so a batch costs the batch,
  -- not the run (a customer is never both assigned and unassigned in one group of one run).
  -- The rows come with their keys (no join back on the keys, which the planner estimated at
  -- 17 × the batch: enough to pass a stock server's JIT thresholds). campaign_id: an
  -- unassignment's previous campaign.
  SELECT k.* FROM (
    (SELECT a.cif, a.campaign_group_id, FALSE AS unassigned, a.run_id, a.campaign_id,
       a.account_numbers, CAST(NULL AS BIGINT) AS previous_run_id
     FROM campaign_results.assignments a
     WHERE a.run_id = %(run)s AND (a.cif, a.campaign_group_id) > (%(cif)s, %(group)s)
     ORDER BY a.cif, a.campaign_group_id LIMIT {limit})
    UNION ALL
    (SELECT u.cif, u.campaign_group_id, TRUE, u.run_id, u.previous_campaign_id, NULL,
       u.previous_run_id
     FROM campaign_results.unassignments u
     WHERE u.run_id = %(run)s AND (u.cif, u.campaign_group_id) > (%(cif)s, %(group)s)
     ORDER BY u.cif, u.campaign_group_id LIMIT {limit})
  ) AS k
  ORDER BY 1, 2
  LIMIT {limit}
) AS p
CROSS JOIN (SELECT config_fingerprint, request_ids, window_start, window_end
            FROM campaign_results.runs WHERE run_id = %(run)s) AS r
LEFT JOIN campaign_engine.campaign_groups g ON g.id = p.campaign_group_id
LEFT JOIN campaign_engine.campaigns c ON c.id = p.campaign_id
ORDER BY 1, 2
"""


_ASSIGNMENT = """
    'schema', %(schema)s::text,
    'message_id', p.run_id || ':' || p.campaign_group_id || ':' || p.cif,
    'run_id', p.run_id,
    'configuration_fingerprint', r.config_fingerprint,
    'request_ids', to_json(r.request_ids),
    'cif', p.cif,
    'campaign_group', json_build_object('id', p.campaign_group_id, 'name', g.name),
    'campaign', json_build_object('id', p.campaign_id, 'name', c.name),
    'account_numbers', to_json(p.account_numbers),
    'contacts', coalesce((
      SELECT {contacts}
      FROM campaign_results.contacts k
      WHERE k.run_id = %(run)s AND k.cif = p.cif AND k.campaign_group_id = p.campaign_group_id), '[]'::json)"""


def messages(batch: int) -> sql.Composed:
    """The next ``batch`` messages after a (cif, group) key. The batch size is a literal, not
    a parameter: psycopg prepares a query it runs five times, and PostgreSQL's generic plan
    for ``LIMIT $n`` assumes a tenth of the rows, not the batch."""
    assignment = sql.SQL(_ASSIGNMENT).format(contacts=sql.SQL(contacts_agg("json")))
    return sql.SQL(_MESSAGES).format(assignment=assignment, limit=sql.Literal(int(batch)))


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
