"""An Airflow DAG for the nightly run (copy into your DAGs folder; not imported by sqlcompiler).

Exit code 75 (another run holds the lock) is a retry; any other non-zero exit fails the task,
among them 3: a guard held the run (nothing published; a person decides whether to --force),
so the relay does not run.
The relay then publishes the run to Kafka and returns once every message was acknowledged.
"""

from __future__ import annotations

import datetime as dt

from airflow import DAG
from airflow.operators.bash import BashOperator

ENV = {
    "SQLCOMPILER_DSN": "{{ conn.campaigns_db.get_uri() }}",
    "SQLCOMPILER_PUSHGATEWAY": "pushgateway.internal:9091",
    "SQLCOMPILER_KAFKA_BOOTSTRAP": "kafka.internal:9092",
}

with DAG(
    dag_id="sqlcompiler_nightly",
    schedule="30 1 * * *",
    start_date=dt.datetime(2026, 12, 1),
    catchup=False,
    default_args={"retries": 3, "retry_delay": dt.timedelta(minutes=10)},
) as dag:
    run = BashOperator(
        task_id="run",
        bash_command="sqlcompiler --log-format json run",
        env=ENV,
        append_env=True,
    )
    relay = BashOperator(
        task_id="relay",
        bash_command="sqlcompiler --log-format json relay",
        env=ENV,
        append_env=True,
    )
    run >> relay
