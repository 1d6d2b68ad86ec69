//! `GET /api/tags`: every tag in use, sorted.

use actix_web::{HttpResponse, get, web};
use diesel::prelude::*;

use crate::error::Error;
use crate::model::TagsResponse;
use crate::schema::blog_article_tags as t;
use crate::state::AppState;

/// Every tag in use.
#[utoipa::path(
    tag = "tags",
    responses((status = 200, description = "The tags, sorted", body = TagsResponse))
)]
#[get("/tags")]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    // A DISTINCT over every (tag, article) row: PostgreSQL scans and hashes them all (about 10 ms
    // for the demo's 38,000 rows, the slowest endpoint in the benchmark). A `tags` table kept on
    // write, or a cached list invalidated like the top list, would make it a lookup.
    let tags = state
        .db
        .interact(|c| {
            t::table
                .select(t::tag)
                .distinct()
                .order(t::tag)
                .load::<String>(c)
        })
        .await?;
    Ok(HttpResponse::Ok().json(TagsResponse { tags }))
}
