-- Tenant configs as numbered versions, one active per tenant, and an epoch
-- that every change moves forward so that servers can poll one row to know
-- whether to read the configs again. Versions are never changed once
-- stored; a rollback makes an older one active again.
CREATE TABLE config_versions (
	tenant     TEXT    NOT NULL,
	version    INTEGER NOT NULL,
	hash       TEXT    NOT NULL,
	content    BLOB    NOT NULL,
	author     TEXT    NOT NULL,
	message    TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (tenant, version)
) STRICT, WITHOUT ROWID;

-- The active version of each tenant that has been deployed; version is
-- NULL once the tenant is deactivated (removed from the deployment).
CREATE TABLE config_active (
	tenant     TEXT    NOT NULL PRIMARY KEY,
	version    INTEGER,
	updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE config_epoch (
	id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	epoch INTEGER NOT NULL
) STRICT;
INSERT INTO config_epoch (id, epoch) VALUES (1, 0);

-- Every change of a tenant's active version, written in its transaction:
-- the audit trail of deployments, rollbacks and deactivations.
CREATE TABLE config_events (
	id           INTEGER PRIMARY KEY,
	tenant       TEXT    NOT NULL,
	action       TEXT    NOT NULL,
	from_version INTEGER NOT NULL,
	to_version   INTEGER NOT NULL,
	author       TEXT    NOT NULL,
	message      TEXT    NOT NULL,
	created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX config_events_tenant ON config_events (tenant, id);
