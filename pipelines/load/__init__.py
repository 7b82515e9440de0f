"""Load: DuckDB connections, migrations, the spool, the partition swap, sync_log and the views."""
