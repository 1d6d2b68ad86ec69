//! diesel's view of the two tables (created by the migrations under `migrations/`). A leaf
//! module: the store queries these tables and the model derives its row types from them, and
//! neither has to import the other for it.

diesel::table! {
    caching_posts (id) {
        id -> BigInt,
        title -> Text,
        body -> Text,
        version -> BigInt,
        updated_at_ms -> BigInt,
    }
}

diesel::table! {
    caching_likes (id) {
        id -> BigInt,
        post_id -> BigInt,
        user_id -> BigInt,
    }
}

diesel::joinable!(caching_likes -> caching_posts (post_id));
diesel::allow_tables_to_appear_in_same_query!(caching_posts, caching_likes);
