//! `/api/articles/{slug}/comments`: list, add, delete. Ids are integers, as the spec says.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::Utc;
use diesel::prelude::*;

use crate::body::JsonBody;
use crate::error::Error;
use crate::model::{MultipleCommentsResponse, NewCommentRequest, SingleCommentResponse};
use crate::queries::{self, CommentRow};
use crate::schema::blog_comments as c;
use crate::state::AppState;
use crate::token::{CurrentUser, MaybeUser};
use crate::validate::Problems;

/// The comments of an article, oldest first.
#[utoipa::path(
    tag = "comments",
    params(("slug" = String, Path, description = "The article's slug")),
    responses(
        (status = 200, description = "The comments", body = MultipleCommentsResponse),
        (status = 401, description = "A token was sent and is bad", body = crate::model::GenericErrorModel),
        (status = 404, description = "No such article", body = crate::model::GenericErrorModel),
    )
)]
#[get("/articles/{slug}/comments")]
pub async fn list(
    state: web::Data<AppState>,
    viewer: MaybeUser,
    slug: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let (slug, viewer) = (slug.into_inner(), viewer.id());
    let comments = state
        .db
        .interact(move |conn| {
            let Some(article) = queries::article_by_slug(conn, &slug)? else {
                return Ok(None);
            };
            let rows = queries::comments_of(conn, article.id)?;
            queries::comment_views(conn, rows, viewer).map(Some)
        })
        .await?
        .ok_or(Error::NotFound("article"))?;
    Ok(HttpResponse::Ok().json(MultipleCommentsResponse { comments }))
}

/// Comment on an article.
#[utoipa::path(
    tag = "comments",
    security(("Token" = [])),
    params(("slug" = String, Path, description = "The article's slug")),
    request_body = NewCommentRequest,
    responses(
        (status = 201, description = "Created", body = SingleCommentResponse),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
        (status = 404, description = "No such article", body = crate::model::GenericErrorModel),
        (status = 422, description = "The body is blank", body = crate::model::GenericErrorModel),
    )
)]
#[post("/articles/{slug}/comments")]
pub async fn create(
    state: web::Data<AppState>,
    me: CurrentUser,
    slug: web::Path<String>,
    body: JsonBody<NewCommentRequest>,
) -> Result<HttpResponse, Error> {
    let text = body.0.comment.body;
    let mut problems = Problems::default();
    problems.not_blank("body", &text);
    problems.finish()?;
    let (slug, author) = (slug.into_inner(), me.id);
    let comment = state
        .db
        .interact(move |conn| {
            conn.write_transaction(|conn| {
                let Some(article) = queries::article_by_slug(conn, &slug)? else {
                    return Ok(Err(Error::NotFound("article")));
                };
                let at = Utc::now().naive_utc();
                diesel::insert_into(c::table)
                    .values((
                        c::article_id.eq(article.id),
                        c::author_id.eq(author),
                        c::body.eq(&text),
                        c::created_at.eq(at),
                        c::updated_at.eq(at),
                    ))
                    .execute(conn)?;
                // The newest comment of this author on this article is the one just written:
                // inside the write transaction nobody else can have added one since.
                let row: CommentRow = c::table
                    .filter(c::article_id.eq(article.id))
                    .filter(c::author_id.eq(author))
                    .order(c::id.desc())
                    .select(CommentRow::as_select())
                    .first(conn)?;
                let mut views = queries::comment_views(conn, vec![row], Some(author))?;
                Ok(views.pop().ok_or(Error::NotFound("comment")))
            })
        })
        .await??;
    Ok(HttpResponse::Created().json(SingleCommentResponse { comment }))
}

/// Delete one of your comments.
#[utoipa::path(
    tag = "comments",
    security(("Token" = [])),
    params(
        ("slug" = String, Path, description = "The article's slug"),
        ("id" = i64, Path, description = "The comment's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
        (status = 403, description = "Someone else's comment", body = crate::model::GenericErrorModel),
        (status = 404, description = "No such article, or no such comment on it", body = crate::model::GenericErrorModel),
    )
)]
#[delete("/articles/{slug}/comments/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    me: CurrentUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (slug, id) = path.into_inner();
    // A non-numeric id names no comment: 404, not a 400 about types.
    let id: i64 = id.parse().map_err(|_| Error::NotFound("comment"))?;
    let author = me.id;
    state
        .db
        .interact(move |conn| {
            conn.write_transaction(|conn| {
                let Some(article) = queries::article_by_slug(conn, &slug)? else {
                    return Ok(Err(Error::NotFound("article")));
                };
                let comment: Option<CommentRow> = c::table
                    .find(id)
                    .filter(c::article_id.eq(article.id))
                    .select(CommentRow::as_select())
                    .first(conn)
                    .optional()?;
                match comment {
                    None => Ok(Err(Error::NotFound("comment"))),
                    Some(row) if row.author_id != author => Ok(Err(Error::Forbidden("comment"))),
                    Some(row) => {
                        diesel::delete(c::table.find(row.id)).execute(conn)?;
                        Ok(Ok(()))
                    }
                }
            })
        })
        .await??;
    Ok(HttpResponse::NoContent().finish())
}
