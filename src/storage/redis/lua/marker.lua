-- Records the Node adapter's migration as done, so a Node app started later against this Redis
-- does not run it (it reads every prefixed key as a session, and throws on shop indexes).
-- KEYS[1]: `{prefix}_migrations`. Returns what it did: 'added', 'merged', 'present' or
-- 'unreadable' (left alone).
local marker = KEYS[1]
local text = redis.pcall('GET', marker)
if not text then
  redis.call('SET', marker, '{"migrateToVersion1_0_1":true}')
  return 'added'
end
if type(text) ~= 'string' then return 'unreadable' end
local records = decode(text)
if type(records) ~= 'table' or (next(records) ~= nil and #records > 0) then
  return 'unreadable'
end
if records['migrateToVersion1_0_1'] == true then return 'present' end
records['migrateToVersion1_0_1'] = true
redis.call('SET', marker, cjson.encode(records))
return 'merged'
