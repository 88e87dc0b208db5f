// Made tests/fixtures/shopify-sqlite-adapter-8.0.0.{sqlite,loaded.json}: writes sessions through
// Shopify's real SQLite adapter, then prints what it loads back. Not run by the tests (the
// adapter needs node-sqlite3, a native build of several minutes); to make the fixture again:
//   npm install @shopify/shopify-app-session-storage-sqlite@8.0.0 @shopify/shopify-api@15
//   node sqlite_fixture.js ../fixtures/shopify-sqlite-adapter-8.0.0.sqlite > ../fixtures/shopify-sqlite-adapter-8.0.0.loaded.json
const {SQLiteSessionStorage} = require('@shopify/shopify-app-session-storage-sqlite');
const {Session} = require('@shopify/shopify-api');
const fs = require('fs');
async function main() {
  const file = process.argv[2];
  try { fs.unlinkSync(file); } catch {}
  const storage = new SQLiteSessionStorage(file);
  await storage.ready;
  const far = new Date(Date.UTC(2099, 0, 2, 3, 4, 5, 678));
  const sessions = [
    new Session({id: 'offline_sqlite-demo.myshopify.com', shop: 'sqlite-demo.myshopify.com', state: 'state1', isOnline: false, scope: 'read_products,write_orders', accessToken: 'shpat_real_adapter'}),
    new Session({id: 'offline_expiring-demo.myshopify.com', shop: 'expiring-demo.myshopify.com', state: '', isOnline: false, scope: 'read_products', accessToken: 'shpat_expiring', expires: new Date(Date.UTC(2099, 0, 1)), refreshToken: 'shprt_real', refreshTokenExpires: far}),
    new Session({id: 'sqlite-demo.myshopify.com_12345678901', shop: 'sqlite-demo.myshopify.com', state: 'state2', isOnline: true, scope: 'read_products', accessToken: 'shpua_online', expires: far,
      onlineAccessInfo: {expires_in: 86400, associated_user_scope: 'read_products', associated_user: {id: 12345678901, first_name: 'Ada', last_name: 'Lovelace', email: 'ada@example.com', email_verified: true, account_owner: true, locale: 'en-GB', collaborator: false}}}),
    new Session({id: 'offline_gone.myshopify.com', shop: 'gone.myshopify.com', state: '', isOnline: false, accessToken: 'shpat_gone', expires: new Date(Date.UTC(2020, 0, 1))}),
  ];
  for (const s of sessions) await storage.storeSession(s);
  const loaded = [];
  for (const s of sessions) { const l = await storage.loadSession(s.id); loaded.push(l ? l.toObject() : null); }
  process.stdout.write(JSON.stringify(loaded, null, 2));
}
main().catch((e) => { console.error(e); process.exit(1); });
