-- Deletes a session that a read found past its deadline (a Node app's plain SET clears the TTL
-- this crate sets), unless a store changed it since the read.
-- KEYS[1]: the session key. ARGV[1]: the value the read saw. ARGV[2]: the key prefix.
local session_key = KEYS[1]
local text = redis.pcall('GET', session_key)
if text == ARGV[1] then
  unlist_from_own_shop(ARGV[2], session_key, text, nil)
  redis.call('DEL', session_key)
  return 1
end
return 0
