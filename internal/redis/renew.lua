-- Renews leases: KEYS[1] is a sorted set of leases scored by their expiry
-- (Unix milliseconds, Redis time); ARGV[1] is the lease TTL in ms and
-- ARGV[2..] are the members to renew, put back if they had lapsed.
local t = redis.call('TIME')
local ttl = tonumber(ARGV[1])
local exp = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], exp, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], 2 * ttl)
return #ARGV - 1
