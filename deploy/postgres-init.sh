#!/bin/sh
# Run by the postgres image on its first start over an empty data volume
# (docker-entrypoint-initdb.d): creates crispy's login role, without
# superuser, CREATEROLE or CREATEDB, and what it would otherwise create
# itself (docs/scale-out.md, "What the database needs").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v crispy_password="$CRISPY_DB_PASSWORD" <<'SQL'
CREATE ROLE crispy_app NOLOGIN;
CREATE ROLE crispy_sweeper NOLOGIN;
CREATE ROLE crispy_config NOLOGIN;
CREATE ROLE crispy LOGIN PASSWORD :'crispy_password';
GRANT crispy_app, crispy_sweeper, crispy_config TO crispy;
CREATE SCHEMA crispy AUTHORIZATION crispy;
SQL
