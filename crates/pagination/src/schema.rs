//! The one table both schemes read. Its name is prefixed so that it can live in a shared
//! database next to other topics' tables without colliding.

diesel::table! {
    /// A feed of posts, read newest first (`created_at DESC, id DESC`).
    pagination_posts (id) {
        id -> BigInt,
        created_at -> Timestamp,
        author -> Text,
        title -> Text,
        body -> Text,
    }
}
