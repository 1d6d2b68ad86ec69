//! The tables, as diesel sees them (the migrations under `migrations/` create them, one set per
//! dialect). Prefixed `blog_` so they can share a database with the topic crates' tables.

diesel::table! {
    blog_users (id) {
        id -> BigInt,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        bio -> Nullable<Text>,
        image -> Nullable<Text>,
    }
}

diesel::table! {
    blog_follows (follower_id, followee_id) {
        follower_id -> BigInt,
        followee_id -> BigInt,
    }
}

diesel::table! {
    blog_articles (id) {
        id -> BigInt,
        slug -> Text,
        title -> Text,
        description -> Text,
        body -> Text,
        author_id -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    blog_article_tags (article_id, tag) {
        article_id -> BigInt,
        tag -> Text,
    }
}

diesel::table! {
    blog_favorites (user_id, article_id) {
        user_id -> BigInt,
        article_id -> BigInt,
    }
}

diesel::table! {
    blog_comments (id) {
        id -> BigInt,
        article_id -> BigInt,
        author_id -> BigInt,
        body -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    blog_notifications (user_id, article_id) {
        user_id -> BigInt,
        article_id -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::joinable!(blog_articles -> blog_users (author_id));
diesel::joinable!(blog_comments -> blog_users (author_id));
diesel::joinable!(blog_comments -> blog_articles (article_id));
diesel::joinable!(blog_article_tags -> blog_articles (article_id));
diesel::joinable!(blog_favorites -> blog_articles (article_id));
diesel::joinable!(blog_favorites -> blog_users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    blog_users,
    blog_follows,
    blog_articles,
    blog_article_tags,
    blog_favorites,
    blog_comments,
    blog_notifications,
);
diesel::joinable!(blog_notifications -> blog_articles (article_id));
