//! The Lua scripts: one per store operation, each run atomically by Redis (`EVALSHA`).
//!
//! Every script gets `KEYS[1]` = `{prefix}:seq` (so a cluster routes it to the prefix's slot;
//! every other key it touches carries the same `{prefix}` hash tag, so it lives in that slot
//! too), `ARGV[1]` = `{prefix}` and `ARGV[2]` = empty, or (tests only,
//! [`TimeSource::Caller`](crate::TimeSource::Caller)) a clock reading in Unix milliseconds. The
//! rest of `ARGV` is the operation's arguments. `NOW` is the Redis server's own clock (`TIME`):
//! every replica's reservations are judged by one clock, so a replica whose clock runs fast
//! cannot reclaim a live reservation and double-book the agent. "Expired" is
//! `expires <= NOW` on the stored value. Relative TTLs (`PEXPIRE`, the entry's lifetime
//! plus an hour) only garbage-collect entries nobody sweeps.
//!
//! Key layout (`P` = `{prefix}`); the id is always the last component and each kind has its
//! own segment, so an id containing `:` can never name another kind's key:
//! - `P:a:<oid>` agent hash (`cap`, `status`, `name`, `lres`, `lrel`, `wrap`, `presence`,
//!   `upd`); `P:agents` roster (sorted set, score 0, ordered by id).
//! - `P:ares:<oid>` the agent's reservations (sorted set: token → expiry).
//! - `P:r:<token>` reservation hash (`agent`, `call`, `state`, `created`, `expires`);
//!   `P:cr:<call>` the call's reservation tokens (set).
//! - `P:c:<call>` call state (`version`, `doc`, `upd`, `exp`); `P:x:<call>` audit record
//!   (`doc`, `at`, `exp`) with `P:archive` (by archived time); `P:m:<key>` marker (its expiry).
//! - `P:s:<set>` member set (hash: member → `{e: expiry, v: value}`); expired members are
//!   dropped when the set is read, and the hash expires an hour after its newest member.
//! - `P:idx:{r,c,x,m}` sorted sets by expiry, so a sweep finds expired entries without `SCAN`.
//! - `P:seq` the one sequence for reservation tokens and call-state versions.
//!
//! Results are `nil`, an integer, one JSON object (`cjson`), an array of JSON objects, or
//! (`LIST_MEMBERS`) a flat array of strings.

/// Shared helpers, prepended to every script.
const PRELUDE: &str = r#"
local P = ARGV[1]
local NOW
if ARGV[2] == '' then
  -- TIME is non-deterministic: fine with effects replication (the default since Redis 5,
  -- the only mode since 7); replicas receive the writes, not the script.
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  NOW = tonumber(ARGV[2])
end
local MARGIN = 3600000

local function num(x) if x then return tonumber(x) end return nil end
local function str(x) if x then return x end return nil end

local function res_get(tok)
  local v = redis.call('HMGET', P .. ':r:' .. tok, 'agent', 'call', 'state', 'created', 'expires')
  if not v[1] then return nil end
  return { token = tonumber(tok), agent = v[1], call = v[2], state = v[3],
           created = tonumber(v[4]), expires = tonumber(v[5]) }
end

local function res_drop(r)
  redis.call('DEL', P .. ':r:' .. r.token)
  redis.call('ZREM', P .. ':ares:' .. r.agent, r.token)
  redis.call('SREM', P .. ':cr:' .. r.call, r.token)
  redis.call('ZREM', P .. ':idx:r', r.token)
end

local function res_save(r)
  local key = P .. ':r:' .. r.token
  local life = r.expires - NOW + MARGIN
  redis.call('HSET', key, 'agent', r.agent, 'call', r.call, 'state', r.state,
             'created', r.created, 'expires', r.expires)
  redis.call('PEXPIRE', key, life)
  redis.call('ZADD', P .. ':ares:' .. r.agent, r.expires, r.token)
  redis.call('ZADD', P .. ':idx:r', r.expires, r.token)
  local ckey = P .. ':cr:' .. r.call
  redis.call('SADD', ckey, r.token)
  if redis.call('PTTL', ckey) < life then redis.call('PEXPIRE', ckey, life) end
