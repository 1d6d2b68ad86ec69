//! `/api/articles/{slug}/favorite`: favourite and unfavourite. Both are idempotent (the row's
//! key is the pair), and both change the top list, so both invalidate it after committing.

use actix_web::{HttpResponse, delete, post, web};
use diesel::prelude::*;

use crate::error::Error;
use crate::model::SingleArticleResponse;
use crate::queries::{self, Pair};
use crate::schema::blog_favorites as f;
use crate::state::AppState;
use crate::token::CurrentUser;

/// Favourite an article.
#[utoipa::path(
    tag = "favorites",
    security(("Token" = [])),
    params(("slug" = String, Path, description = "The article's slug")),
    responses(
        (status = 200, description = "Favourited", body = SingleArticleResponse),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
        (status = 404, description = "No such article", body = crate::model::GenericErrorModel),
    )
)]
#[post("/articles/{slug}/favorite")]
pub async fn favorite(
    state: web::Data<AppState>,
    me: CurrentUser,
    slug: web::Path<String>,
) -> Result<HttpResponse, Error> {
    set_favorite(&state, me.id, slug.into_inner(), true).await
}

/// Unfavourite an article.
#[utoipa::path(
    tag = "favorites",
    security(("Token" = [])),
    params(("slug" = String, Path, description = "The article's slug")),
    responses(
        (status = 200, description = "Unfavourited", body = SingleArticleResponse),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
        (status = 404, description = "No such article", body = crate::model::GenericErrorModel),
    )
)]
#[delete("/articles/{slug}/favorite")]
pub async fn unfavorite(
    state: web::Data<AppState>,
    me: CurrentUser,
    slug: web::Path<String>,
) -> Result<HttpResponse, Error> {
    set_favorite(&state, me.id, slug.into_inner(), false).await
}

async fn set_favorite(
    state: &AppState,
    me: i64,
    slug: String,
    on: bool,
) -> Result<HttpResponse, Error> {
    let article = state
        .db
        .interact(move |c| {
            c.write_transaction(|c| {
                let Some(row) = queries::article_by_slug(c, &slug)? else {
                    return Ok(Err(Error::NotFound("article")));
                };
                if on {
                    queries::insert_pair_ignoring_duplicates(c, Pair::Favorite, me, row.id)?;
                } else {
                    diesel::delete(
                        f::table
                            .filter(f::user_id.eq(me))
                            .filter(f::article_id.eq(row.id)),
                    )
                    .execute(c)?;
                }
                queries::article_view(c, row, Some(me)).map(Ok)
            })
        })
        .await??;
    state.top.invalidate().await;
    Ok(HttpResponse::Ok().json(SingleArticleResponse { article }))
}
