-- Latency in the daily rollup: the sum of the latencies of a row's
-- requests and the sum of their times to first token, in microseconds as in
-- the ledger, with the number of requests that had a first token
-- (ttft_us > 0 in the ledger), so that the mean latency and the mean time to
-- first token of any set of rows are exact. Rows written before this
-- migration read as 0: their requests count as having no latency recorded.
-- A constant default adds the columns without rewriting the table.
--
-- Nothing else changes: crispy_app's privileges on usage_daily were
-- granted on the whole table, so they cover the new columns, and the
-- tenant_isolation policy, which filters rows, binds them as it binds the
-- others. crispy_sweeper and crispy_config have no privilege on the table.
ALTER TABLE usage_daily
	ADD COLUMN latency_us    bigint NOT NULL DEFAULT 0,
	ADD COLUMN ttft_us       bigint NOT NULL DEFAULT 0,
	ADD COLUMN ttft_requests bigint NOT NULL DEFAULT 0;
