-- Deletes sessions and removes each from its shop's index, as one step.
-- KEYS: the session keys. ARGV[1]: the key prefix. ARGV[2], when given: delete only the sessions
-- of this shop (judged here, so a session a concurrent store moved to another shop stays).
-- Returns the keys deleted.
local deleted = {}
for _, session_key in ipairs(KEYS) do
  local text = redis.pcall('GET', session_key)
  -- A key that is not a string holds no session; a non-empty list of keys is a shop's index
  -- whose shop is spelled like this id. Neither is touched.
  if type(text) == 'string' and (ARGV[2] == nil or shop_of(text) == ARGV[2]) then
    local value = may_be_index_text(text) and decode(text)
    if not (value and is_key_list(value) and #value > 0) then
      unlist_from_own_shop(ARGV[1], session_key, text, nil)
      redis.call('DEL', session_key)
      deleted[#deleted + 1] = session_key
    end
  end
end
return deleted
