//! Session fidelity with Shopify's Node `Session` (`lib/session/session.ts` of
//! `@shopify/shopify-api`), case by case.
//!
//! Each case names the Node behaviour it pins and gives the session Node makes of a property
//! array, written out by hand from Node's source. Two tests read the same table:
//!
//! - `this_crate_reads_each_case_as_node_does` checks this crate against the expectations;
//! - `shopify_node_library_agrees_with_each_case` runs Shopify's real library (pinned in
//!   `tests/node/package.json`, installed by `.ci/run` or, when missing, by this test with
//!   `npm ci`) over the same cases, so that the expectations are Node's behaviour and not a
//!   reading of it. It also compares `toObject()`, both property arrays and `equals` directly.
//!
//! The one deliberate difference (user flags from the strings `"true"`/`"false"`) is a case of
//! its own: this crate must read it as written, and Node must still read `"false"` as `true`.

mod common;

use std::path::PathBuf;

use serde_json::{Value, json};
use shopify_session_storage::{Error, Session};

struct Case {
    /// The Node behaviour this case pins.
    name: &'static str,
    entries: Value,
    return_user_data: bool,
    /// `JSON.stringify(session)` of Node's result, with `state` and `isOnline` always present.
    expected: Value,
    /// `Some(what Node gives)` for the documented difference from Node.
    node_differs: Option<Value>,
}

fn case(name: &'static str, entries: Value, return_user_data: bool, expected: Value) -> Case {
    Case {
        name,
        entries,
        return_user_data,
        expected,
        node_differs: None,
    }
}

