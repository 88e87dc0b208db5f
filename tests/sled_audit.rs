//! `verify` and `repair` read the trees in one ordered pass (`audit.rs`): they must find
//! exactly what a key-by-key check finds, among shops that are prefixes of one another,
//! shared deadlines, corrupt records and keys this crate never writes.

mod common;

use std::{
    collections::BTreeSet,
    time::{Duration, UNIX_EPOCH},
};

use shopify_session_storage::{
    Session, SessionStorage, SledSessionStorage, VerifyProblem, internals::encode_record,
};

/// Shops that sort around one another: a prefix, and names one byte below and above it.
const SHOPS: [&str; 5] = ["a", "a.b", "a-b", "ab", "a\u{e9}"];

/// A deadline far ahead (so no sweep runs into it), shared by groups of sessions.
fn deadline_ms(n: usize) -> Option<u64> {
    (n % 3 != 0).then(|| 4_000_000_000_000 + (n % 4) as u64)
}

fn session(n: usize) -> Session {
    let shop = SHOPS[n % SHOPS.len()];
    // Ids of several lengths, so that an id is sometimes a prefix of another.
    let mut session = Session::new(format!("{}", n * 7 % 100), shop, "", false);
    session.access_token = Some(format!("token-{n}"));
    session.expires = deadline_ms(n).map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    session
}

fn shop_key(shop: &str, id: &str) -> Vec<u8> {
    [shop.as_bytes(), &[0], id.as_bytes()].concat()
}

fn expiry_key(deadline_ms: u64, id: &str) -> Vec<u8> {
    [&deadline_ms.to_be_bytes()[..], id.as_bytes()].concat()
}

