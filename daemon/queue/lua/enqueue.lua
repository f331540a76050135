-- enqueue: add a batch of jobs to the scheduled sets, idempotently.
-- KEYS[1] jobs hash (attempt id -> payload), KEYS[2] set of channel names
-- ARGV[1] scheduled-set key prefix, ARGV[2] done-marker key prefix,
-- then per job: id, channel, due (ms), payload.
-- A job whose id is already in the jobs hash or has a done marker is
-- skipped (invariant 1 of queue.c), and so is a repeat of an id earlier
-- in the same batch.  Returns the number of jobs added.
-- A key of the wrong type fails the whole call before any job is written
-- (at most a channel name was added), with "WRONGTYPE key '<name>' holds a <type>, expected a <type>".
-- Speed: a constant number of commands per call (MGET, HMGET, one HSET,
-- one ZADD per channel), not three per job.
local jobs, chans = KEYS[1], KEYS[2]
local sp, dp = ARGV[1], ARGV[2]
-- Type checks stay off the hot path: TYPE only for a key about to be
-- written for the first time in this call, or after an error reply.
local function wrongtype(key, want)
    local t = redis.call('TYPE', key)['ok']
    if t ~= 'none' and t ~= want then
        return redis.error_reply('WRONGTYPE key \'' .. key .. '\' holds a ' .. t ..
                                 ', expected a ' .. want)
    end
end
local n = (#ARGV - 2) / 4
if n < 1 then
    return 0
end
local ids, dkeys = {}, {}
for k = 1, n do
    local id = ARGV[k * 4 - 1]
    ids[k] = id
    dkeys[k] = dp .. id
end
local done = redis.call('MGET', unpack(dkeys))
local have = redis.pcall('HMGET', jobs, unpack(ids))
if have['err'] then
    return wrongtype(jobs, 'hash') or have
end
local hset, zadd, seen = {}, {}, {}
local added = 0
for k = 1, n do
    local id = ids[k]
    if not done[k] and not have[k] and not seen[id] then
        seen[id] = true
        local i = k * 4 - 1
        local ch = ARGV[i + 1]
        local z = zadd[ch]
        if not z then
            local e = wrongtype(sp .. ch, 'zset')
            if e then
                return e
            end
            -- the first write: nothing is changed if it fails
            local r = redis.pcall('SADD', chans, ch)
            if type(r) == 'table' and r['err'] then
                return wrongtype(chans, 'set') or r
            end
            z = {}
            zadd[ch] = z
        end
        z[#z + 1] = ARGV[i + 2]
        z[#z + 1] = id
        hset[#hset + 1] = id
        hset[#hset + 1] = ARGV[i + 3]
        added = added + 1
    end
end
if added == 0 then
    return 0
end
redis.call('HSET', jobs, unpack(hset))
for ch, z in pairs(zadd) do
    redis.call('ZADD', sp .. ch, unpack(z))
end
return added