fn cases() -> Vec<Case> {
    let base = |extra: Value| {
        let mut session =
            json!({"id": "x", "shop": "s.myshopify.com", "state": "", "isOnline": false});
        session
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        session
    };
    vec![
        case(
            "keys are matched case-insensitively and renamed as Node renames them",
            json!([
                ["ID", "x"],
                ["SHOP", "s.myshopify.com"],
                ["State", "st"],
                ["ISONLINE", false],
                ["AccessToken", "tok"],
                ["REFRESHTOKEN", "r"],
                ["Scope", "read_products"]
            ]),
            true,
            base(
                json!({"state": "st", "accessToken": "tok", "refreshToken": "r", "scope": "read_products"}),
            ),
        ),
        case(
            "without user data, user keys stay top-level under Node's names",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["FirstName", "Grace"],
                ["USERID", 5],
                ["EMAIL", "g@example.com"],
                ["accountowner", true]
            ]),
            false,
            base(
                json!({"firstName": "Grace", "userId": 5, "email": "g@example.com", "accountOwner": true}),
            ),
        ),
        case(
            "every other key becomes its lower-case form",
            json!([["id", "x"], ["shop", "s.myshopify.com"], ["SomeField", 1], ["plan", {"tier": "plus"}]]),
            true,
            base(json!({"somefield": 1, "plan": {"tier": "plus"}})),
        ),
        case(
            "null values are dropped before anything else",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["scope", "a"],
                ["SCOPE", null],
                ["accessToken", null],
                ["custom", null]
            ]),
            true,
            base(json!({"scope": "a"})),
        ),
        case(
            "a repeated key keeps its last value, read at the place of its first",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["isOnline", true],
                ["userId", 1],
                ["onlineAccessInfo", 2],
                ["USERID", 3]
            ]),
            true,
            base(json!({"isOnline": true, "onlineAccessInfo": {"associated_user": {"id": 2}}})),
        ),
        case(
            "scope is coerced with toString: a number becomes its decimal text",
            json!([["id", "x"], ["shop", "s.myshopify.com"], ["scope", 5]]),
            true,
            base(json!({"scope": "5"})),
        ),
        case(
            "scope: an empty string stays an empty string",
            json!([["id", "x"], ["shop", "s.myshopify.com"], ["scope", ""]]),
            true,
            base(json!({"scope": ""})),
        ),
        case(
            "accessToken is not coerced: an empty one stays",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["accessToken", ""]
            ]),
            true,
            base(json!({"accessToken": ""})),
        ),
        case(
            "refreshToken: an empty string is absent",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["refreshToken", ""]
            ]),
            true,
            base(json!({})),
        ),
        case(
            "refreshToken: 0 is absent",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["refreshToken", 0],
                ["custom", 1]
            ]),
            true,
            base(json!({"custom": 1})),
        ),
        case(
            "refreshToken: a number becomes its text",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["refreshToken", 12]
            ]),
            true,
            base(json!({"refreshToken": "12"})),
        ),
        case(
            "isOnline from a string is toLowerCase() === 'true'",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["isOnline", "TRUE"]
            ]),
            true,
            base(json!({"isOnline": true, "onlineAccessInfo": {"associated_user": {}}})),
        ),
        case(
            "isOnline from the string \"1\" is false",
            json!([["id", "x"], ["shop", "s.myshopify.com"], ["isOnline", "1"]]),
            true,
            base(json!({})),
        ),
        case(
            "isOnline from a number is Boolean(value)",
            json!([["id", "x"], ["shop", "s.myshopify.com"], ["isOnline", 2]]),
            true,
            base(json!({"isOnline": true, "onlineAccessInfo": {"associated_user": {}}})),
        ),
        case(
            "expires that is 0 is absent",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["expires", 0],
                ["refreshTokenExpires", ""]
            ]),
            true,
            base(json!({})),
        ),
        case(
            "expires and refreshTokenExpires that are false are absent",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["expires", false],
                ["refreshTokenExpires", false]
            ]),
            true,
            base(json!({})),
        ),
        case(
            "expires goes through Number(value): numeric strings included",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["expires", "1700000000123"],
                ["refreshTokenExpires", 1_700_000_000_456_i64]
            ]),
            true,
            base(json!({"expires": "2023-11-14T22:13:20.123Z",
                        "refreshTokenExpires": "2023-11-14T22:13:20.456Z"})),
        ),
        case(
            "expires of \"0\" is truthy: the epoch",
            json!([["id", "x"], ["shop", "s.myshopify.com"], ["expires", "0"]]),
            true,
            base(json!({"expires": "1970-01-01T00:00:00.000Z"})),
        ),
        case(
            "an online session always gets onlineAccessInfo, with a user of no id when none is named",
            json!([["id", "x"], ["shop", "s.myshopify.com"], ["isOnline", true]]),
            false,
            base(json!({"isOnline": true, "onlineAccessInfo": {"associated_user": {}}})),
        ),
        case(
            "onlineAccessInfo is the user id, also without user data",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["isOnline", true],
                ["onlineaccessinfo", "12"]
            ]),
            false,
            base(json!({"isOnline": true, "onlineAccessInfo": {"associated_user": {"id": 12}}})),
        ),
        case(
            "with user data, the user keys make up the user: texts with String(value), flags with Boolean(value)",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["isOnline", true],
                ["userId", "7"],
                ["firstname", "Grace"],
                ["LastName", 42],
                ["email", "g@example.com"],
                ["locale", "en"],
                ["emailVerified", 1],
                ["accountOwner", 0],
                ["collaborator", ""]
            ]),
            true,
            base(
                json!({"isOnline": true, "onlineAccessInfo": {"associated_user": {
                "id": 7, "first_name": "Grace", "last_name": "42", "email": "g@example.com",
                "locale": "en", "email_verified": true, "account_owner": false, "collaborator": false}}}),
            ),
        ),
        case(
            "a user id goes through Number(value): 12.0 is 12",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["isOnline", true],
                ["userId", 12.0]
            ]),
            true,
            base(json!({"isOnline": true, "onlineAccessInfo": {"associated_user": {"id": 12}}})),
        ),
        case(
            "user flags: a non-empty string other than \"false\" is true",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["isOnline", true],
                ["accountOwner", "yes"],
                ["collaborator", "TRUE"]
            ]),
            true,
            base(
                json!({"isOnline": true, "onlineAccessInfo": {"associated_user": {
                "account_owner": true, "collaborator": true}}}),
            ),
        ),
        Case {
            node_differs: Some(
                json!({"isOnline": true, "onlineAccessInfo": {"associated_user": {
                "email_verified": true, "collaborator": true}}}),
            ),
            ..case(
                "deliberate difference: the user flag \"false\" is false (Node's Boolean(\"false\") is true)",
                json!([
                    ["id", "x"],
                    ["shop", "s.myshopify.com"],
                    ["isOnline", true],
                    ["emailVerified", "false"],
                    ["collaborator", "FALSE"]
                ]),
                true,
                base(
                    json!({"isOnline": true, "onlineAccessInfo": {"associated_user": {
                    "email_verified": false, "collaborator": false}}}),
                ),
            )
        },
        case(
            "an offline session gets no user: with user data its user keys are consumed",
            json!([
                ["id", "x"],
                ["shop", "s.myshopify.com"],
                ["isOnline", false],
                ["userId", 5],
                ["email", "g@example.com"],
                ["onlineAccessInfo", 5]
            ]),
            true,
            base(json!({})),
        ),
    ]
}