/// What `verify` finds, in any order, as text.
fn problems(found: &[VerifyProblem]) -> BTreeSet<String> {
    found.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn verify_and_repair_find_exactly_the_damage_and_open_repairs_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let sessions: Vec<Session> = (0..100).map(session).collect();
    let storage = SledSessionStorage::open(&path).unwrap();
    for session in &sessions {
        storage.store_session(session).await.unwrap();
    }
    assert!(storage.verify().await.unwrap().is_clean());
    storage.close().await.unwrap();

    // Damage, each kind more than once; the database stays marked clean, so open leaves it.
    let of = |n: usize| &sessions[n];
    let deadline = |n: usize| deadline_ms(n).expect("a session with a deadline");
    let mut expected = BTreeSet::new();
    {
        let db = common::open_raw(&path);
        let records = db.open_tree("sessions").unwrap();
        let by_shop = db.open_tree("by_shop").unwrap();
        let by_expiry = db.open_tree("by_expiry").unwrap();
        for n in [1, 2, 13, 99] {
            by_shop.remove(shop_key(&of(n).shop, &of(n).id)).unwrap();
            expected.insert(
                VerifyProblem::MissingShopEntry {
                    id: of(n).id.clone(),
                    shop: of(n).shop.clone(),
                }
                .to_string(),
            );
        }
        for n in [2, 5, 98] {
            by_expiry
                .remove(expiry_key(deadline(n), &of(n).id))
                .unwrap();
            expected.insert(
                VerifyProblem::MissingExpiryEntry {
                    id: of(n).id.clone(),
                    deadline_ms: deadline(n),
                }
                .to_string(),
            );
        }
        // The first and last entry of each index, where the pass starts and ends.
        for key in [by_shop.first(), by_shop.last()] {
            let (key, _) = key.unwrap().unwrap();
            by_shop.remove(&key).unwrap();
            let at = key.iter().position(|&byte| byte == 0).unwrap();
            let id = String::from_utf8(key[at + 1..].to_vec()).unwrap();
            let shop = String::from_utf8(key[..at].to_vec()).unwrap();
            expected.insert(VerifyProblem::MissingShopEntry { id, shop }.to_string());
        }
        for key in [by_expiry.first(), by_expiry.last()] {
            let (key, _) = key.unwrap().unwrap();
            by_expiry.remove(&key).unwrap();
            let deadline_ms = u64::from_be_bytes(key[..8].try_into().unwrap());
            let id = String::from_utf8(key[8..].to_vec()).unwrap();
            expected.insert(VerifyProblem::MissingExpiryEntry { id, deadline_ms }.to_string());
        }
        // Stale: another shop, a gone id, another deadline, a record without a deadline.
        for (shop, id) in [("a.b", of(0).id.as_str()), ("ab", "gone"), ("a", &of(1).id)] {
            by_shop.insert(shop_key(shop, id), &[]).unwrap();
            expected.insert(
                VerifyProblem::StaleShopEntry {
                    shop: shop.into(),
                    id: id.into(),
                }
                .to_string(),
            );
        }
        for (deadline_ms, id) in [
            (deadline(1) + 1, of(1).id.as_str()),
            (7, "gone"),
            (9, &of(3).id),
        ] {
            by_expiry.insert(expiry_key(deadline_ms, id), &[]).unwrap();
            expected.insert(
                VerifyProblem::StaleExpiryEntry {
                    deadline_ms,
                    id: id.into(),
                }
                .to_string(),
            );
        }
        // Keys this crate never writes, sorting before every other key (so that the last
        // entries' absence is found at the end of the pass).
        for (tree, key) in [(&by_shop, &b"!"[..]), (&by_expiry, &b"\0\x01"[..])] {
            tree.insert(key, &[]).unwrap();
            let name = if tree.name() == by_shop.name() {
                "by_shop"
            } else {
                "by_expiry"
            };
            expected.insert(
                VerifyProblem::MalformedIndexKey {
                    tree: name,
                    key: key.to_vec(),
                }
                .to_string(),
            );
        }
        // A corrupt record keeps its index entries, and they are not reported as stale.
        records
            .insert(of(4).id.as_bytes(), &b"\x02not bincode"[..])
            .unwrap();
        // A record that decodes, under a key no id can be: corrupt too, named by its raw key.
        let record = encode_record(of(10), None).unwrap();
        records.insert(&b"\xff\xfe"[..], record).unwrap();
        db.flush().unwrap();
    }

    let storage = SledSessionStorage::open(&path).unwrap();
    let report = storage.verify().await.unwrap();
    assert_eq!(report.records, sessions.len() + 1);
    let found = problems(&report.problems);
    let corrupt: Vec<&str> = report
        .problems
        .iter()
        .filter_map(|problem| match problem {
            VerifyProblem::Corrupt { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(corrupt, [of(4).id.as_str(), "\u{fffd}\u{fffd}"]);
    let without_corrupt: BTreeSet<String> = found
        .into_iter()
        .filter(|text| !text.contains("is corrupt"))
        .collect();
    assert_eq!(without_corrupt, expected);

    let repaired = storage.repair().await.unwrap();
    assert_eq!(repaired.records, sessions.len() + 1);
    assert_eq!(repaired.corrupt, 2);
    assert_eq!(
        repaired.missing_rebuilt,
        expected
            .iter()
            .filter(|text| text.contains("has no"))
            .count()
    );
    assert_eq!(repaired.stale_removed, 3 + 3 + 2);
    let report = storage.verify().await.unwrap();
    assert_eq!(
        report.problems.len(),
        2,
        "only the corrupt records: {report}"
    );
    for shop in SHOPS {
        let mut found: Vec<String> = storage
            .find_sessions_by_shop(shop)
            .await
            .unwrap()
            .into_iter()
            .map(|session| session.id)
            .collect();
        found.sort();
        let mut wanted: Vec<String> = sessions
            .iter()
            .filter(|session| session.shop == shop && session.id != of(4).id)
            .map(|session| session.id.clone())
            .collect();
        wanted.sort();
        assert_eq!(found, wanted, "{shop}");
    }
    storage.close().await.unwrap();

    // A crash: the marker says the process never closed, and the damage is back. Open repairs
    // it from its own pass.
    {
        let db = common::open_raw(&path);
        let by_shop = db.open_tree("by_shop").unwrap();
        let by_expiry = db.open_tree("by_expiry").unwrap();
        by_shop.remove(shop_key(&of(7).shop, &of(7).id)).unwrap();
        by_expiry.insert(expiry_key(1, "gone"), &[]).unwrap();
        db.insert("meta", &[1, 1, 0]).unwrap();
        db.flush().unwrap();
    }
    let storage = SledSessionStorage::open(&path).unwrap();
    let report = storage.verify().await.unwrap();
    assert_eq!(
        report.problems.len(),
        2,
        "only the corrupt records: {report}"
    );
    assert!(
        storage
            .find_sessions_by_shop(&of(7).shop)
            .await
            .unwrap()
            .contains(of(7))
    );
}

/// Stores, deletes and deadline changes while `verify` and `repair` run: the pass sees the
/// trees mid-change, and the second look under each id's lock must clear all of it. Nothing
/// is reported missing, an index entry removed since the pass is not reported at all, and
/// repair removes nothing a write still needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_repair_during_writes_report_nothing_missing_and_break_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SledSessionStorage::open(dir.path().join("db")).unwrap();
    for n in 0..3_000 {
        storage.store_session(&session(n)).await.unwrap();
    }
    let writer = {
        let storage = storage.clone();
        tokio::spawn(async move {
            for round in 1..=4 {
                for n in 0..3_000 {
                    match (n + round) % 3 {
                        0 => storage.delete_session(&session(n).id).await.unwrap(),
                        1 => {
                            let mut moved = session(n);
                            moved.expires = deadline_ms(n + round).map(|ms| {
                                UNIX_EPOCH + Duration::from_millis(ms + 1_000 * round as u64)
                            });
                            storage.store_session(&moved).await.unwrap()
                        }
                        _ => storage.store_session(&session(n)).await.unwrap(),
                    };
                }
            }
        })
    };
    let mut passes = 0;
    while !writer.is_finished() {
        let report = storage.verify().await.unwrap();
        assert!(report.is_sound(), "{report}");
        storage.repair().await.unwrap();
        passes += 1;
    }
    writer.await.unwrap();
    assert!(passes > 0);
    let report = storage.verify().await.unwrap();
    assert!(report.is_clean(), "{report}");
}
