"""The read-only Lua scripts of the reader (monitor.collect.reader): text only, run by EVALSHA_RO.

Both scripts share PEEK, the functions that find an enqueue time in an element server-side, so the
generic script and the plain-list one give the same status and text for the same element.
"""

from __future__ import annotations

import hashlib

from monitor.collect.timestamps import MAX_TIME_TEXT

# The statuses are those of monitor.collect.timestamps (E empty, J not JSON, F no field, P no field
# in the searched prefix, S a string, N a number (%.17g, exact for doubles where Lua's default %.14g
# is not), O another JSON type, G job hash gone, W job key not a hash).
# No message body ever leaves Redis: a message larger than max_decode is searched, not decoded
# (cjson held the server's only thread 84 ms for a 2.5 MB message) and not shipped.
# Expects the locals max_decode and prefix; defines statuses, texts, put, short and from_json.
PEEK = """\
local statuses, texts, peeked = {}, {}, 0
local function put(status, text)
  peeked = peeked + 1
  statuses[peeked] = status
  texts[peeked] = text
end
local function short(text)
  if #text > """ + str(MAX_TIME_TEXT) + """ then return put('O', '') end
  put('S', text)
end
local paths, decode = {}, cjson.decode
local function split(field)
  local path = paths[field]
  if path == nil then
    path = {}
    for name in string.gmatch(field, '[^.]+') do path[#path + 1] = name end
    paths[field] = path
  end
  return path
end
local function in_prefix(raw, name)
  local head = raw
  if #raw > prefix then head = string.sub(raw, 1, prefix) end
  local pattern = '"' .. string.gsub(name, '[%^%$%(%)%%%.%[%]%*%+%-%?]', '%%%0') .. '"%s*:%s*'
  local _, e = string.find(head, pattern)
  if e == nil then return put('P', '') end
  if string.sub(head, e + 1, e + 1) == '"' then
    local close = string.find(head, '"', e + 2, true)
    if close == nil then return put('P', '') end
    return short(string.sub(head, e + 2, close - 1))
  end
  local number = string.match(head, '^-?%d+%.?%d*', e + 1)
  if number == nil then return put('O', '') end
  local exponent = string.match(head, '^[eE][-+]?%d+', e + 1 + #number)
  put('N', number .. (exponent or ''))
end
local function from_json(raw, field)
  local path = split(field)
  if #raw > max_decode then return in_prefix(raw, path[#path]) end
  local ok, node = pcall(decode, raw)
  if not ok then return put('J', '') end
  for i = 1, #path do
    if type(node) ~= 'table' then node = nil break end
    node = node[path[i]]
    if node == nil then break end
  end
  if node == nil then put('F', '')
  elseif type(node) == 'string' then short(node)
  elseif type(node) == 'number' then put('N', string.format('%.17g', node))
  else put('O', '') end
end
"""

# A count `n` from redis.pcall: -1 for a key of another type (WRONGTYPE); any other error is the
# script's reply.
COUNTED = """\
  if type(n) == 'table' then
    if string.sub(n.err, 1, 9) ~= 'WRONGTYPE' then return n end
    n = -1
  end
"""

