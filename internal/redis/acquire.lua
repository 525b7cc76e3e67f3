-- Takes a stream slot. KEYS[1] is the tenant's slots, a sorted set of
-- leases scored by expiry (Unix ms, Redis time). ARGV[1] is the cap (0 or
-- less: none, but the slot is still counted), ARGV[2] the lease TTL in ms,
-- ARGV[3] the new lease's id. Returns 1 when the slot was taken, else 0.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
-- Slots of replicas that stopped renewing them have lapsed.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[1])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
return 1
