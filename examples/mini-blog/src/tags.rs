//! `GET /api/tags`: every tag in use, sorted.
//!
//! Every RealWorld front end asks for the tags on every page, and there are few distinct tags
//! among many (tag, article) rows. `SELECT DISTINCT tag` reads all of those rows: PostgreSQL
//! scans and hashes the whole table (about 10 ms for the demo's 38,000 rows, by EXPLAIN
//! ANALYZE). A *loose index scan* asks the `(tag, article_id)` index for the smallest tag, then
//! for the smallest tag after that one, and so on: one index probe per distinct tag (13 probes,
//! about 0.3 ms, on the same data). Neither PostgreSQL nor SQLite plans that by itself, so the
//! query spells it out as a recursive CTE that both run. No cache, so nothing to invalidate: a
//! new tag is in the very next answer.

use actix_web::{HttpResponse, get, web};
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::error::Error;
use crate::model::TagsResponse;
use crate::state::AppState;

/// Each step takes the smallest tag after the previous one, through the index; the step after
/// the last tag yields NULL, which ends the recursion. `MIN` rather than `ORDER BY … LIMIT 1`
/// because SQLite allows no `LIMIT` inside a compound select's arms.
const DISTINCT_TAGS: &str = "\
    WITH RECURSIVE found(tag) AS ( \
        SELECT MIN(tag) FROM blog_article_tags \
        UNION ALL \
        SELECT (SELECT MIN(t.tag) FROM blog_article_tags t WHERE t.tag > found.tag) \
          FROM found WHERE found.tag IS NOT NULL \
    ) \
    SELECT tag FROM found WHERE tag IS NOT NULL ORDER BY tag";

#[derive(Debug, QueryableByName)]
struct TagRow {
    #[diesel(sql_type = Text)]
    tag: String,
}

/// Every tag in use.
#[utoipa::path(
    tag = "tags",
    responses((status = 200, description = "The tags, sorted", body = TagsResponse))
)]
#[get("/tags")]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let rows = state
        .db
        .interact(|c| diesel::sql_query(DISTINCT_TAGS).load::<TagRow>(c))
        .await?;
    let tags = rows.into_iter().map(|row| row.tag).collect();
    Ok(HttpResponse::Ok().json(TagsResponse { tags }))
}
