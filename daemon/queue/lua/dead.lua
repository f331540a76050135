-- dead: retry or purge dead-lettered jobs.
-- KEYS: 1 dead hash, 2 dead index, 3 jobs, 4 tries
-- ARGV: 1 'retry' or 'purge', 2 now (ms), 3 scheduled-set prefix,
--       4 done-marker prefix, 5 done-marker ttl (s), 6 'all' or 'ids',
--       then ids.
-- retry puts a job back on its channel's scheduled set, due now, with
-- its try count reset; entries without a payload (quarantined keys,
-- malformed members) cannot be retried and stay.  purge deletes the
-- entry and the payload and writes a done marker, so enqueuing the
-- attempt again stays a no-op (invariant 1).  Returns the count.
local dead, deadix, jobs, tries = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, now, sp, dp, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ids = {}
if ARGV[6] == 'all' then
    ids = redis.call('ZRANGE', deadix, 0, -1)
else
    for i = 7, #ARGV do
        ids[#ids + 1] = ARGV[i]
    end
end
local n = 0
for _, id in ipairs(ids) do
    local e = redis.call('HGET', dead, id)
    if e then
        if op == 'purge' then
            redis.call('HDEL', dead, id)
            redis.call('ZREM', deadix, id)
            redis.call('HDEL', tries, id)
            if redis.call('HDEL', jobs, id) == 1 then
                redis.call('SET', dp .. id, 'purged', 'EX', ttl)
            end
            n = n + 1
        else
            local ok, d = pcall(cjson.decode, e)
            local ch = ok and type(d) == 'table' and d['channel']
            if ch and type(ch) == 'string' and redis.call('HEXISTS', jobs, id) == 1 then
                redis.call('HDEL', dead, id)
                redis.call('ZREM', deadix, id)
                redis.call('HDEL', tries, id)
                redis.call('ZADD', sp .. ch, now, id)
                n = n + 1
            end
        end
    else
        redis.call('ZREM', deadix, id)
    end
end
return n
