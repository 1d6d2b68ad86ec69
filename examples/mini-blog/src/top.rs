//! `GET /api/articles/top` (an extension to the spec): the most favourited articles, cached.
//!
//! Read path: the cache ([`TopCache`](crate::top_cache::TopCache), moka in front of Redis) →
//! on a miss, the aggregate below, then a fill. The answer says which in `X-Cache: hit|miss`.
//! The cached document is the anonymous view; for a logged-in reader `favorited` and
//! `following` are filled in with two indexed lookups, so a personal view never enters the
//! shared cache.

use std::collections::HashSet;

use actix_web::{HttpResponse, get, web};
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::error::Error;
use crate::model::MultipleArticlesResponse;
use crate::queries::{self, ArticleRow};
use crate::schema::{blog_articles as a, blog_favorites as f, blog_follows as fo};
use crate::state::AppState;
use crate::token::MaybeUser;
use crate::top_cache::{Ranked, Source};

/// The ranking from the database: favourites grouped by article, most first (ties: newer
/// article first), then those articles' anonymous views. The `GROUP BY` reads every favourite:
/// this is the cost the cache saves.
pub fn compute(conn: &mut AnyConnection, size: u32) -> QueryResult<Vec<Ranked>> {
    let ranked: Vec<(i64, i64)> = f::table
        .group_by(f::article_id)
        .select((f::article_id, diesel::dsl::count_star()))
        .order((diesel::dsl::count_star().desc(), f::article_id.desc()))
        .limit(i64::from(size))
        .load(conn)?;
    let ids: Vec<i64> = ranked.iter().map(|(id, _)| *id).collect();
    let mut rows: Vec<ArticleRow> = a::table
        .filter(a::id.eq_any(&ids))
        .select(ArticleRow::as_select())
        .load(conn)?;
    rows.sort_by_key(|row| ids.iter().position(|id| *id == row.id));
    let authors: Vec<i64> = rows.iter().map(|r| r.author_id).collect();
    let views = queries::article_views(conn, rows, None)?;
    Ok(views
        .into_iter()
        .zip(ids)
        .zip(authors)
        .map(|((article, article_id), author_id)| Ranked {
            article_id,
            author_id,
            item: article.into(),
        })
        .collect())
}

/// The top list and where it came from.
pub async fn ranking(state: &AppState) -> Result<(Vec<Ranked>, Source), Error> {
    if let Some(ranking) = state.top.get().await {
        return Ok((ranking, Source::Cache));
    }
    let version = state.top.begin_load().await;
    let size = state.config.top_size;
    let ranking = state.db.interact(move |c| compute(c, size)).await?;
    state.top.fill(version, &ranking).await;
    Ok((ranking, Source::Database))
}

/// The most favourited articles.
#[utoipa::path(
    tag = "articles",
    responses(
        (status = 200, description = "The most favourited articles, most first; `X-Cache` says whether the list came from the cache", body = MultipleArticlesResponse),
        (status = 401, description = "A token was sent and is bad", body = crate::model::GenericErrorModel),
    )
)]
#[get("/articles/top")]
pub async fn top(state: web::Data<AppState>, viewer: MaybeUser) -> Result<HttpResponse, Error> {
    let (mut ranking, source) = ranking(&state).await?;
    if let Some(me) = viewer.id() {
        let ids: Vec<i64> = ranking.iter().map(|r| r.article_id).collect();
        let authors: Vec<i64> = ranking.iter().map(|r| r.author_id).collect();
        let (favorited, following) = state
            .db
            .interact(move |c| {
                let favorited: HashSet<i64> = f::table
                    .filter(f::user_id.eq(me))
                    .filter(f::article_id.eq_any(&ids))
                    .select(f::article_id)
                    .load::<i64>(c)?
                    .into_iter()
                    .collect();
                let following: HashSet<i64> = fo::table
                    .filter(fo::follower_id.eq(me))
                    .filter(fo::followee_id.eq_any(&authors))
                    .select(fo::followee_id)
                    .load::<i64>(c)?
                    .into_iter()
                    .collect();
                Ok((favorited, following))
            })
            .await?;
        for ranked in &mut ranking {
            ranked.item.favorited = favorited.contains(&ranked.article_id);
            ranked.item.author.following = following.contains(&ranked.author_id);
        }
    }
    let count = i64::try_from(ranking.len()).unwrap_or(i64::MAX);
    Ok(HttpResponse::Ok()
        .insert_header(("X-Cache", source.header()))
        .json(MultipleArticlesResponse {
            articles: ranking.into_iter().map(|r| r.item).collect(),
            articles_count: count,
        }))
}
