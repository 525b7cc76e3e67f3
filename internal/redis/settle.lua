-- Settles a reservation. For each settlement i, KEYS[2i-1] is its counter's
-- settled usage and KEYS[2i] its open reservations (see hold.lua). ARGV[1]
-- is the reservation's id, then three per settlement: the amount held, the
-- amount used and the counter's TTL in ms.
for i = 1, #KEYS / 2 do
  local a = 2 + 3 * (i - 1)
  redis.call('ZREM', KEYS[2 * i], ARGV[1] .. '|' .. ARGV[a])
  local used = tonumber(ARGV[a + 1])
  if used ~= 0 then
    redis.call('INCRBY', KEYS[2 * i - 1], used)
    redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[a + 2])
  end
end
return 1
