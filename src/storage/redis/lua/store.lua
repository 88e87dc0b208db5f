-- Stores one session and lists it in its shop's index, as one step.
-- KEYS[1]: the session key. KEYS[2]: its shop's index.
-- ARGV[1]: the property array JSON. ARGV[2]: the milliseconds left until the deadline, more
-- than 0 ('' for none). ARGV[3]: the key prefix (to find the index of the shop the session had before).
-- ARGV[4]: the session's shop. ARGV[5], optional: the value the session key must still hold, or
-- nothing is written and the script answers 0 (replace_session's compare-and-set).
-- The common case, an upsert of a session its shop's index lists already, decodes no JSON.
local session_key, index, shop = KEYS[1], KEYS[2], ARGV[4]
if session_key == index then
  error({err = 'ERR ' .. session_key .. ' would be both a session and its shop\'s index'})
end

-- Every check comes before the first write: a script that raises keeps what it wrote.
-- Both keys in one call. MGET answers false for a key of another type as for a missing one: a
-- session key of another type is then replaced (SET replaces any type), and an index is read
-- again below, which raises.
local both = redis.call('MGET', session_key, index)
local old, text = both[1], both[2]
if ARGV[5] and old ~= ARGV[5] then
  return 0
end
if type(old) == 'string' and may_be_index_text(old) then
  local value = decode(old)
  if is_key_list(value) and #value > 0 then
    error({err = 'ERR ' .. session_key .. ' is a shop index, not a session'})
  end
end
local list = nil
if not (text and text_lists(text, session_key)) then
  list = read_index(index)
end

if type(old) == 'string' and not text_names_shop(old, shop) then
  unlist_from_own_shop(ARGV[3], session_key, old, index)
end
if ARGV[2] == '' then
  redis.call('SET', session_key, ARGV[1])
else
  redis.call('PSETEX', session_key, ARGV[2], ARGV[1])
end
if list and not contains(list, session_key) then
  list[#list + 1] = session_key
  write_index(index, list)
end
return 1
