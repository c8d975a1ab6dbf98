"""Infrastructure every stage uses: connections, the embedded cluster, metrics, migrations and
the packaged resources (SQL templates, alembic scripts, the demo configuration)."""
