-- Releases a refresh lock only if it still holds the caller's token: a lease that lapsed must
-- not release the lock of whoever took it next.
-- KEYS[1]: the lock key. ARGV[1]: the caller's token.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
