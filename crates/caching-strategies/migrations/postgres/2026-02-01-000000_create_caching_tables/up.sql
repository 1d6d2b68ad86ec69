-- The truth the caches sit in front of. The names carry the topic, so these tables can share the
-- default database with other topics' tables.
-- Post ids are given by the seed (1..=N, so the demo can pick hot and cold posts by id), not by
-- a sequence.
CREATE TABLE IF NOT EXISTS caching_posts (
    id            BIGINT PRIMARY KEY,
    title         TEXT   NOT NULL,
    body          TEXT   NOT NULL,
    -- Goes up by one on every update: the ETag, and what versioned fills compare.
    version       BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

-- One row per like: "top posts" groups all of them, which is what makes it the expensive read.
CREATE TABLE IF NOT EXISTS caching_likes (
    id      BIGSERIAL PRIMARY KEY,
    post_id BIGINT NOT NULL REFERENCES caching_posts (id),
    user_id BIGINT NOT NULL
);
