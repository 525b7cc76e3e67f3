-- Leases that give one replica at a time the right to run a turn of a chat
-- session (or of an idempotency key), so that two replicas never
-- interleave the turns of one session. A lease is a row held by a random
-- holder until expires_at (unix ms, database time), renewed while its turn
-- runs and deleted when it ends; a replica that dies leaves a row that the
-- next taker overwrites once it has expired. No transaction is held open
-- while a turn runs.
CREATE TABLE session_leases (
	tenant     text COLLATE "C" NOT NULL,
	name       text COLLATE "C" NOT NULL,
	holder     text COLLATE "C" NOT NULL,
	expires_at bigint NOT NULL,
	PRIMARY KEY (tenant, name)
);

ALTER TABLE session_leases ENABLE ROW LEVEL SECURITY;
ALTER TABLE session_leases FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON session_leases
	USING (tenant = current_setting('crispy.tenant', true))
	WITH CHECK (tenant = current_setting('crispy.tenant', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON session_leases TO crispy_app;
