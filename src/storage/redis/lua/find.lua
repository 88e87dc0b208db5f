-- Reads a shop's index and every session it lists, as one step, and drops from the index the
-- keys that are gone (expired, or deleted by a client that did not update the index).
-- KEYS[1]: the shop's index.
-- Returns key, value, key, value, ...; the value is false for a key that holds no string.
local index = KEYS[1]
local list = read_index(index)
local found, kept = {}, {}
-- MGET in slices: one call per slice rather than one per key, within Lua's limit on unpack.
local slice = 1000
for first = 1, #list, slice do
  local keys = {unpack(list, first, math.min(first + slice - 1, #list))}
  local values = redis.call('MGET', unpack(keys))
  for position, session_key in ipairs(keys) do
    local text = values[position]
    -- MGET answers nil both for a gone key and for one of another type.
    if text or redis.call('EXISTS', session_key) == 1 then
      kept[#kept + 1] = session_key
      found[#found + 1] = session_key
      found[#found + 1] = text or false
    end
  end
end
if #kept ~= #list then
  write_index(index, kept)
end
return found
