-- Reference for bench/enqueue.sh: the enqueue script written the
-- straightforward way, one job per call (EXISTS, HSETNX, ZADD, SADD);
-- same keys and arguments as daemon/queue/lua/enqueue.lua.  Not used by cadenza.
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
