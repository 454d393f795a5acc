#!/bin/bash
# Run once by the postgres image when the primary's data directory is created: a role for the
# replica's base backup and streaming, allowed in pg_hba.conf.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v pw="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'pw';
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
