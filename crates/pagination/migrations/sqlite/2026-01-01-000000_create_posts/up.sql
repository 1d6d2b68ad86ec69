-- The feed: newest first, `id` breaks ties between posts created in the same instant.
-- `created_at` is TEXT in the `YYYY-MM-DD HH:MM:SS[.ffffff]` form diesel writes, which sorts
-- correctly as text.
CREATE TABLE IF NOT EXISTS pagination_posts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TIMESTAMP NOT NULL,
    author     TEXT      NOT NULL,
    title      TEXT      NOT NULL,
    body       TEXT      NOT NULL
);

-- The index both schemes sort by. A keyset query seeks into it; an offset query walks it.
CREATE INDEX IF NOT EXISTS pagination_posts_feed_idx
    ON pagination_posts (created_at DESC, id DESC);