end

-- A reservation handle still held at NOW; an expired one is removed on the way.
local function held(tok, agent, call)
  if not string.match(tok, '^[1-9]%d*$') then return nil end
  local r = res_get(tok)
  if not r or r.agent ~= agent or r.call ~= call then return nil end
  if r.expires > NOW then return r end
  res_drop(r)
  return nil
end

local function agent_json(oid)
  local akey = P .. ':a:' .. oid
  local v = redis.call('HMGET', akey, 'name', 'cap', 'status', 'lres', 'lrel', 'wrap', 'presence')
  if not v[2] then return nil end
  local reserved, on_call = 0, 0
  for _, t in ipairs(redis.call('ZRANGEBYSCORE', P .. ':ares:' .. oid, '(' .. NOW, '+inf')) do
    local st = redis.call('HGET', P .. ':r:' .. t, 'state')
    if st == 'on_call' then on_call = on_call + 1 elseif st then reserved = reserved + 1 end
  end
  return cjson.encode({ id = oid, name = str(v[1]), cap = tonumber(v[2]), status = v[3],
    lres = num(v[4]), lrel = num(v[5]), wrap = num(v[6]), presence = str(v[7]),
    reserved = reserved, on_call = on_call, now = NOW })
end

local function res_list(rs)
  table.sort(rs, function(a, b) return a.token < b.token end)
  local out = {}
  for i, r in ipairs(rs) do out[i] = cjson.encode(r) end
  return out
end
"#;

/// `ARGV[3]` oid, `[4]` capacity, `[5]` "1" if `[6]` is the display name.
const UPSERT_AGENT: &str = r#"
local oid = ARGV[3]
local akey = P .. ':a:' .. oid
if redis.call('EXISTS', akey) == 0 then redis.call('HSET', akey, 'status', 'available') end
redis.call('HSET', akey, 'cap', ARGV[4], 'upd', NOW)
if ARGV[5] == '1' then redis.call('HSET', akey, 'name', ARGV[6]) else redis.call('HDEL', akey, 'name') end
redis.call('ZADD', P .. ':agents', 0, oid)
return 1
"#;

/// `ARGV[3]` oid, `[4]` field, `[5]` "1" to set `[6]`, else the field is removed.
const SET_AGENT_FIELD: &str = r#"
local akey = P .. ':a:' .. ARGV[3]
if redis.call('EXISTS', akey) == 0 then return 0 end
if ARGV[5] == '1' then redis.call('HSET', akey, ARGV[4], ARGV[6]) else redis.call('HDEL', akey, ARGV[4]) end
redis.call('HSET', akey, 'upd', NOW)
return 1
"#;

/// `ARGV[3]` oid.
const REMOVE_AGENT: &str = r#"
local oid = ARGV[3]
local akey = P .. ':a:' .. oid
local zkey = P .. ':ares:' .. oid
local existed = redis.call('EXISTS', akey)
for _, t in ipairs(redis.call('ZRANGE', zkey, 0, -1)) do
  local r = res_get(t)
  if r then res_drop(r) else redis.call('ZREM', P .. ':idx:r', t) end
end
redis.call('DEL', zkey, akey)
redis.call('ZREM', P .. ':agents', oid)
return existed
"#;

/// `ARGV[3]` oid.
const GET_AGENT: &str = r#"
return agent_json(ARGV[3]) or false
"#;

const LIST_AGENTS: &str = r#"
local out = {}
for _, oid in ipairs(redis.call('ZRANGE', P .. ':agents', 0, -1)) do
  local j = agent_json(oid)
  if j then table.insert(out, j) end
end
return out
"#;

