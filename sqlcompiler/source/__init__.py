"""Where the bank-sync tables come from: this database, postgres_fdw, or a logical replica.

The compiled SQL reads ``bank_sync_service.<table>`` of the campaign database in every mode,
so the statements a DBA reviewed do not change with the mode:

* ``local``   the bank-sync tables are in this database (the default: no configuration row);
* ``fdw``     foreign tables over postgres_fdw, snapshotted into local tables by every run
              (fdw.py);
* ``replica`` the ``bank_sync_service`` tables here subscribe (logical replication) to a
              publication on the bank-sync database (replica.py).

On a Citus cluster, ``source citus`` distributes the local tables on ``cif`` (citus.py).

plan.py holds what the modes share (the recorded mode, setup plans), status.py what a run
reads and what ``source status`` shows.
"""

from __future__ import annotations

from .citus import LAYOUT as CITUS_LAYOUT
from .citus import citus_plan, setup_citus
from .fdw import fdw_plan, setup_fdw
from .plan import (
    FDW_SCHEMA,
    SCHEMA,
    SNAPSHOT_COMMENT,
    SUBSCRIPTION,
    Plan,
    SourceConfig,
    configured,
    require_local,
)
from .replica import ReplicaState, replica_plan, replica_state, setup_replica
from .status import SourceStatus, TableStatus, catalog, prepare_run, status, use_local

__all__ = [
    "CITUS_LAYOUT",
    "citus_plan",
    "setup_citus",
    "FDW_SCHEMA",
    "SCHEMA",
    "SNAPSHOT_COMMENT",
    "SUBSCRIPTION",
    "Plan",
    "ReplicaState",
    "SourceConfig",
    "SourceStatus",
    "TableStatus",
    "catalog",
    "configured",
    "fdw_plan",
    "prepare_run",
    "replica_plan",
    "replica_state",
    "require_local",
    "setup_fdw",
    "setup_replica",
    "status",
    "use_local",
]