# Server side. A script call measures up to SCRIPT_QUEUES_PER_CALL queues; its batch travels as one
# JSON argument of flat arrays and strings (as separate EVAL arguments, redis-py's packing of
# thousands of them cost more than the whole read; nested tables cost cjson time: bench_reader.py):
#   k: the distinct keys;  o: one letter per count operation, L LLEN, C ZCARD, Z ZCOUNT, H HLEN,
#   X XLEN;  ok: the key position of each operation;  zb: min, max of each Z operation in turn;
#   g: per queue, the operation whose count gates its peek (no peek when 0 or another type);
#   e: one letter per queue, the peek: h / t / b LINDEX at the head / tail / both, z the lowest
#   member within the next range of zr, n none;  r: the distinct recipes;  ri: each queue's recipe;
#   m: bytes decoded whole;  x: bytes searched in larger messages.
# A recipe says where the time is: [j, path] a field of the JSON element; [e] the element itself;
# [h, field, before, after] field of the hash named before..element..after; [d, path, hash] the JSON
# in field element of one hash; [s] the member's score.
# Keys outside KEYS are still checked by ACL on every call the script makes. On Redis Cluster the
# pipelines of monitor.collect.cluster are used instead (a batch spans slots).
# The reply is one JSON text {"c": [count per operation, -1 for another type], "s": one status letter
# per element read (two for b), "t": [text per element read]} (statuses: see PEEK).
SCRIPT = """#!lua flags=no-writes
local b = cjson.decode(ARGV[1])
local keys, codes, opkeys, zb, max_decode, prefix = b.k, b.o, b.ok, b.zb, b.m, b.x
""" + PEEK + """local counts = {}
local commands = {L = 'LLEN', C = 'ZCARD', H = 'HLEN', X = 'XLEN'}
local z = 1
for i = 1, #opkeys do
  local code = string.sub(codes, i, i)
  local n
  if code == 'Z' then
    n = redis.pcall('ZCOUNT', keys[opkeys[i]], zb[z], zb[z + 1])
    z = z + 2
  else
    n = redis.pcall(commands[code], keys[opkeys[i]])
  end
""" + COUNTED + """  counts[i] = n
end
local function lookup(key, field)
  local value = redis.pcall('HGET', key, field)
  if type(value) == 'table' and value.err then
    if string.sub(value.err, 1, 9) ~= 'WRONGTYPE' then error(value.err) end
    put('W', '')
    return nil
  end
  if not value then put('G', '') end
  return value
end
local function time_of(raw, score, recipe)
  local kind = recipe[1]
  if kind == 'j' then return from_json(raw, recipe[2])
  elseif kind == 'e' then return short(raw)
  elseif kind == 's' then return put('N', score)
  elseif kind == 'h' then
    local value = lookup(recipe[3] .. raw .. recipe[4], recipe[2])
    if value then short(value) end
    return
  end
  local value = lookup(recipe[3], raw)
  if value then from_json(value, recipe[2]) end
end
local ends = {h = {0}, t = {-1}, b = {0, -1}}
local gates, peeks, ranges, recipes, chosen = b.g, b.e, b.zr, b.r, b.ri
local zr = 1
for j = 1, #gates do
  local peek = string.sub(peeks, j, j)
  local count = counts[gates[j]]
  local key = keys[opkeys[gates[j]]]
  local recipe = recipes[chosen[j]]
  if peek == 'z' then
    local member = count > 0 and redis.call('ZRANGE', key, ranges[zr], ranges[zr + 1], 'BYSCORE', 'LIMIT', 0, 1, 'WITHSCORES')
    zr = zr + 2
    if member and member[1] then time_of(member[1], member[2], recipe) else put('E', '') end
  elseif peek == 'n' then
    put('E', '')
  else
    for _, index in ipairs(ends[peek]) do
      local raw = count > 0 and redis.call('LINDEX', key, index)
      if raw then time_of(raw, nil, recipe) else put('E', '') end
    end
  end
end
return cjson.encode({c = counts, s = table.concat(statuses), t = texts})
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()

# The script for plain list queues (a list, maybe a processing and a dead-letter list, the time in a
# JSON field of the oldest element): what SCRIPT does for them, in about a fifth less server time
# (benchmarks/bench_whole_run.py), because there is no batch description to decode and no generic
# dispatch per queue. The lists travel as KEYS, checked by ACL once per call.
#   KEYS: per queue, its list, then its processing and dead-letter lists when it has them.
#   ARGV: the time field (a dotted path), max_decode, prefix, and the shape: two characters per
#   queue, its peek (h / t / b: LINDEX 0, -1, both) and how many more of its lists follow (0-2).
# The reply is SCRIPT's, with the counts in KEYS order.
PLAIN_SCRIPT = """#!lua flags=no-writes
local field, max_decode, prefix, shape = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
""" + PEEK + """local counts, k = {}, 1
local function oldest(key, index)
  local raw = redis.call('LINDEX', key, index)
  if raw then from_json(raw, field) else put('E', '') end
end
for q = 1, #shape, 2 do
  local lists = string.byte(shape, q + 1) - 47
  for i = k, k + lists - 1 do
    local n = redis.pcall('LLEN', KEYS[i])
""" + COUNTED + """    counts[i] = n
  end
  local peek = string.sub(shape, q, q)
  if counts[k] > 0 then
    if peek ~= 't' then oldest(KEYS[k], 0) end
    if peek ~= 'h' then oldest(KEYS[k], -1) end
  else
    put('E', '')
    if peek == 'b' then put('E', '') end
  end
  k = k + lists
end
return cjson.encode({c = counts, s = table.concat(statuses), t = texts})
"""
PLAIN_SCRIPT_SHA = hashlib.sha1(PLAIN_SCRIPT.encode()).hexdigest()
