//! The `uploads` table, as diesel sees it (the same columns on PostgreSQL and SQLite).

diesel::table! {
    uploads (id) {
        id -> Text,
        owner -> Text,
        original_name -> Text,
        storage_key -> Text,
        via -> Text,
        size -> BigInt,
        declared_type -> Nullable<Text>,
        detected_type -> Nullable<Text>,
        sha256 -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        confirmed_at -> Nullable<Timestamp>,
    }
}
