-- The Conduit data model (SQLite: `INTEGER PRIMARY KEY` is the rowid; timestamps are text that sorts). Names are prefixed (`blog_`) so the tables can share a database with
-- the topic crates' tables without colliding.
CREATE TABLE IF NOT EXISTS blog_users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    bio           TEXT,
    image         TEXT
);

-- Who follows whom; the feed reads it by follower.
CREATE TABLE IF NOT EXISTS blog_follows (
    follower_id BIGINT NOT NULL REFERENCES blog_users (id) ON DELETE CASCADE,
    followee_id BIGINT NOT NULL REFERENCES blog_users (id) ON DELETE CASCADE,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX IF NOT EXISTS blog_follows_followee_idx ON blog_follows (followee_id);

CREATE TABLE IF NOT EXISTS blog_articles (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    slug        TEXT      NOT NULL UNIQUE,
    title       TEXT      NOT NULL,
    description TEXT      NOT NULL,
    body        TEXT      NOT NULL,
    author_id   BIGINT    NOT NULL REFERENCES blog_users (id) ON DELETE CASCADE,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
-- Every list is newest first; the keyset cursor seeks into these.
CREATE INDEX IF NOT EXISTS blog_articles_feed_idx ON blog_articles (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS blog_articles_author_idx ON blog_articles (author_id, created_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS blog_article_tags (
    article_id BIGINT NOT NULL REFERENCES blog_articles (id) ON DELETE CASCADE,
    tag        TEXT   NOT NULL,
    PRIMARY KEY (article_id, tag)
);
CREATE INDEX IF NOT EXISTS blog_article_tags_tag_idx ON blog_article_tags (tag, article_id);

CREATE TABLE IF NOT EXISTS blog_favorites (
    user_id    BIGINT NOT NULL REFERENCES blog_users (id) ON DELETE CASCADE,
    article_id BIGINT NOT NULL REFERENCES blog_articles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, article_id)
);
CREATE INDEX IF NOT EXISTS blog_favorites_article_idx ON blog_favorites (article_id);

CREATE TABLE IF NOT EXISTS blog_comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id BIGINT    NOT NULL REFERENCES blog_articles (id) ON DELETE CASCADE,
    author_id  BIGINT    NOT NULL REFERENCES blog_users (id) ON DELETE CASCADE,
    body       TEXT      NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS blog_comments_article_idx ON blog_comments (article_id, id);

-- What the background job writes: one row per follower of an author who published.
CREATE TABLE IF NOT EXISTS blog_notifications (
    user_id    BIGINT    NOT NULL REFERENCES blog_users (id) ON DELETE CASCADE,
    article_id BIGINT    NOT NULL REFERENCES blog_articles (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, article_id)
);