/// `ARGV[3]` call key, `[4]` ttl ms, `[5..]` candidates best first.
const RESERVE_FIRST_OF: &str = r#"
local call = ARGV[3]
local ttl = tonumber(ARGV[4])
local mine = {}
for _, t in ipairs(redis.call('SMEMBERS', P .. ':cr:' .. call)) do
  local r = res_get(t)
  if r and r.expires > NOW then mine[r.agent] = r end
end
for i = 5, #ARGV do
  local r = mine[ARGV[i]]
  if r then
    local exp = math.max(r.expires, NOW + ttl)
    if exp ~= r.expires then r.expires = exp; res_save(r) end
    return cjson.encode(r)
  end
end
for i = 5, #ARGV do
  local oid = ARGV[i]
  local akey = P .. ':a:' .. oid
  local v = redis.call('HMGET', akey, 'cap', 'status', 'wrap')
  if v[1] and v[2] == 'available' and (not v[3] or tonumber(v[3]) <= NOW) then
    local zkey = P .. ':ares:' .. oid
    if redis.call('ZCOUNT', zkey, '(' .. NOW, '+inf') < tonumber(v[1]) then
      -- Lazy reclaim: a holder that died must not block the agent past its TTL.
      for _, t in ipairs(redis.call('ZRANGEBYSCORE', zkey, '-inf', NOW)) do
        local old = res_get(t)
        if old then res_drop(old) else
          redis.call('ZREM', zkey, t)
          redis.call('ZREM', P .. ':idx:r', t)
        end
      end
      local r = { token = redis.call('INCR', P .. ':seq'), agent = oid, call = call,
                  state = 'reserved', created = NOW, expires = NOW + ttl }
      res_save(r)
      redis.call('HSET', akey, 'lres', NOW)
      return cjson.encode(r)
    end
  end
end
return false
"#;

/// `ARGV[3..5]` token, agent, call; `[6]` ttl ms; `[7]` "1" to confirm (on call).
const RENEW: &str = r#"
local r = held(ARGV[3], ARGV[4], ARGV[5])
if not r then return false end
r.expires = math.max(r.expires, NOW + tonumber(ARGV[6]))
if ARGV[7] == '1' then r.state = 'on_call' end
res_save(r)
return cjson.encode(r)
"#;

/// `ARGV[3..5]` token, agent, call; `[6]` wrap-up ms.
const RELEASE: &str = r#"
local r = held(ARGV[3], ARGV[4], ARGV[5])
if not r then return 0 end
res_drop(r)
local akey = P .. ':a:' .. r.agent
if redis.call('EXISTS', akey) == 1 then
  redis.call('HSET', akey, 'lrel', NOW)
  local wrap = tonumber(ARGV[6])
  if wrap > 0 then
    local cur = tonumber(redis.call('HGET', akey, 'wrap') or '0')
    redis.call('HSET', akey, 'wrap', math.max(cur, NOW + wrap))
  end
end
return 1
"#;

/// `ARGV[3]` call key.
const RESERVATIONS_FOR_CALL: &str = r#"
local rs = {}
for _, t in ipairs(redis.call('SMEMBERS', P .. ':cr:' .. ARGV[3])) do
  local r = res_get(t)
  if r and r.expires > NOW then table.insert(rs, r) end
end
return res_list(rs)
"#;

/// `ARGV[3]` oid.
const RESERVATIONS_FOR_AGENT: &str = r#"
local rs = {}
for _, t in ipairs(redis.call('ZRANGEBYSCORE', P .. ':ares:' .. ARGV[3], '(' .. NOW, '+inf')) do
  local r = res_get(t)
  if r and r.expires > NOW then table.insert(rs, r) end
end
return res_list(rs)
"#;

