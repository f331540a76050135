-- finish: settle a batch of leased jobs of one channel in one step.
-- KEYS: 1 lease, 2 jobs, 3 tries, 4 retry, 5 dead hash, 6 dead index,
--       7 results stream, 8 sched
-- ARGV: 1 now (ms), 2 done-marker prefix, 3 done-marker ttl (s),
--       4 channel, then per job: id, action, status, due (ms), info.
-- Actions:
--   D  terminal (sent, failed, cancelled...): done marker (NX), lease
--      removed, payload dropped, result appended unless the marker
--      already existed (invariants 2 and 3)
--   R  retry: only if the lease is still held; tries + 1, retry set at due
--   X  dead letter with info as the error, if the lease is still held;
--      the payload is kept for `queue dead retry`
--   S  reschedule at due without counting a try (outside a window)
--   K  skip: already done elsewhere; drop lease and payload, no result
-- Returns the number of results appended.
-- Speed: per-batch commands (ZMSCORE, ZREM, HMGET, HDEL) for what every
-- job needs; per job only its done marker and its result entry.
local lease, jobs, tries, retry = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local dead, deadix, results, sched = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local now, dp, ttl, chan = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local m = (#ARGV - 4) / 5
if m < 1 then
    return 0
end
local ids = {}
for k = 1, m do
    ids[k] = ARGV[k * 5]
end
-- held: the lease still exists (ZMSCORE gives false for a missing one)
local held = redis.call('ZMSCORE', lease, unpack(ids))
redis.call('ZREM', lease, unpack(ids))
local tr = redis.call('HMGET', tries, unpack(ids))
local drop, droptries = {}, {}
local n = 0
for k = 1, m do
    local i = k * 5
    local id, act, st, due, info = ids[k], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    local h = held[k] and true or false
    if act == 'D' then
        local first = redis.call('SET', dp .. id, st, 'NX', 'EX', ttl)
        drop[#drop + 1] = id
        if tr[k] then
            droptries[#droptries + 1] = id
        end
        if first then
            redis.call('XADD', results, '*', 'id', id, 'st', st, 'info', info, 'ch', chan,
                       'tries', tr[k] or '0', 'at', now)
            n = n + 1
        end
    elseif act == 'R' then
        if h then
            local t = redis.call('HINCRBY', tries, id, 1)
            redis.call('ZADD', retry, due, id)
            redis.call('XADD', results, '*', 'id', id, 'st', st, 'info', info, 'ch', chan,
                       'tries', t, 'at', now)
            n = n + 1
        end
    elseif act == 'X' and h then
        local t = tonumber(redis.call('HGET', tries, id) or '0') + 1
        redis.call('HSET', tries, id, t)
        redis.call('HSET', dead, id, cjson.encode({ error = info, channel = chan,
                                                    at = tonumber(now), tries = t }))
        redis.call('ZADD', deadix, now, id)
        redis.call('XADD', results, '*', 'id', id, 'st', 'dead', 'info', info, 'ch', chan,
                   'tries', t, 'at', now)
        n = n + 1
    elseif act == 'S' then
        if h then
            redis.call('ZADD', sched, due, id)
        end
    elseif act == 'K' then
        drop[#drop + 1] = id
        if tr[k] then
            droptries[#droptries + 1] = id
        end
    end
end
if #drop > 0 then
    redis.call('HDEL', jobs, unpack(drop))
end
if #droptries > 0 then
    redis.call('HDEL', tries, unpack(droptries))
end
return n
