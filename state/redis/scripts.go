package redis

import goredis "github.com/redis/go-redis/v9"

// nowMicros is the Lua prelude that reads the Redis server's clock.
const nowMicros = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
`

// takeScript is GCRA's take.
//
//	KEYS[1] the key's theoretical arrival time (TAT), Unix µs
//	ARGV[1] emission interval, µs per unit (may be fractional)
//	ARGV[2] tolerance: the whole allowance, µs
//	ARGV[3] units to charge
//	ARGV[4] units to check (the charge, capped at the allowance)
//
// It returns {allowed (0|1), retry after µs, remaining units}.
var takeScript = goredis.NewScript(nowMicros + `
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local check = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allow_at = tat + check * t - tau
if allow_at > now then
  local rem = 0
  if tat - now < tau then rem = math.floor((tau - (tat - now)) / t) end
  return {0, math.ceil(allow_at - now), rem}
end
local nxt = tat + n * t
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.max(1, math.ceil((nxt - now) / 1000)))
local rem = 0
if nxt - now < tau then rem = math.floor((tau - (nxt - now)) / t) end
return {1, 0, rem}
`)

// adjustScript moves a TAT by delta units, never behind now.
//
//	KEYS[1] the TAT
//	ARGV[1] emission interval, µs per unit
//	ARGV[2] delta units (negative gives back)
var adjustScript = goredis.NewScript(nowMicros + `
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + tonumber(ARGV[2]) * tonumber(ARGV[1])
if nxt <= now then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.max(1, math.ceil((nxt - now) / 1000)))
return 1
`)

// acquireScript takes a concurrency slot as a lease in a sorted set scored
// by expiry, after dropping expired leases.
//
//	KEYS[1] the slots (sorted set: lease id -> expiry, Unix ms)
//	ARGV[1] limit
//	ARGV[2] lease id
//	ARGV[3] lease time, ms
var acquireScript = goredis.NewScript(nowMicros + `
local ms = math.floor(now / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
local ttl = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], ms + ttl, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`)

// renewScript extends leases that still exist, and the expiry of their
// sorted sets where it is shorter than a lease.
//
//	KEYS[i]   a sorted set of leases
//	ARGV[1]   lease time, ms
//	ARGV[i+1] the lease id in KEYS[i]
var renewScript = goredis.NewScript(nowMicros + `
local ms = math.floor(now / 1000)
local ttl = tonumber(ARGV[1])
for i, k in ipairs(KEYS) do
  if redis.call('ZSCORE', k, ARGV[i + 1]) then
    redis.call('ZADD', k, 'XX', ms + ttl, ARGV[i + 1])
    if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
  end
end
return 0
`)

// reserveScript reserves an amount in every window of one key, or in none.
//
//	KEYS[2i-1] window i's counters (hash: spent, reserved, l:<lease> amount)
//	KEYS[2i]   window i's leases (sorted set: lease id -> expiry, Unix ms)
//	ARGV[1]    amount, nanodollars
//	ARGV[2]    lease id
//	ARGV[3]    lease time, ms
//	ARGV[2+2i] window i's limit, nanodollars
//	ARGV[3+2i] window i's retention, ms
//
// It returns {1} or {0, i, spent, reserved} for the first window the
// amount does not fit in.
var reserveScript = goredis.NewScript(nowMicros + `
local ms = math.floor(now / 1000)
local amount = tonumber(ARGV[1])
local n = #KEYS / 2
for i = 1, n do
  local h, z = KEYS[2*i-1], KEYS[2*i]
  local expired = redis.call('ZRANGEBYSCORE', z, '-inf', ms)
  for _, id in ipairs(expired) do
    local a = tonumber(redis.call('HGET', h, 'l:' .. id) or '0')
    if a ~= 0 then redis.call('HINCRBY', h, 'reserved', -a) end
    redis.call('HDEL', h, 'l:' .. id)
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', ms) end
end
for i = 1, n do
  local h = KEYS[2*i-1]
  local spent = tonumber(redis.call('HGET', h, 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', h, 'reserved') or '0')
  if amount > tonumber(ARGV[2+2*i]) - spent - reserved then
    return {0, i, spent, reserved}
  end
end
local ttl = tonumber(ARGV[3])
for i = 1, n do
  local h, z = KEYS[2*i-1], KEYS[2*i]
  local keep = tonumber(ARGV[3+2*i])
  redis.call('HINCRBY', h, 'reserved', amount)
  redis.call('HSET', h, 'l:' .. ARGV[2], amount)
  redis.call('ZADD', z, ms + ttl, ARGV[2])
  redis.call('PEXPIRE', h, keep)
  redis.call('PEXPIRE', z, keep)
end
return {1}
`)

// settleScript ends a reservation and adds the actual amount to the spend.
//
//	KEYS as for reserveScript
//	ARGV[1]   actual amount, nanodollars
//	ARGV[2]   lease id
//	ARGV[2+i] window i's retention, ms
var settleScript = goredis.NewScript(`
local actual = tonumber(ARGV[1])
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2*i-1], KEYS[2*i]
  local a = redis.call('HGET', h, 'l:' .. ARGV[2])
  if a then
    redis.call('HINCRBY', h, 'reserved', -tonumber(a))
    redis.call('HDEL', h, 'l:' .. ARGV[2])
  end
  redis.call('ZREM', z, ARGV[2])
  if actual > 0 then
    redis.call('HINCRBY', h, 'spent', actual)
    redis.call('PEXPIRE', h, tonumber(ARGV[2+i]))
  end
end
return 0
`)

// seedScript raises a window's spend to at least a value.
//
//	KEYS[1] the window's counters
//	ARGV[1] spend, nanodollars
//	ARGV[2] retention, ms
var seedScript = goredis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('HSET', KEYS[1], 'spent', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 0
`)

// cooldownScript records a cool-down unless a later one is recorded.
//
//	KEYS[1] the cool-down's end, Unix ms
//	ARGV[1] the new end, Unix ms
var cooldownScript = goredis.NewScript(nowMicros + `
local ms = math.floor(now / 1000)
local untl = tonumber(ARGV[1])
if untl <= ms then return 0 end
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur >= untl then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', untl - ms)
return 1
`)
