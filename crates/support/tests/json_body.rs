//! `json_body::read` draws the 400/422 line where the bytes draw it: JSON of any shape is never
//! called "not JSON", and bytes that are not JSON never pass for a wrong shape.

use proptest::prelude::*;
use serde::Deserialize;
use support::json_body::{BodyFault, read};

/// A body with an object, a list and scalars: enough shapes for serde to fail in every way.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Note {
    title: String,
    tags: Vec<String>,
    pinned: Option<bool>,
}

fn fault(bytes: &str) -> BodyFault {
    match read::<Note>(bytes.as_bytes()) {
        Ok(note) => panic!("{bytes} was read as {note:?}"),
        Err(fault) => fault,
    }
}

#[test]
fn truncated_or_trailing_bytes_are_not_json() {
    for body in [
        r#"{"title": "#,
        r#"{"title": "x", "tags": []} trailing"#,
        "",
        "nul",
    ] {
        assert!(matches!(fault(body), BodyFault::NotJson { .. }), "{body}");
    }
}

#[test]
fn well_formed_json_of_the_wrong_shape_names_the_field() {
    assert_eq!(
        fault(r#"{"title": "x", "tags": [1]}"#),
        BodyFault::WrongShape {
            field: "tags[0]".to_owned(),
            why: "invalid type: integer `1`, expected a string".to_owned()
        }
    );
    assert!(matches!(
        fault(r#"{"title": "x"}"#),
        BodyFault::WrongShape { .. }
    ));
}

#[test]
fn an_array_with_items_left_over_is_the_wrong_shape_not_bad_syntax() {
    assert_eq!(
        fault(r#"["x", [], null, 1]"#),
        BodyFault::WrongShape {
            field: String::new(),
            why: "has more items than expected".to_owned()
        }
    );
}

fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("title".to_owned()),
                    Just("tags".to_owned()),
                    Just("pinned".to_owned()),
                    ".{0,4}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Arbitrary bytes (rarely JSON), and JSON documents with a few characters cut off or appended
/// (often not JSON, sometimes still JSON: `1` followed by `2` is `12`).
fn almost_json() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (any_json(), 0..3usize, "[ \\]}0-9a-z,:\"]{0,3}").prop_map(|(value, cut, tail)| {
            let mut bytes = serde_json::to_vec(&value).unwrap_or_default();
            bytes.truncate(bytes.len().saturating_sub(cut));
            bytes.extend_from_slice(tail.as_bytes());
            bytes
        }),
    ]
}

proptest! {
    #[test]
    fn json_of_any_shape_is_read_or_named_a_wrong_shape_never_not_json(value in any_json()) {
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        let outcome = read::<Note>(&bytes);
        prop_assert!(
            !matches!(outcome, Err(BodyFault::NotJson { .. })),
            "{value} was called not JSON: {outcome:?}"
        );
    }

    #[test]
    fn bytes_are_not_json_exactly_when_a_json_parser_refuses_them(bytes in almost_json()) {
        let parses = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok();
        let outcome = read::<Note>(&bytes);
        prop_assert_eq!(
            matches!(outcome, Err(BodyFault::NotJson { .. })),
            !parses,
            "{:?}: {:?}", String::from_utf8_lossy(&bytes), outcome
        );
    }
}
