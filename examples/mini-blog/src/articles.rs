//! `/api/articles/{slug}` and `POST /api/articles`: create, read, update, delete one article.
//!
//! - **Slugs** come from the title (`validate::slugify`); an equal title gets a distinct slug
//!   (`-` and eight random hex digits), and the slug stays when the title changes later, so a
//!   link to an article never breaks.
//! - **`updatedAt`** moves on every update, at least one millisecond past the previous value
//!   (the resolution it is shown at), and `createdAt` never does.
//! - **ETag**: a read carries a strong `ETag` (SHA-256 of the body it sends) and answers a
//!   matching `If-None-Match` with 304 and no body; `Vary: Authorization`, because `favorited`
//!   and `following` differ per reader.
//! - **The top list** is invalidated after every write that changes what it shows.
//! - **Followers** are told about a new article by a background job (`notify.rs`), after the
//!   article is committed: the author does not wait for the fan-out.

use actix_web::http::header::{self, EntityTag, IfNoneMatch};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use base64::Engine as _;
use chrono::{Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::body::JsonBody;
use crate::db::AnyConnection;
use crate::error::Error;
use crate::model::{NewArticleRequest, SingleArticleResponse, UpdateArticleRequest};
use crate::queries::{self, ArticleRow};
use crate::schema::{blog_article_tags as t, blog_articles as a};
use crate::state::AppState;
use crate::token::{CurrentUser, MaybeUser};
use crate::validate::{Problems, slugify};

/// A free slug for `title`: the plain one if nobody has it, else with a random suffix.
fn free_slug(c: &mut AnyConnection, title: &str) -> QueryResult<String> {
    let base = slugify(title);
    if queries::article_by_slug(c, &base)?.is_none() {
        return Ok(base);
    }
    loop {
        let candidate = format!("{base}-{:08x}", rand::random::<u32>());
        if queries::article_by_slug(c, &candidate)?.is_none() {
            return Ok(candidate);
        }
    }
}

fn set_tags(c: &mut AnyConnection, article_id: i64, tags: &[String]) -> QueryResult<()> {
    diesel::delete(t::table.filter(t::article_id.eq(article_id))).execute(c)?;
    // One statement per tag: diesel's multi-backend connection has no batch insert, and an
    // article has a handful of tags.
    for tag in tags {
        diesel::insert_into(t::table)
            .values((t::article_id.eq(article_id), t::tag.eq(tag)))
            .execute(c)?;
    }
    Ok(())
}

/// Timestamps are stored to the microsecond and shown to the millisecond.
fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn article_response(article: crate::model::Article) -> SingleArticleResponse {
    SingleArticleResponse { article }
}

/// Create an article.
#[utoipa::path(
    tag = "articles",
    security(("Token" = [])),
    request_body = NewArticleRequest,
    responses(
        (status = 201, description = "Created", body = SingleArticleResponse),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
        (status = 422, description = "A field is blank, or `tagList` is null", body = crate::model::GenericErrorModel),
    )
)]
#[post("/articles")]
pub async fn create(
    state: web::Data<AppState>,
    me: CurrentUser,
    body: JsonBody<NewArticleRequest>,
) -> Result<HttpResponse, Error> {
    let new = body.0.article;
    let mut problems = Problems::default();
    problems.not_blank("title", &new.title);
    problems.not_blank("description", &new.description);
    problems.not_blank("body", &new.body);
    let tags = match &new.tag_list {
        None => Vec::new(),
        Some(None) => {
            problems.add("tagList", "must be an array of strings, not null");
            Vec::new()
        }
        Some(Some(tags)) => problems.tags("tagList", tags),
    };
    problems.finish()?;

    let author = me.id;
    let (article, id) = state
        .db
        .interact(move |c| {
            c.write_transaction(|c| {
                let slug = free_slug(c, &new.title)?;
                let at = now();
                diesel::insert_into(a::table)
                    .values((
                        a::slug.eq(&slug),
                        a::title.eq(new.title.trim()),
                        a::description.eq(new.description.trim()),
                        a::body.eq(&new.body),
                        a::author_id.eq(author),
                        a::created_at.eq(at),
                        a::updated_at.eq(at),
                    ))
                    .execute(c)?;
                let row = queries::article_by_slug(c, &slug)?.ok_or(diesel::NotFound)?;
                set_tags(c, row.id, &tags)?;
                let id = row.id;
                Ok((queries::article_view(c, row, Some(author))?, id))
            })
        })
        .await?;
    // A new article has no favourites, but a short list (fewer articles than its size)
    // would still change.
    state.top.invalidate().await;
    if let Err(e) = state.notifier.article_published(id, author).await {
        // The article is committed; only the notifications are lost. Logged, not failed.
        tracing::warn!(error = %e, "could not enqueue the follower notification");
    }
    Ok(HttpResponse::Created().json(article_response(article)))
}

