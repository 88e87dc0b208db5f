-- Stores one session and lists it in its shop's index, as one step.
-- KEYS[1]: the session key. KEYS[2]: its shop's index.
-- ARGV[1]: the property array JSON. ARGV[2]: the deadline, epoch milliseconds ('' for none).
-- ARGV[3]: the key prefix (to find the index of the shop the session had before).
local session_key, index = KEYS[1], KEYS[2]

-- Every check comes before the first write: a script that raises keeps what it wrote.
local list = read_index(index)
local old = redis.pcall('GET', session_key)
if type(old) == 'string' then
  local value = decode(old)
  if is_key_list(value) and #value > 0 then
    error({err = 'ERR ' .. session_key .. ' is a shop index, not a session'})
  end
end

if type(old) == 'string' then
  unlist_from_own_shop(ARGV[3], session_key, old, index)
end
redis.call('SET', session_key, ARGV[1])
if ARGV[2] ~= '' then
  -- A deadline already past deletes the key at once.
  redis.call('PEXPIREAT', session_key, ARGV[2])
end
local listed = contains(list, session_key)
if redis.call('EXISTS', session_key) == 1 then
  if not listed then
    list[#list + 1] = session_key
    write_index(index, list)
  end
elseif listed then
  write_index(index, without(list, session_key))
end
return 1
