-- Tenant configs as numbered versions, one active per tenant, and an epoch
-- that every change moves forward so that replicas can poll one row to
-- know whether to read the configs again. Versions are never changed once
-- stored; a rollback makes an older one active again.
--
-- These are the operator's tables, not a tenant's: the server reads every
-- tenant's config to serve them all. So they have no tenant policy;
-- instead crispy_app, the role every tenant request runs as, has no
-- privilege on them at all, and the config store runs its statements as
-- crispy_config (SET LOCAL ROLE), which has privileges on these tables
-- alone.
CREATE TABLE config_versions (
	tenant     text COLLATE "C" NOT NULL,
	version    bigint NOT NULL,
	hash       text   NOT NULL,
	content    bytea  NOT NULL,
	author     text   NOT NULL,
	message    text   NOT NULL,
	created_at bigint NOT NULL,
	PRIMARY KEY (tenant, version)
);

-- The active version of each tenant that has been deployed; version is
-- NULL once the tenant is deactivated (removed from the deployment).
CREATE TABLE config_active (
	tenant     text COLLATE "C" NOT NULL PRIMARY KEY,
	version    bigint,
	updated_at bigint NOT NULL
);

-- One row: every change locks it first (so changes run one at a time,
-- from any replica) and moves the epoch.
CREATE TABLE config_epoch (
	id    integer NOT NULL PRIMARY KEY CHECK (id = 1),
	epoch bigint  NOT NULL
);
INSERT INTO config_epoch (id, epoch) VALUES (1, 0);

-- Every change of a tenant's active version, written in its transaction:
-- the audit trail of deployments, rollbacks and deactivations.
CREATE TABLE config_events (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant       text COLLATE "C" NOT NULL,
	action       text   NOT NULL,
	from_version bigint NOT NULL,
	to_version   bigint NOT NULL,
	author       text   NOT NULL,
	message      text   NOT NULL,
	created_at   bigint NOT NULL
);
CREATE INDEX config_events_tenant ON config_events (tenant, id);

GRANT SELECT, INSERT ON config_versions, config_events TO crispy_config;
GRANT USAGE ON SEQUENCE config_events_id_seq TO crispy_config;
GRANT SELECT, INSERT, UPDATE ON config_active TO crispy_config;
GRANT SELECT, UPDATE ON config_epoch TO crispy_config;
DO $$
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA %I TO crispy_config', current_schema());
END
$$;
