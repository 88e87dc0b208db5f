-- Reads a shop's index and every session it lists, as one step, and drops from the index the
-- keys that are gone (expired, or deleted by a client that did not update the index).
-- KEYS[1]: the shop's index.
-- Returns key, value, key, value, ...; the value is nil for a key that holds no string.
local index = KEYS[1]
local list = read_index(index)
local found, kept = {}, {}
for _, session_key in ipairs(list) do
  local text = redis.pcall('GET', session_key)
  if text then
    kept[#kept + 1] = session_key
    found[#found + 1] = session_key
    if type(text) == 'string' then
      found[#found + 1] = text
    else
      found[#found + 1] = false
    end
  end
end
if #kept ~= #list then
  write_index(index, kept)
end
return found
