-- The truth the caches sit in front of. The names carry the topic, so these tables can share a
-- database file with other topics' tables.
-- Post ids are given by the seed (1..=N, so the demo can pick hot and cold posts by id).
CREATE TABLE IF NOT EXISTS caching_posts (
    id            INTEGER PRIMARY KEY,
    title         TEXT   NOT NULL,
    body          TEXT   NOT NULL,
    -- Goes up by one on every update: the ETag, and what versioned fills compare.
    version       BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- One row per like: "top posts" groups all of them, which is what makes it the expensive read.
-- INTEGER PRIMARY KEY is SQLite's rowid: it numbers itself, like BIGSERIAL.
CREATE TABLE IF NOT EXISTS caching_likes (
    id      INTEGER PRIMARY KEY,
    post_id BIGINT NOT NULL REFERENCES caching_posts (id),
    user_id BIGINT NOT NULL
);
