#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
# The app owns database $POSTGRES_DB as $POSTGRES_USER; Temporal gets its own role, which may create
# databases, so temporalio/auto-setup creates and owns `temporal` and `temporal_visibility` itself.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE temporal LOGIN CREATEDB PASSWORD '${TEMPORAL_DB_PASSWORD:-temporal}';
SQL
