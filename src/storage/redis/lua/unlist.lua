-- Removes a session key from a shop's index when the session no longer belongs to that shop (the
-- Node adapter leaves the old entry when a session moves to another shop), unless a store moved
-- it back since the read.
-- KEYS[1]: the shop's index. KEYS[2]: the session key. ARGV[1]: the shop.
-- Returns 1 when it removed the key from the index, 0 otherwise.
local index, session_key = KEYS[1], KEYS[2]
local text = redis.pcall('GET', session_key)
if type(text) == 'string' and shop_of(text) == ARGV[1] then
  return 0
end
local list = read_index(index)
if contains(list, session_key) then
  write_index(index, without(list, session_key))
  return 1
end
return 0
