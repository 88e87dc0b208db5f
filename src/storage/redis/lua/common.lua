-- Helpers every script starts with (scripts.rs puts this file in front of each).
-- A shop's index is the Node adapter's: a JSON list of full session keys under `{prefix}_{shop}`.

-- The decoded JSON text, or nil when it is not JSON.
local function decode(text)
  local ok, value = pcall(cjson.decode, text)
  if ok then return value end
  return nil
end

-- Whether a decoded value is a list of keys. cjson decodes `[]` and `{}` alike, as an empty table.
local function is_key_list(value)
  if type(value) ~= 'table' then return false end
  for position, item in pairs(value) do
    if type(position) ~= 'number' or type(item) ~= 'string' then return false end
  end
  return true
end

-- The shop a session's property array names, read as Node's fromPropertyArray reads it (the key
-- in any case, null values skipped, the last one wins), or nil.
local function shop_of(text)
  local entries = decode(text)
  if type(entries) ~= 'table' then return nil end
  local shop = nil
  for _, entry in ipairs(entries) do
    if type(entry) == 'table' and type(entry[1]) == 'string'
        and string.lower(entry[1]) == 'shop' and type(entry[2]) == 'string' then
      shop = entry[2]
    end
  end
  return shop
end

-- A shop's index; raises (so a script calls it before it writes anything) when the key holds
-- something else.
local function read_index(index)
  local text = redis.call('GET', index)
  if not text then return {} end
  local list = decode(text)
  if not is_key_list(list) then
    error({err = 'ERR the shop index ' .. index .. ' is not a JSON list of session keys'})
  end
  return list
end

-- Checks on JSON text that spare a decode, which is most of a script's cost. Each answers
-- "certainly" or "cannot tell", and a caller that cannot tell decodes.

-- Whether a stored value may be a shop index rather than a session. A property array, as Node,
-- cjson and serde_json write it, starts with `[[`; an index never does.
local function may_be_index_text(text)
  return string.sub(text, 1, 2) ~= '[['
end

-- Whether an index's text certainly lists `key`: the key as a JSON string, in a text that starts
-- as a list of strings and holds no backslash. (Without escapes, every quote in the text starts
-- or ends an element, so the quoted key matches a whole element only.)
local function text_lists(text, key)
  return string.sub(text, 1, 2) == '["'
    and not string.find(text, '\\', 1, true)
    and string.find(text, cjson.encode(key), 1, true) ~= nil
end

-- Whether a stored value certainly names `shop`: its one `["shop",...]` entry is that shop. (A
-- raw `["shop",` is JSON structure, never inside a string; with two, as in a nested value, the
-- text cannot tell which one Node reads.)
local function text_names_shop(text, shop)
  local first = string.find(text, '["shop",', 1, true)
  if not first or string.find(text, '["shop",', first + 1, true) then return false end
  return string.find(text, '["shop",' .. cjson.encode(shop) .. ']', first, true) == first
end

-- Writes a shop's index back. An empty one is deleted: cjson writes an empty table as `{}`,
-- which the Node adapter's find iterates as an object, and throws.
local function write_index(index, list)
  if #list == 0 then
    redis.call('DEL', index)
  else
    redis.call('SET', index, cjson.encode(list))
  end
end

local function contains(list, item)
  for _, value in ipairs(list) do
    if value == item then return true end
  end
  return false
end

local function without(list, item)
  local kept = {}
  for _, value in ipairs(list) do
    if value ~= item then kept[#kept + 1] = value end
  end
  return kept
end

-- Removes a session key from the index of the shop its stored value names, unless that index is
-- `skip`. A damaged index is left as it is: a find of that shop fails, naming it.
local function unlist_from_own_shop(prefix, session_key, text, skip)
  local shop = shop_of(text)
  if not shop then return end
  local index = prefix .. '_' .. shop
  if index == skip then return end
  local readable, list = pcall(read_index, index)
  if readable and contains(list, session_key) then
    write_index(index, without(list, session_key))
  end
end

