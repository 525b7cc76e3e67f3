-- Settles a reservation. For each settlement i, KEYS[3i-2] is its counter's
-- settled usage, KEYS[3i-1] its open reservations (see hold.lua) and
-- KEYS[3i] the seeded mark of its tenant and period (see Budgets.Seed).
-- ARGV[1] is the reservation's id, then three per settlement: the amount
-- held, the amount used and the counter's TTL in ms. Usage settled here is
-- also in the ledger: the seeded mark is set (if absent), so that a replica
-- starting later does not add the ledger's figures on top of it.
for i = 1, #KEYS / 3 do
  local a = 2 + 3 * (i - 1)
  redis.call('ZREM', KEYS[3 * i - 1], ARGV[1] .. '|' .. ARGV[a])
  local used = tonumber(ARGV[a + 1])
  if used ~= 0 then
    redis.call('INCRBY', KEYS[3 * i - 2], used)
    redis.call('PEXPIRE', KEYS[3 * i - 2], ARGV[a + 2])
    redis.call('SET', KEYS[3 * i], '1', 'NX', 'PX', ARGV[a + 2])
  end
end
return 1