/// `ARGV[3]` most entries of each kind to remove in this run.
const SWEEP: &str = r#"
local cap = tonumber(ARGV[3])
local function due(idx) return redis.call('ZRANGEBYSCORE', idx, '-inf', NOW, 'LIMIT', 0, cap) end
local n_res = 0
local ridx = P .. ':idx:r'
for _, t in ipairs(due(ridx)) do
  local r = res_get(t)
  if r and r.expires <= NOW then res_drop(r); n_res = n_res + 1
  elseif r then redis.call('ZADD', ridx, r.expires, t)
  else redis.call('ZREM', ridx, t) end
end
-- Hash entries whose `field` holds the expiry: calls and audit records.
local function sweep_hashes(idx, kind, field, extra)
  local n = 0
  for _, key in ipairs(due(idx)) do
    local hkey = P .. ':' .. kind .. ':' .. key
    local e = num(redis.call('HGET', hkey, field))
    if e and e <= NOW then
      redis.call('DEL', hkey)
      redis.call('ZREM', idx, key)
      if extra then redis.call('ZREM', extra, key) end
      n = n + 1
    elseif e then redis.call('ZADD', idx, e, key)
    else
      redis.call('ZREM', idx, key)
      if extra then redis.call('ZREM', extra, key) end
    end
  end
  return n
end
local n_calls = sweep_hashes(P .. ':idx:c', 'c', 'exp', nil)
local n_arch = sweep_hashes(P .. ':idx:x', 'x', 'exp', P .. ':archive')
local n_marks = 0
local midx = P .. ':idx:m'
for _, key in ipairs(due(midx)) do
  local mkey = P .. ':m:' .. key
  local e = num(redis.call('GET', mkey))
  if e and e <= NOW then redis.call('DEL', mkey); redis.call('ZREM', midx, key); n_marks = n_marks + 1
  elseif e then redis.call('ZADD', midx, e, key)
  else redis.call('ZREM', midx, key) end
end
return cjson.encode({ reservations = n_res, calls = n_calls, archived_calls = n_arch, marks = n_marks })
"#;

/// `ARGV[3]` call key.
const GET_CALL: &str = r#"
local v = redis.call('HMGET', P .. ':c:' .. ARGV[3], 'version', 'doc', 'upd', 'exp')
if not v[1] or tonumber(v[4]) <= NOW then return false end
return cjson.encode({ version = v[1], doc = v[2], updated_at = tonumber(v[3]), expires_at = tonumber(v[4]) })
"#;

/// `ARGV[3]` call key, `[4]` expected version ("" = absent), `[5]` doc, `[6]` ttl ms.
/// Versions are compared as the decimal strings `INCR` produced.
const PUT_CALL_IF: &str = r#"
local key = ARGV[3]
local ckey = P .. ':c:' .. key
local v = redis.call('HMGET', ckey, 'version', 'exp')
local current = ''
if v[1] and tonumber(v[2]) > NOW then current = v[1] end
if current ~= ARGV[4] then
  if current == '' then return cjson.encode({ conflict = true }) end
  return cjson.encode({ conflict = true, current = current })
end
local version = redis.call('INCR', P .. ':seq')
local ttl = tonumber(ARGV[6])
local exp = NOW + ttl
redis.call('HSET', ckey, 'version', version, 'doc', ARGV[5], 'upd', NOW, 'exp', exp)
redis.call('PEXPIRE', ckey, ttl + MARGIN)
redis.call('ZADD', P .. ':idx:c', exp, key)
return cjson.encode({ version = tostring(version) })
"#;

/// `ARGV[3]` call key.
const DELETE_CALL: &str = r#"
local ckey = P .. ':c:' .. ARGV[3]
local e = num(redis.call('HGET', ckey, 'exp'))
redis.call('DEL', ckey)
redis.call('ZREM', P .. ':idx:c', ARGV[3])
if e and e > NOW then return 1 end
return 0
"#;