/// Read an article.
#[utoipa::path(
    tag = "articles",
    params(("slug" = String, Path, description = "The article's slug")),
    responses(
        (status = 200, description = "The article, with an ETag", body = SingleArticleResponse),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 401, description = "A token was sent and is bad", body = crate::model::GenericErrorModel),
        (status = 404, description = "No such article", body = crate::model::GenericErrorModel),
    )
)]
#[get("/articles/{slug}")]
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: MaybeUser,
    slug: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let slug = slug.into_inner();
    let viewer = viewer.id();
    let article = state
        .db
        .interact(move |c| match queries::article_by_slug(c, &slug)? {
            Some(row) => queries::article_view(c, row, viewer).map(Some),
            None => Ok(None),
        })
        .await?
        .ok_or(Error::NotFound("article"))?;
    let body =
        serde_json::to_vec(&article_response(article)).map_err(|e| Error::Unexpected(e.into()))?;
    let tag = EntityTag::new_strong(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&body)),
    );
    let fresh = match header::Header::parse(&req) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&tag)),
        Err(_) => false,
    };
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header(header::ETag(tag))
        .insert_header((header::VARY, "Authorization"))
        // Revalidate every time: the ETag makes that a 304 without a body when nothing changed.
        .insert_header((header::CACHE_CONTROL, "private, no-cache"));
    Ok(if fresh {
        response.finish()
    } else {
        response.content_type("application/json").body(body)
    })
}

/// The article `slug`, if `me` wrote it: 404 when there is none, 403 when it is someone else's.
fn owned(c: &mut AnyConnection, slug: &str, me: i64) -> QueryResult<Result<ArticleRow, Error>> {
    Ok(match queries::article_by_slug(c, slug)? {
        None => Err(Error::NotFound("article")),
        Some(row) if row.author_id != me => Err(Error::Forbidden("article")),
        Some(row) => Ok(row),
    })
}

/// Update an article: any of title, description, body, tagList.
#[utoipa::path(
    tag = "articles",
    security(("Token" = [])),
    params(("slug" = String, Path, description = "The article's slug")),
    request_body = UpdateArticleRequest,
    responses(
        (status = 200, description = "Updated", body = SingleArticleResponse),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
        (status = 403, description = "Someone else's article", body = crate::model::GenericErrorModel),
        (status = 404, description = "No such article", body = crate::model::GenericErrorModel),
        (status = 422, description = "A field is blank, or `tagList` is null", body = crate::model::GenericErrorModel),
    )
)]
#[put("/articles/{slug}")]
pub async fn update(
    state: web::Data<AppState>,
    me: CurrentUser,
    slug: web::Path<String>,
    body: JsonBody<UpdateArticleRequest>,
) -> Result<HttpResponse, Error> {
    let change = body.0.article;
    let mut problems = Problems::default();
    for (field, value) in [
        ("title", &change.title),
        ("description", &change.description),
        ("body", &change.body),
    ] {
        if let Some(value) = value {
            problems.not_blank(field, value);
        }
    }
    let tags = match &change.tag_list {
        None => None,
        Some(None) => {
            problems.add("tagList", "must be an array of strings, not null");
            None
        }
        Some(Some(tags)) => Some(problems.tags("tagList", tags)),
    };
    problems.finish()?;

    let (slug, author) = (slug.into_inner(), me.id);
    let article = state
        .db
        .interact(move |c| {
            c.write_transaction(|c| {
                let row = match owned(c, &slug, author)? {
                    Ok(row) => row,
                    Err(e) => return Ok(Err(e)),
                };
                // Shown to the millisecond: an update within the same millisecond as the last
                // one must still show a later `updatedAt`.
                let at = now().max(row.updated_at + Duration::milliseconds(1));
                let target = a::table.find(row.id);
                diesel::update(target)
                    .set(a::updated_at.eq(at))
                    .execute(c)?;
                if let Some(title) = &change.title {
                    diesel::update(target)
                        .set(a::title.eq(title.trim()))
                        .execute(c)?;
                }
                if let Some(description) = &change.description {
                    diesel::update(target)
                        .set(a::description.eq(description.trim()))
                        .execute(c)?;
                }
                if let Some(body) = &change.body {
                    diesel::update(target).set(a::body.eq(body)).execute(c)?;
                }
                if let Some(tags) = &tags {
                    set_tags(c, row.id, tags)?;
                }
                let row = queries::article_by_slug(c, &slug)?.ok_or(diesel::NotFound)?;
                queries::article_view(c, row, Some(author)).map(Ok)
            })
        })
        .await??;
    state.top.invalidate().await;
    Ok(HttpResponse::Ok().json(article_response(article)))
}

/// Delete an article, with its comments, tags and favourites.
#[utoipa::path(
    tag = "articles",
    security(("Token" = [])),
    params(("slug" = String, Path, description = "The article's slug")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
        (status = 403, description = "Someone else's article", body = crate::model::GenericErrorModel),
        (status = 404, description = "No such article", body = crate::model::GenericErrorModel),
    )
)]
#[delete("/articles/{slug}")]
pub async fn remove(
    state: web::Data<AppState>,
    me: CurrentUser,
    slug: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let (slug, author) = (slug.into_inner(), me.id);
    state
        .db
        .interact(move |c| {
            c.write_transaction(|c| {
                let row = match owned(c, &slug, author)? {
                    Ok(row) => row,
                    Err(e) => return Ok(Err(e)),
                };
                // ON DELETE CASCADE removes tags, favourites, comments and notifications.
                diesel::delete(a::table.find(row.id)).execute(c)?;
                Ok(Ok(()))
            })
        })
        .await??;
    state.top.invalidate().await;
    Ok(HttpResponse::NoContent().finish())
}
