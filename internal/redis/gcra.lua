-- GCRA for several buckets at once, all or nothing (see package ratelimit).
--
-- KEYS[i] is request i's bucket, a string holding its TAT in Unix
-- nanoseconds. ARGV[1], ARGV[2] are now in Unix seconds and nanoseconds, or
-- "" to use the server's TIME. Then four per request: the charge n*T, the
-- burst offset B*T and the interval T, all in nanoseconds, and the burst B.
--
-- Times are kept relative to now, in nanoseconds: a Lua number is a double,
-- which holds a duration exactly up to 2^53 ns but not an absolute time.
--
-- Returns four integers per request: admitted (1 or 0), remaining,
-- resetAfter and retryAfter (ns).
local E9 = 1000000000
local nowS, nowN
if ARGV[1] == '' then
  local t = redis.call('TIME')
  nowS, nowN = tonumber(t[1]), tonumber(t[2]) * 1000
else
  nowS, nowN = tonumber(ARGV[1]), tonumber(ARGV[2])
end

-- rel returns a stored TAT as nanoseconds after now (0 for no bucket).
local function rel(v)
  if not v then return 0 end
  local n = #v
  if n <= 9 then return (0 - nowS) * E9 + (tonumber(v) - nowN) end
  return (tonumber(string.sub(v, 1, n - 9)) - nowS) * E9 + (tonumber(string.sub(v, n - 8)) - nowN)
end

-- abs returns the TAT r nanoseconds after now, as stored.
local function abs(r)
  local total = nowN + r
  local s = math.floor(total / E9)
  return string.format('%d%09d', nowS + s, total - s * E9)
end

-- state returns the remaining requests and the resetAfter of a bucket whose
-- TAT is tat nanoseconds after now.
local function state(tat, offset, interval, burst)
  local used = math.max(tat, 0)
  local left = offset - used
  local q = 0
  if left > 0 then
    q = math.floor(left / interval)
    if q * interval > left then q = q - 1 elseif (q + 1) * interval <= left then q = q + 1 end
  end
  return math.min(q, burst), used
end

local stored, tats, out = {}, {}, {}
local all = true
for i = 1, #KEYS do
  local k = KEYS[i]
  local a = 2 + (i - 1) * 4
  local charge, offset = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local interval, burst = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  if stored[k] == nil then
    stored[k] = rel(redis.call('GET', k))
  end
  local tat = tats[k] or stored[k]
  local nxt = math.max(tat, 0) + charge
  local o = (i - 1) * 4
  if nxt <= offset then
    local rem, used = state(nxt, offset, interval, burst)
    out[o + 1], out[o + 2], out[o + 3], out[o + 4] = 1, rem, used, 0
    tats[k] = nxt
  else
    local rem, used = state(tat, offset, interval, burst)
    out[o + 1], out[o + 2], out[o + 3], out[o + 4] = 0, rem, used, nxt - offset
    all = false
  end
end

if all then
  for k, tat in pairs(tats) do
    -- The bucket is full again, the same as no bucket, once its TAT has
    -- passed; a second more covers a caller's clock that runs slow.
    redis.call('SET', k, abs(tat), 'PX', string.format('%d', math.ceil(tat / 1000000) + 1000))
  end
else
  -- Nothing is charged: the limits that would have admitted report their
  -- buckets as they are.
  for i = 1, #KEYS do
    local o = (i - 1) * 4
    if out[o + 1] == 1 then
      local a = 2 + (i - 1) * 4
      local rem, used = state(stored[KEYS[i]], tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]))
      out[o + 2], out[o + 3] = rem, used
    end
  end
end
return out
