-- lease: one worker round trip for one channel.  Quarantines keys of the
-- wrong type, returns expired leases (reaper), moves due scheduled and
-- retry jobs to the ready list, takes rate-limit tokens, then leases up
-- to N jobs (redelivered ones first) with a visibility timeout.
-- KEYS: 1 sched, 2 retry, 3 ready, 4 redo, 5 lease, 6 jobs, 7 tries,
--       8 rate bucket, 9 dead hash, 10 dead index, 11 fence (last token)
-- ARGV: 1 now (ms, the worker's clock: due times), 2 N, 3 visibility
--       timeout (ms), 4 rate (jobs/s, 0 = unlimited), 5 burst, 6 channel
--       name, 7 move limit, 8 done-marker prefix, 9 stop-marker prefix,
--       10 lease clock: 'redis' (Redis's own TIME) or a time in ms
-- Returns { ready_left, leased_total, retrying, wait_ms, token,
--           then per job: id, payload or false, tries, redelivered,
--           done (1 when the attempt has a done marker), debtor or false,
--           stop reason or false }.
-- Two clocks: due times (sched, retry) are compared with the worker's
-- clock, the one its window re-check uses; lease expiry, the fencing
-- token and the rate bucket use the lease clock, normally Redis's own,
-- so workers on hosts with skewed clocks agree on when a lease lapses.
-- The token is the lease score every job of this call gets: expiry on
-- the lease clock, raised above the channel's last token so no two lease
-- or renew calls of a channel ever hand out the same one (finish and
-- renew compare it with the member's score: the fence).
-- The re-check (done and stop markers) rides along, saving the worker a
-- round trip: the debtor id is read from the payload without decoding
-- it (job.c writes it as a plain top-level string); the worker uses the
-- stop answer only if that debtor equals the one it parsed, and checks
-- separately otherwise (false: not found, or escaped characters).
local now = tonumber(ARGV[1])
local want = math.min(tonumber(ARGV[2]), 4000) -- unpack() limit
local vt = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])
local chan = ARGV[6]
local lim = tonumber(ARGV[7])
local dp, stp = ARGV[8], ARGV[9]
local sched, retry, ready, redo, lease = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local jobs, tries, bucket, dead, deadix = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local fence = KEYS[11]
local lnow
if ARGV[10] == 'redis' then
    local t = redis.call('TIME')
    lnow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
    lnow = tonumber(ARGV[10]) or now
end

local expect = { [1] = 'zset', [2] = 'zset', [3] = 'list', [4] = 'list', [5] = 'zset',
                 [6] = 'hash', [7] = 'hash', [8] = 'hash', [11] = 'string' }
for _, i in ipairs({ 1, 2, 3, 4, 5, 6, 7, 8, 11 }) do
    local t = redis.call('TYPE', KEYS[i])['ok']
    if t ~= 'none' and t ~= expect[i] then
        local moved = KEYS[i] .. ':bad:' .. now
        redis.call('RENAME', KEYS[i], moved)
        local id = 'key:' .. KEYS[i]
        redis.call('HSET', dead, id, cjson.encode({
            error = 'key \'' .. KEYS[i] .. '\' held a ' .. t .. ', not a ' .. expect[i] ..
                    '; moved to \'' .. moved .. '\'',
            channel = chan, at = now, tries = 0 }))
        redis.call('ZADD', deadix, now, id)
    end
end

local function move(ids, dst)
    for i = 1, #ids, 1000 do
        redis.call('RPUSH', dst, unpack(ids, i, math.min(i + 999, #ids)))
    end
end

-- reaper: expired leases go to the redelivery list (invariant 4)
local expired = redis.call('ZRANGEBYSCORE', lease, '-inf', lnow, 'LIMIT', 0, lim)
if #expired > 0 then
    for i = 1, #expired, 1000 do
        redis.call('ZREM', lease, unpack(expired, i, math.min(i + 999, #expired)))
    end
    move(expired, redo)
end
-- due mover
for _, src in ipairs({ sched, retry }) do
    local due = redis.call('ZRANGEBYSCORE', src, '-inf', now, 'LIMIT', 0, lim)
    if #due > 0 then
        for i = 1, #due, 1000 do
            redis.call('ZREM', src, unpack(due, i, math.min(i + 999, #due)))
        end
        move(due, ready)
    end
end

-- token bucket shared by every worker of this channel
local tokens = 0
local wait = 0
if rate > 0 then
    local b = redis.call('HMGET', bucket, 'tokens', 'ts')
    tokens = tonumber(b[1]) or burst
    local ts = tonumber(b[2]) or lnow
    if lnow > ts then
        tokens = math.min(burst, tokens + (lnow - ts) * rate / 1000)
    end
    local allow = math.floor(tokens)
    if allow < want then
        want = allow
    end
end

local out = { 0, 0, 0, 0, 0 }
local ids = {}
local redelivered = {}
if want > 0 then
    local r = redis.call('LPOP', redo, want)
    if r then
        for _, id in ipairs(r) do
            ids[#ids + 1] = id
            redelivered[#ids] = 1
        end
    end
    if #ids < want then
        r = redis.call('LPOP', ready, want - #ids)
        if r then
            for _, id in ipairs(r) do
                ids[#ids + 1] = id
                redelivered[#ids] = 0
            end
        end
    end
end
if #ids > 0 then
    local tok = lnow + vt
    local last = tonumber(redis.call('GET', fence))
    if last and tok <= last then
        tok = last + 1
    end
    local until_ms = string.format("%d", tok) -- formatted once, not per job
    redis.call('SET', fence, until_ms)
    out[5] = tok
    local payloads = redis.call('HMGET', jobs, unpack(ids))
    local t = redis.call('HMGET', tries, unpack(ids))
    local dkeys, debtors, skeys = {}, {}, {}
    for i, id in ipairs(ids) do
        dkeys[i] = dp .. id
        local p = payloads[i]
        debtors[i] = false
        if p then
            local _, e = string.find(p, '"debtor_id":"', 1, true)
            local q = e and string.find(p, '"', e + 1, true)
            if q then
                local d = string.sub(p, e + 1, q - 1)
                if not string.find(d, '\\', 1, true) then
                    debtors[i] = d
                    skeys[#skeys + 1] = stp .. d
                end
            end
        end
    end
    local done = redis.call('MGET', unpack(dkeys))
    local stops = #skeys > 0 and redis.call('MGET', unpack(skeys)) or {}
    local s, z = 0, {}
    for i, id in ipairs(ids) do
        z[#z + 1] = until_ms
        z[#z + 1] = id
        out[#out + 1] = id
        out[#out + 1] = payloads[i]
        out[#out + 1] = tonumber(t[i]) or 0
        out[#out + 1] = redelivered[i]
        out[#out + 1] = done[i] and 1 or 0
        out[#out + 1] = debtors[i]
        if debtors[i] then
            s = s + 1
            out[#out + 1] = stops[s]
        else
            out[#out + 1] = false
        end
    end
    for i = 1, #z, 2000 do
        redis.call('ZADD', lease, unpack(z, i, math.min(i + 1999, #z)))
    end
end
local left = redis.call('LLEN', ready) + redis.call('LLEN', redo)
if rate > 0 then
    tokens = tokens - #ids
    redis.call('HSET', bucket, 'tokens', tostring(tokens), 'ts', lnow)
    if left > 0 and tokens < 1 then
        wait = math.ceil((1 - tokens) * 1000 / rate)
    end
end
out[1] = left
out[2] = redis.call('ZCARD', lease)
out[3] = redis.call('ZCARD', retry)
out[4] = wait
return out