/// What `JSON.stringify(session)` shows of a Node session: every property that is set, empty
/// strings included (unlike `toObject()`, which this crate's `Serialize` follows).
fn as_node_sees_it(session: &Session) -> Value {
    let mut value = serde_json::to_value(session).unwrap();
    let object = value.as_object_mut().unwrap();
    for (key, field) in [
        ("scope", &session.scope),
        ("accessToken", &session.access_token),
        ("refreshToken", &session.refresh_token),
    ] {
        if let Some(text) = field {
            object.insert(key.into(), text.clone().into());
        }
    }
    value
}

fn entries(value: &Value) -> Vec<(String, Value)> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (pair[0].as_str().unwrap().to_string(), pair[1].clone()))
        .collect()
}

#[test]
fn this_crate_reads_each_case_as_node_does() {
    for case in cases() {
        let session = Session::from_property_array(&entries(&case.entries), case.return_user_data)
            .unwrap_or_else(|error| panic!("{}: {error}", case.name));
        assert_eq!(as_node_sees_it(&session), case.expected, "{}", case.name);
        let from_json = Session::from_property_array_json(&case.entries, case.return_user_data);
        assert_eq!(from_json.unwrap(), session, "{}: the JSON form", case.name);
    }
}

/// Values Node would turn into nonsense (`NaN`, an invalid date, `"[object Object]"`) are
/// errors that name the key; nothing is half-read.
#[test]
fn values_node_would_turn_into_nonsense_are_errors_naming_the_key() {
    let refused = [
        (json!(["expires", "soon"]), "`expires`"),
        (
            json!(["refreshTokenExpires", true]),
            "`refreshTokenExpires`",
        ),
        (json!(["onlineAccessInfo", "abc"]), "`onlineAccessInfo`"),
        (json!(["userId", -1]), "`userId`"),
        (json!(["firstName", {"given": "Grace"}]), "`firstName`"),
        (json!(["isOnline", {}]), "`isOnline`"),
        (json!(["scope", ["read_products"]]), "`scope`"),
        (json!(["accessToken", 5]), "`accessToken`"),
        (json!(["state", 1]), "`state`"),
    ];
    for (entry, key) in refused {
        let array = json!([
            ["id", "x"],
            ["shop", "s.myshopify.com"],
            ["isOnline", true],
            entry
        ]);
        let error = Session::from_property_array_json(&array, true).unwrap_err();
        assert!(
            matches!(error, Error::InvalidSession(_)) && error.to_string().contains(key),
            "{entry}: {error}"
        );
    }
    for (array, missing) in [
        (json!([["shop", "s.myshopify.com"]]), "`id`"),
        (json!([["id", "x"], ["id", null]]), "`shop`"),
    ] {
        let error = Session::from_property_array_json(&array, true).unwrap_err();
        assert!(error.to_string().contains(missing), "{array}: {error}");
    }
}

