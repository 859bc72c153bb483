-- The cluster's waiting queue, run atomically by Redis (see queue.go).
-- KEYS[1] is the key prefix (a hash tag such as "{tandem}", so every key of
-- the queue lives in one slot of a Redis Cluster). ARGV[1] is the operation:
--   add ID INSTANCE AVOID POOL OPEN INFO SUBJECT TAG... -> a match, or nil (queued)
--   open ID                                 -> a match, or nil
--   remove ID                               -> 1 if ID was waiting, else 0
--   remove_instance INSTANCE                -> how many were removed
-- A match is {partner id, partner's instance, partner's info, common tag...};
-- INFO is the instance's own description of its user, kept as it is; SUBJECT
-- is who the user is for moderation (its identity or address key, "" for
-- none): two subjects kept apart (P:apart:SUBJECT, Queue.KeepApart) are never
-- paired, whatever their visits.
--
-- Keys: P:t:ID (hash: inst, avoid, pool, tags as JSON, open, seq, info, subj), P:all
-- (every waiting ID by seq), P:open:POOL and P:tag:POOL:TAG (who may be
-- taken, by seq), P:inst:INSTANCE (set of its waiting IDs), P:seq,
-- P:blocks:ID (set: never pair with), P:apart:SUBJECT (set of subjects: never
-- pair with, in any visit).

local p = KEYS[1]
local SCAN = 200 -- candidates looked at per list, which bounds the script's time

local function tkey(id) return p .. ':t:' .. id end
local function openKey(pool) return p .. ':open:' .. pool end
local function tagKey(pool, tag) return p .. ':tag:' .. pool .. ':' .. tag end

local function load(id)
  local v = redis.call('HMGET', tkey(id), 'inst', 'avoid', 'pool', 'tags', 'open', 'seq', 'info', 'subj')
  if not v[1] then return nil end
  return { id = id, inst = v[1], avoid = v[2], pool = v[3], tags = cjson.decode(v[4]),
           open = v[5] == '1', seq = tonumber(v[6]), info = v[7] or '', subj = v[8] or '' }
end

local function parted(t, c) return t.avoid == c.id or c.avoid == t.id end

-- barred: t and c must never be paired (a block of this visit, or one
-- reported the other, in any visit).
local function barred(t, c)
  if redis.call('SISMEMBER', p .. ':blocks:' .. t.id, c.id) == 1 then return true end
  return t.subj ~= '' and c.subj ~= '' and redis.call('SISMEMBER', p .. ':apart:' .. t.subj, c.subj) == 1
end

local function mayPair(t, c)
  return c.id ~= t.id and c.pool == t.pool and not parted(t, c) and not barred(t, c)
end

-- pick returns the oldest ticket of the list at key that t may be paired with.
local function pick(key, t)
  for _, id in ipairs(redis.call('ZRANGE', key, 0, SCAN - 1)) do
    local c = load(id)
    if c and mayPair(t, c) then return c end
  end
  return nil
end

local function common(a, b)
  local out, has = {}, {}
  for _, x in ipairs(b.tags) do has[x] = true end
  for _, x in ipairs(a.tags) do if has[x] then out[#out + 1] = x end end
  return out
end

local function unlist(t)
  redis.call('ZREM', p .. ':all', t.id)
  redis.call('ZREM', openKey(t.pool), t.id)
  for _, tag in ipairs(t.tags) do redis.call('ZREM', tagKey(t.pool, tag), t.id) end
end

local function remove(t)
  unlist(t)
  redis.call('DEL', tkey(t.id))
  redis.call('SREM', p .. ':inst:' .. t.inst, t.id)
end

local function enqueue(t, open)
  local seq = redis.call('INCR', p .. ':seq')
  redis.call('HSET', tkey(t.id), 'inst', t.inst, 'avoid', t.avoid, 'pool', t.pool,
    'tags', cjson.encode(t.tags), 'open', open and '1' or '0', 'seq', seq, 'info', t.info, 'subj', t.subj)
  redis.call('ZADD', p .. ':all', seq, t.id)
  if open then redis.call('ZADD', openKey(t.pool), seq, t.id) end
  for _, tag in ipairs(t.tags) do redis.call('ZADD', tagKey(t.pool, tag), seq, t.id) end
  redis.call('SADD', p .. ':inst:' .. t.inst, t.id)
end

local function take(t, c)
  remove(c)
  local out = { c.id, c.inst, c.info }
  for _, x in ipairs(common(t, c)) do out[#out + 1] = x end
  return out
end

-- bestSharing: the longest-waiting user sharing one of t's tags.
local function bestSharing(t)
  local best
  for _, tag in ipairs(t.tags) do
    local c = pick(tagKey(t.pool, tag), t)
    if c and (best == nil or c.seq < best.seq) then best = c end
  end
  return best
end

-- onlyParted: the partner t just parted from, when nobody else waits and the
-- two may take each other (a shared tag, or both open to anyone).
local function onlyParted(t, open)
  if redis.call('ZCARD', p .. ':all') ~= 1 then return nil end
  local c = load(redis.call('ZRANGE', p .. ':all', 0, 0)[1])
  if not c or c.id == t.id or c.pool ~= t.pool or not parted(t, c) then return nil end
  if barred(t, c) then return nil end
  if #common(t, c) > 0 or (open and c.open) then return c end
  return nil
end

local function match(t, open)
  local c = bestSharing(t)
  if not c and open then c = pick(openKey(t.pool), t) end
  if not c then c = onlyParted(t, open) end
  if c then return take(t, c) end
  enqueue(t, open)
  return nil
end

local op = ARGV[1]
if op == 'add' then
  local t = { id = ARGV[2], inst = ARGV[3], avoid = ARGV[4], pool = ARGV[5], info = ARGV[7], subj = ARGV[8], tags = {} }
  for i = 9, #ARGV do t.tags[#t.tags + 1] = ARGV[i] end
  if redis.call('EXISTS', tkey(t.id)) == 1 then return redis.error_reply('already waiting') end
  return match(t, ARGV[6] == '1' or #t.tags == 0)
elseif op == 'open' then
  local t = load(ARGV[2])
  if not t or t.open then return nil end
  remove(t)
  return match(t, true)
elseif op == 'remove' then
  local t = load(ARGV[2])
  if not t then return 0 end
  remove(t)
  return 1
elseif op == 'remove_instance' then
  local n = 0
  for _, id in ipairs(redis.call('SMEMBERS', p .. ':inst:' .. ARGV[2])) do
    local t = load(id)
    if t and t.inst == ARGV[2] then remove(t); n = n + 1 end
  end
  redis.call('DEL', p .. ':inst:' .. ARGV[2])
  return n
end
return redis.error_reply('unknown operation ' .. tostring(op))
