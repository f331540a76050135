-- enqueue: add a batch of jobs to the scheduled sets, idempotently.
-- KEYS[1] jobs hash (attempt id -> payload), KEYS[2] set of channel names
-- ARGV[1] scheduled-set key prefix, ARGV[2] done-marker key prefix,
-- then per job: id, channel, due (ms), payload.
-- A job whose id is already in the jobs hash or has a done marker is
-- skipped (invariant 1 of queue.c).  Returns the number of jobs added.
local jobs, chans = KEYS[1], KEYS[2]
local sp, dp = ARGV[1], ARGV[2]
local added = 0
local seen = {}
for i = 3, #ARGV, 4 do
    local id, ch = ARGV[i], ARGV[i + 1]
    if redis.call('EXISTS', dp .. id) == 0 and
       redis.call('HSETNX', jobs, id, ARGV[i + 3]) == 1 then
        redis.call('ZADD', sp .. ch, ARGV[i + 2], id)
        if not seen[ch] then
            seen[ch] = true
            redis.call('SADD', chans, ch)
        end
        added = added + 1
    end
end
return added