/// `ARGV[3]` call key, `[4]` doc, `[5]` ttl ms.
const ARCHIVE_CALL: &str = r#"
local key = ARGV[3]
redis.call('DEL', P .. ':c:' .. key)
redis.call('ZREM', P .. ':idx:c', key)
local ttl = tonumber(ARGV[5])
local exp = NOW + ttl
local xkey = P .. ':x:' .. key
redis.call('HSET', xkey, 'doc', ARGV[4], 'at', NOW, 'exp', exp)
redis.call('PEXPIRE', xkey, ttl + MARGIN)
redis.call('ZADD', P .. ':archive', NOW, key)
redis.call('ZADD', P .. ':idx:x', exp, key)
return 1
"#;

/// `ARGV[3]` call key.
const GET_ARCHIVED_CALL: &str = r#"
local v = redis.call('HMGET', P .. ':x:' .. ARGV[3], 'doc', 'at', 'exp')
if not v[1] or tonumber(v[3]) <= NOW then return false end
return cjson.encode({ call_key = ARGV[3], doc = v[1], archived_at = tonumber(v[2]), expires_at = tonumber(v[3]) })
"#;

/// `ARGV[3]` limit, `[4]` oldest archived time wanted (ms, or `-inf`). Newest first; records
/// archived at the same instant by key, as SQLite orders them.
const LIST_ARCHIVED_CALLS: &str = r#"
local limit = tonumber(ARGV[3])
local out = {}
local group, group_at = {}, nil
local function flush()
  table.sort(group)
  for _, key in ipairs(group) do
    if #out >= limit then break end
    local v = redis.call('HMGET', P .. ':x:' .. key, 'doc', 'at', 'exp')
    if v[1] and tonumber(v[3]) > NOW then
      table.insert(out, cjson.encode({ call_key = key, doc = v[1], archived_at = tonumber(v[2]),
                                       expires_at = tonumber(v[3]) }))
    end
  end
  group = {}
end
local offset, batch = 0, 100
while #out < limit do
  local page = redis.call('ZREVRANGEBYSCORE', P .. ':archive', '+inf', ARGV[4], 'WITHSCORES',
                          'LIMIT', offset, batch)
  if #page == 0 then break end
  for i = 1, #page, 2 do
    local at = tonumber(page[i + 1])
    if group_at ~= nil and at ~= group_at then
      flush()
      if #out >= limit then break end
    end
    group_at = at
    table.insert(group, page[i])
  end
  offset = offset + batch
end
if #out < limit then flush() end
return out
"#;

/// `ARGV[3]` limit. Live call documents by key, walked from the expiry index (whose score is
/// each call's expiry, so only unexpired ones are read).
const LIST_CALLS: &str = r#"
local limit = tonumber(ARGV[3])
local keys = redis.call('ZRANGEBYSCORE', P .. ':idx:c', '(' .. NOW, '+inf')
table.sort(keys)
local out = {}
for _, key in ipairs(keys) do
  if #out >= limit then break end
  local v = redis.call('HMGET', P .. ':c:' .. key, 'version', 'doc', 'upd', 'exp')
  if v[1] and tonumber(v[4]) > NOW then
    table.insert(out, cjson.encode({ call_key = key, version = v[1], doc = v[2],
                                     updated_at = tonumber(v[3]), expires_at = tonumber(v[4]) }))
  end
end
return out
"#;

/// `ARGV[3]` marker key, `[4]` ttl ms.
const MARK_ONCE: &str = r#"
local mkey = P .. ':m:' .. ARGV[3]
local e = num(redis.call('GET', mkey))
if e and e > NOW then return 0 end
local ttl = tonumber(ARGV[4])
redis.call('SET', mkey, NOW + ttl, 'PX', ttl + MARGIN)
redis.call('ZADD', P .. ':idx:m', NOW + ttl, ARGV[3])
return 1
"#;

/// `ARGV[3]` marker key, `[4]` "1" to delete it.
const CHECK_MARK: &str = r#"
local mkey = P .. ':m:' .. ARGV[3]
local e = num(redis.call('GET', mkey))
if ARGV[4] == '1' then
  redis.call('DEL', mkey)
  redis.call('ZREM', P .. ':idx:m', ARGV[3])
