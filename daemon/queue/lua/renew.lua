-- renew: extend the leases a worker still holds, fenced by its token.
-- KEYS: 1 lease, 2 fence (last token of the channel)
-- ARGV: 1 token held, 2 visibility timeout (ms), 3 lease clock: 'redis'
--       (Redis's own TIME) or a time in ms, then the ids.
-- A member is renewed only if its score still equals the token: a lease
-- that lapsed and was reaped, or was taken by another worker, stays
-- lost.  The renewed ones all get one new token (a new expiry, above the
-- channel's last token, as in lease.lua).
-- Returns { new token, then per id 1 (renewed) or 0 (lost) }.
-- Called by a worker only for batches that are still unsettled when
-- their lease gets close to lapsing: never on the normal path.
local lease, fence = KEYS[1], KEYS[2]
local old, vt = tonumber(ARGV[1]), tonumber(ARGV[2])
local lnow
if ARGV[3] == 'redis' then
    local t = redis.call('TIME')
    lnow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
    lnow = tonumber(ARGV[3])
end
local ids = {}
for i = 4, #ARGV do
    ids[#ids + 1] = ARGV[i]
end
local out = { 0 }
if #ids == 0 then
    return out
end
local t = redis.call('TYPE', fence)['ok']
if t ~= 'none' and t ~= 'string' then
    return redis.error_reply('WRONGTYPE key \'' .. fence .. '\' holds a ' .. t ..
                             ', expected a string')
end
local tok = lnow + vt
local last = tonumber(redis.call('GET', fence))
if last and tok <= last then
    tok = last + 1
end
local stok = string.format('%d', tok)
redis.call('SET', fence, stok)
out[1] = tok
local sc = redis.call('ZMSCORE', lease, unpack(ids))
local z = {}
for i, id in ipairs(ids) do
    if sc[i] and tonumber(sc[i]) == old then
        z[#z + 1] = stok
        z[#z + 1] = id
        out[i + 1] = 1
    else
        out[i + 1] = 0
    end
end
for i = 1, #z, 2000 do
    redis.call('ZADD', lease, 'XX', unpack(z, i, math.min(i + 1999, #z)))
end
return out
