// Runs Shopify's own Session class over the cases tests/node_session.rs sends on stdin:
//   {"cases": [{"entries": [[key, value], ...], "returnUserData": bool}, ...],
//    "equals": [[entriesA, entriesB], ...]}
// and prints, for each case, what Node makes of it (JSON.stringify of the session itself, of
// toObject(), and both property arrays), and for each pair, Session#equals.
'use strict';

const {Session} = require('@shopify/shopify-api');

function roundTrip(value) {
  return JSON.parse(JSON.stringify(value));
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  input += chunk;
});
process.stdin.on('end', () => {
  const {cases, equals} = JSON.parse(input);
  const results = cases.map(({entries, returnUserData}) => {
    const session = Session.fromPropertyArray(entries, returnUserData);
    return {
      own: roundTrip(session),
      object: roundTrip(session.toObject()),
      array: roundTrip(session.toPropertyArray(true)),
      arrayNoUser: roundTrip(session.toPropertyArray(false)),
    };
  });
  const equal = equals.map(([a, b]) =>
    Session.fromPropertyArray(a, true).equals(Session.fromPropertyArray(b, true)),
  );
  process.stdout.write(JSON.stringify({cases: results, equals: equal}));
});