end
if e and e > NOW then return 1 end
return 0
"#;

/// `ARGV[3]` set key, `[4]` member, `[5]` value (JSON), `[6]` ttl ms. A set is one hash; each
/// field holds its own expiry, and the hash lives until its newest member expires.
const PUT_MEMBER: &str = r#"
local skey = P .. ':s:' .. ARGV[3]
local ttl = tonumber(ARGV[6])
redis.call('HSET', skey, ARGV[4], cjson.encode({ e = NOW + ttl, v = ARGV[5] }))
if redis.call('PTTL', skey) < ttl + MARGIN then
  redis.call('PEXPIRE', skey, ttl + MARGIN)
end
return 1
"#;

/// `ARGV[3]` set key, `[4]` member. 1 if an unexpired member was removed.
const REMOVE_MEMBER: &str = r#"
local skey = P .. ':s:' .. ARGV[3]
local raw = redis.call('HGET', skey, ARGV[4])
if not raw then return 0 end
redis.call('HDEL', skey, ARGV[4])
if cjson.decode(raw).e > NOW then return 1 end
return 0
"#;

/// `ARGV[3]` set key. Flat list member, value, member, value…; expired members are dropped.
const LIST_MEMBERS: &str = r#"
local skey = P .. ':s:' .. ARGV[3]
local all = redis.call('HGETALL', skey)
local out = {}
for i = 1, #all, 2 do
  local m = cjson.decode(all[i + 1])
  if m.e > NOW then
    table.insert(out, all[i])
    table.insert(out, m.v)
  else
    redis.call('HDEL', skey, all[i])
  end
end
return out
"#;

/// The compiled scripts (their SHA1s are computed once; Redis loads a script on first use).
pub(crate) struct Scripts {
    pub upsert_agent: redis::Script,
    pub set_agent_field: redis::Script,
    pub remove_agent: redis::Script,
    pub get_agent: redis::Script,
    pub list_agents: redis::Script,
    pub reserve_first_of: redis::Script,
    pub renew: redis::Script,
    pub release: redis::Script,
    pub reservations_for_call: redis::Script,
    pub reservations_for_agent: redis::Script,
    pub sweep: redis::Script,
    pub get_call: redis::Script,
    pub put_call_if: redis::Script,
    pub delete_call: redis::Script,
    pub archive_call: redis::Script,
    pub get_archived_call: redis::Script,
    pub list_archived_calls: redis::Script,
    pub list_calls: redis::Script,
    pub mark_once: redis::Script,
    pub check_mark: redis::Script,
    pub put_member: redis::Script,
    pub remove_member: redis::Script,
    pub list_members: redis::Script,
}

fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{PRELUDE}\n{body}"))
}

impl Scripts {
    pub fn new() -> Self {
        Self {
            upsert_agent: script(UPSERT_AGENT),
            set_agent_field: script(SET_AGENT_FIELD),
            remove_agent: script(REMOVE_AGENT),
            get_agent: script(GET_AGENT),
            list_agents: script(LIST_AGENTS),
            reserve_first_of: script(RESERVE_FIRST_OF),
            renew: script(RENEW),
            release: script(RELEASE),
            reservations_for_call: script(RESERVATIONS_FOR_CALL),
            reservations_for_agent: script(RESERVATIONS_FOR_AGENT),
            sweep: script(SWEEP),
            get_call: script(GET_CALL),
            put_call_if: script(PUT_CALL_IF),
            delete_call: script(DELETE_CALL),
            archive_call: script(ARCHIVE_CALL),
            get_archived_call: script(GET_ARCHIVED_CALL),
            list_archived_calls: script(LIST_ARCHIVED_CALLS),
            list_calls: script(LIST_CALLS),
            mark_once: script(MARK_ONCE),
            check_mark: script(CHECK_MARK),
            put_member: script(PUT_MEMBER),
            remove_member: script(REMOVE_MEMBER),
            list_members: script(LIST_MEMBERS),
        }
    }
}
