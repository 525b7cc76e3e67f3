-- Latency in the daily rollup: the sum of the latencies of a row's
-- requests and the sum of their times to first token, in microseconds as in
-- the ledger, with the number of requests that had a first token
-- (ttft_us > 0 in the ledger), so that the mean latency and the mean time to
-- first token of any set of rows are exact. Rows written before this
-- migration read as 0: their requests count as having no latency recorded.
ALTER TABLE usage_daily ADD COLUMN latency_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN ttft_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN ttft_requests INTEGER NOT NULL DEFAULT 0;
