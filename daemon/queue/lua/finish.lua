-- finish: settle a batch of leased jobs of one channel in one step.
-- KEYS: 1 lease, 2 jobs, 3 tries, 4 retry, 5 dead hash, 6 dead index,
--       7 results stream, 8 sched
-- ARGV: 1 now (ms), 2 done-marker prefix, 3 done-marker ttl (s),
--       4 channel, 5 fencing token (the lease score the worker holds;
--       0 = unfenced), then per job: id, action, status, due (ms), info.
-- A job is *held* when its lease score equals the token (unfenced: when
-- it has a lease at all).  Only held leases are removed (unfenced: every
-- one named), so a worker whose lease lapsed and was taken by another
-- cannot clobber the new holder's lease, payload or try count.
-- Actions:
--   D  terminal after a send (sent, failed, invalid_address): done marker
--      (NX) and result unless the marker already existed (invariants 2
--      and 3), whether held or not: the provider was contacted.  Lease,
--      payload and try count are dropped only if held (unfenced: always);
--      a job that moved on keeps them, and whoever leases it next finds
--      the marker and skips it
--   C  terminal without a send (cancelled by the re-check): like D, but
--      only if held; a lapsed holder's decision is left to the next one
--   R  retry: only if held; tries + 1, retry set at due
--   X  dead letter with info as the error, only if held; the payload is
--      kept for `queue dead retry`
--   S  reschedule at due without counting a try (outside a window), only
--      if held
--   K  skip: already done elsewhere; drop lease and payload if held
--      (unfenced: always), no result
-- Returns the number of results appended.
-- Speed: per-batch commands (ZMSCORE, ZREM, HMGET, HDEL) for what every
-- job needs; per job only its done marker and its result entry.
local lease, jobs, tries, retry = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local dead, deadix, results, sched = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local now, dp, ttl, chan = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local tok = tonumber(ARGV[5]) or 0
local B = 5 -- ARGV before the first job
local m = (#ARGV - B) / 5
if m < 1 then
    return 0
end
local ids = {}
for k = 1, m do
    ids[k] = ARGV[B + k * 5 - 4]
end
-- held: the lease exists (ZMSCORE gives false for a missing one) and,
-- when fenced, carries this worker's token
local sc = redis.call('ZMSCORE', lease, unpack(ids))
local held, mine = {}, {}
for k = 1, m do
    held[k] = sc[k] and (tok == 0 or tonumber(sc[k]) == tok) or false
    if held[k] then
        mine[#mine + 1] = ids[k]
    end
end
if tok == 0 then
    redis.call('ZREM', lease, unpack(ids))
elseif #mine > 0 then
    redis.call('ZREM', lease, unpack(mine))
end
local tr = redis.call('HMGET', tries, unpack(ids))
local drop, droptries = {}, {}
local n = 0
local function dropjob(k)
    drop[#drop + 1] = ids[k]
    if tr[k] then
        droptries[#droptries + 1] = ids[k]
    end
end
for k = 1, m do
    local i = B + k * 5 - 4
    local id, act, st, due, info = ids[k], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    local h = held[k]
    if act == 'D' or (act == 'C' and h) then
        local first = redis.call('SET', dp .. id, st, 'NX', 'EX', ttl)
        if h or tok == 0 then
            dropjob(k)
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
        local t = tonumber(tr[k] or '0') + 1
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
        if h or tok == 0 then
            dropjob(k)
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
