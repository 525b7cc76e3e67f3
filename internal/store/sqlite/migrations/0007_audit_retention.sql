-- Retention deletes a tenant's audit records older than a time.
CREATE INDEX audit_tenant_ts ON audit (tenant, ts);