/// `to_property_array` writes the keys of `extra` after Node's; a Node-shaped reader gives the
/// same session back, with those keys lower-cased as Node's reader names them.
#[test]
fn a_written_property_array_reads_back_as_the_same_session() {
    let mut session = Session::new("s.myshopify.com_7", "s.myshopify.com", "st", true);
    session.scope = Some("read_products".into());
    session.access_token = Some("tok".into());
    session.refresh_token = Some("r".into());
    session.expires =
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123));
    let mut user = shopify_session_storage::AssociatedUser::new(7);
    user.first_name = Some("Grace".into());
    user.email_verified = Some(false);
    session.online_access_info = Some(shopify_session_storage::OnlineAccessInfo::new(user));
    session.extra.insert("plan".into(), json!({"tier": "plus"}));
    session.extra.insert("customField".into(), json!(1));

    let written = session.to_property_array(true);
    assert_eq!(
        written.last().unwrap().0,
        "plan",
        "extra keys follow Node's own keys"
    );
    let read = Session::from_property_array(&written, true).unwrap();
    assert!(read.equals(&session), "{read:?}");
    assert_eq!(read.extra.get("plan"), Some(&json!({"tier": "plus"})));
    assert_eq!(
        read.extra.get("customfield"),
        Some(&json!(1)),
        "lower-cased as Node reads it"
    );
    let mut expected = session.clone();
    expected.extra.remove("customField");
    expected.extra.insert("customfield".into(), json!(1));
    assert_eq!(read, expected);

    let without_user =
        Session::from_property_array(&session.to_property_array(false), false).unwrap();
    assert_eq!(
        without_user.online_access_info.unwrap().associated_user.id,
        Some(7)
    );
}

/// Pairs for `equals`, each with Node's answer.
fn equal_pairs() -> Vec<(&'static str, Value, Value, bool)> {
    let a = json!([
        ["id", "x"],
        ["shop", "s.myshopify.com"],
        ["state", "st"],
        ["isOnline", true],
        ["scope", "read"],
        ["expires", 1_700_000_000_123_i64],
        ["accessToken", "t"],
        ["userId", 7],
        ["email", "g@example.com"]
    ]);
    let with = |entry: Value| {
        let mut array = a.as_array().unwrap().clone();
        array.push(entry);
        Value::Array(array)
    };
    vec![
        ("the same session", a.clone(), a.clone(), true),
        (
            "unknown keys are ignored",
            a.clone(),
            with(json!(["custom", 1])),
            true,
        ),
        (
            "expires compared to the millisecond",
            a.clone(),
            with(json!(["expires", 1_700_000_000_124_i64])),
            false,
        ),
        (
            "a user field counts",
            a.clone(),
            with(json!(["email", "h@example.com"])),
            false,
        ),
        (
            "an empty scope is not an absent one",
            with(json!(["scope", null])),
            with(json!(["scope", ""])),
            false,
        ),
        (
            "state counts",
            a.clone(),
            with(json!(["state", "other"])),
            false,
        ),
    ]
}

#[test]
fn equals_follows_node() {
    for (name, a, b, equal) in equal_pairs() {
        let a = Session::from_property_array_json(&a, true).unwrap();
        let b = Session::from_property_array_json(&b, true).unwrap();
        assert_eq!(a.equals(&b), equal, "{name}");
        assert_eq!(b.equals(&a), equal, "{name}, the other way round");
    }
}

// ---- against Shopify's real Node library ----

/// Node leaves `state` and `isOnline` out when a property array has none; this crate's
/// `Session` always has them (`""` and `false`), as the README says.
fn with_state_and_is_online(mut node: Value) -> Value {
    let object = node.as_object_mut().unwrap();
    object.entry("state").or_insert_with(|| json!(""));
    object.entry("isOnline").or_insert_with(|| json!(false));
    node
}

