DROP TABLE IF EXISTS blog_notifications;
DROP TABLE IF EXISTS blog_comments;
DROP TABLE IF EXISTS blog_favorites;
DROP TABLE IF EXISTS blog_article_tags;
DROP TABLE IF EXISTS blog_articles;
DROP TABLE IF EXISTS blog_follows;
DROP TABLE IF EXISTS blog_users;
