DROP TABLE IF EXISTS pagination_posts;