/// The entries of an array that Node writes: this crate's own keys, without `extra`'s, and
/// without the `state` and `isOnline` that Node leaves out when it has none.
fn as_node_writes_it(session: &Session, array: Vec<(String, Value)>, node: &Value) -> Value {
    let node_has = |key: &str| node.as_array().unwrap().iter().any(|entry| entry[0] == key);
    Value::Array(
        array
            .into_iter()
            .filter(|(key, _)| !session.extra.contains_key(key))
            .filter(|(key, value)| match key.as_str() {
                "state" => node_has("state") || value != "",
                "isOnline" => node_has("isOnline") || value != false,
                _ => true,
            })
            .map(|(key, value)| json!([key, value]))
            .collect(),
    )
}

fn fixture_arrays() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut arrays = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains(".property-array") {
            let text = std::fs::read_to_string(&path).unwrap();
            arrays.push((name, serde_json::from_str(&text).unwrap()));
        }
    }
    arrays
}

#[test]
fn shopify_node_library_agrees_with_each_case() {
    let cases = cases();
    let fixtures = fixture_arrays();
    let mut inputs: Vec<(String, Value, bool)> = cases
        .iter()
        .map(|case| {
            (
                case.name.to_string(),
                case.entries.clone(),
                case.return_user_data,
            )
        })
        .collect();
    for (name, array) in &fixtures {
        inputs.push((
            format!("fixture {name} with user data"),
            array.clone(),
            true,
        ));
        inputs.push((
            format!("fixture {name} without user data"),
            array.clone(),
            false,
        ));
    }
    let pairs = equal_pairs();
    let request = json!({
        "cases": inputs.iter().map(|(_, entries, user)| json!({"entries": entries, "returnUserData": user})).collect::<Vec<_>>(),
        "equals": pairs.iter().map(|(_, a, b, _)| json!([a, b])).collect::<Vec<_>>(),
    });
    let answer = common::node::run("session.js", &request);

    for (index, (name, entries, user)) in inputs.iter().enumerate() {
        let node = &answer["cases"][index];
        let ours = Session::from_property_array_json(entries, *user)
            .unwrap_or_else(|error| panic!("{name}: {error}"));

        // The session itself.
        let node_session = with_state_and_is_online(node["own"].clone());
        match cases.get(index) {
            Some(case) => {
                let node_expected =
                    case.node_differs
                        .as_ref()
                        .map_or(case.expected.clone(), |node_gives| {
                            let mut expected = case.expected.clone();
                            expected
                                .as_object_mut()
                                .unwrap()
                                .extend(node_gives.as_object().unwrap().clone());
                            expected
                        });
                assert_eq!(node_session, node_expected, "Node on: {name}");
            }
            None => assert_eq!(node_session, as_node_sees_it(&ours), "{name}"),
        }

        // toObject(), and the property arrays Node writes, key for key and in Node's order.
        if cases
            .get(index)
            .is_some_and(|case| case.node_differs.is_some())
        {
            continue;
        }
        let mut our_object = serde_json::to_value(&ours).unwrap();
        our_object
            .as_object_mut()
            .unwrap()
            .retain(|key, _| !ours.extra.contains_key(key));
        assert_eq!(
            our_object,
            with_state_and_is_online(node["object"].clone()),
            "toObject: {name}"
        );
        for (user_data, node_array) in [(true, &node["array"]), (false, &node["arrayNoUser"])] {
            assert_eq!(
                as_node_writes_it(&ours, ours.to_property_array(user_data), node_array),
                *node_array,
                "toPropertyArray({user_data}): {name}"
            );
        }
    }

    for (index, (name, _, _, equal)) in pairs.iter().enumerate() {
        assert_eq!(
            answer["equals"][index],
            json!(equal),
            "Node's equals: {name}"
        );
    }
}
