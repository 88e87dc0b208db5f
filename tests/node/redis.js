// Drives Shopify's real Redis session adapter for tests/redis_node.rs. Reads from stdin
//   {"url": "redis://...", "prefix": "...", "ops": [op, ...]}
// where an op is {"op": "store", "entries": [[key, value], ...]} (a property array, read with
// Session.fromPropertyArray(entries, true)), {"op": "load", "id": ...},
// {"op": "find", "shop": ...}, {"op": "delete", "id": ...} or
// {"op": "deleteMany", "ids": [...]}, runs them in order, and prints one JSON array of results:
// true for stores and deletes, and for each loaded or found session
// {"object": toObject(), "array": toPropertyArray(true)} (null when a load finds nothing).
'use strict';

const {RedisSessionStorage} = require('@shopify/shopify-app-session-storage-redis');
const {Session} = require('@shopify/shopify-api');

function describe(session) {
  if (!session) return null;
  return JSON.parse(
    JSON.stringify({object: session.toObject(), array: session.toPropertyArray(true)}),
  );
}

async function run(storage, op) {
  switch (op.op) {
    case 'store':
      return storage.storeSession(Session.fromPropertyArray(op.entries, true));
    case 'load':
      return describe(await storage.loadSession(op.id));
    case 'find':
      return (await storage.findSessionsByShop(op.shop)).map(describe);
    case 'delete':
      return storage.deleteSession(op.id);
    case 'deleteMany':
      return storage.deleteSessions(op.ids);
    default:
      throw new Error(`unknown op ${op.op}`);
  }
}

async function main() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const {url, prefix, ops} = JSON.parse(input);
  const options = prefix ? {sessionKeyPrefix: prefix} : {};
  const storage = new RedisSessionStorage(url, options);
  await storage.ready;
  const results = [];
  try {
    for (const op of ops) results.push(await run(storage, op));
  } finally {
    await storage.disconnect();
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
