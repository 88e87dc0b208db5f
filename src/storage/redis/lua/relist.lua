-- Lists a session in its shop's index, where a verify found it missing (the Node adapter updates
-- the index from the client, and concurrent stores lose entries), unless the session has gone or
-- moved to another shop since.
-- KEYS[1]: the shop's index. KEYS[2]: the session key. ARGV[1]: the shop.
local index, session_key = KEYS[1], KEYS[2]
local text = redis.pcall('GET', session_key)
if type(text) ~= 'string' or shop_of(text) ~= ARGV[1] then
  return 0
end
local list = read_index(index)
if contains(list, session_key) then
  return 0
end
list[#list + 1] = session_key
write_index(index, list)
return 1
