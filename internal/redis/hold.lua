-- Reserves budget, all or nothing. For each hold i, KEYS[2i-1] is its
-- counter's settled usage (a string) and KEYS[2i] its open reservations, a
-- sorted set of "id|amount" scored by expiry (Unix ms, Redis time).
-- ARGV[1] is the lease TTL in ms, ARGV[2] the reservation's id, then two per
-- hold: its limit and its amount.
--
-- Returns {1} when held, or {0, i, used, reserved} for the first hold i
-- (from 0) that does not fit.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local n = #KEYS / 2
for i = 1, n do
  local held = KEYS[2 * i]
  -- Reservations of replicas that stopped renewing them have lapsed.
  redis.call('ZREMRANGEBYSCORE', held, '-inf', now)
  local used = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local reserved = 0
  for _, m in ipairs(redis.call('ZRANGE', held, 0, -1)) do
    reserved = reserved + tonumber(string.sub(m, string.find(m, '|', 1, true) + 1))
  end
  if used + reserved + tonumber(ARGV[2 + 2 * i]) > tonumber(ARGV[1 + 2 * i]) then
    return {0, i - 1, used, reserved}
  end
end
for i = 1, n do
  redis.call('ZADD', KEYS[2 * i], now + ttl, ARGV[2] .. '|' .. ARGV[2 + 2 * i])
  redis.call('PEXPIRE', KEYS[2 * i], 2 * ttl)
end
return {1}
