DROP TABLE IF EXISTS caching_likes;
DROP TABLE IF EXISTS caching_posts;
