//! Properties over whole input spaces: slugs from any title, bodies of any bytes.

use mini_blog::Error;
use mini_blog::body::parse;
use mini_blog::model::NewArticleRequest;
use mini_blog::validate::slugify;
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_title_gives_a_non_empty_url_safe_slug(title in ".{0,200}") {
        let slug = slugify(&title);
        prop_assert!(!slug.is_empty());
        prop_assert!(!slug.starts_with('-') && !slug.ends_with('-'), "{slug}");
        prop_assert!(!slug.contains("--"), "{slug}");
        prop_assert!(slug.chars().all(|c| c == '-' || c.is_alphanumeric()), "{slug}");
        prop_assert!(slug.chars().count() <= 80);
        prop_assert_eq!(slugify(&slug), slug.clone(), "a slug is its own slug");
    }

    #[test]
    fn any_bytes_as_a_body_are_an_article_or_a_400_or_a_422_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        match parse::<NewArticleRequest>(&bytes) {
            Ok(_) | Err(Error::MalformedBody(_) | Error::Invalid(_)) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn any_json_value_as_a_body_is_classified_as_shape_not_syntax(value in any_json()) {
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        match parse::<NewArticleRequest>(&bytes) {
            Ok(_) | Err(Error::Invalid(_)) => {}
            Err(other) => prop_assert!(false, "well-formed JSON answered {other:?}"),
        }
    }
}

fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,10}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("article".to_owned()),
                    Just("title".to_owned()),
                    Just("tagList".to_owned()),
                    ".{0,6}"
                ],
                inner,
                0..4
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
