//! `GET /api/articles` and `GET /api/articles/feed`: lists, newest first, two ways to page.
//!
//! - **The spec's `limit` and `offset`** (default 20 and 0). Simple, and it can jump to any
//!   page, but the database walks past every skipped row, so deep pages cost more and more
//!   (the pagination topic measures it), and rows written meanwhile shift the pages.
//! - **An extension: `?cursor=`**, the pagination topic's signed keyset cursor (its
//!   `CursorCodec`, reused as is): the position of the last article served, from which the
//!   next page seeks straight into the `(created_at, id)` index. Every list answer that has more
//!   rows carries `Link: <…?cursor=…>; rel="next"`, so a client just follows it. A cursor and an
//!   offset together are refused, since they say different things.
//!
//! `articlesCount` is the number of articles matching the filters, in all, not the length of
//! the page (the spec's tests check it): one `COUNT(*)` with the same filters.

use actix_web::{HttpRequest, HttpResponse, get, web};
use diesel::prelude::*;
use pagination::cursor::Position;
use serde::Deserialize;

use crate::db::AnyConnection;
use crate::error::Error;
use crate::model::{ArticleListItem, MultipleArticlesResponse};
use crate::queries::{self, ArticleRow, Backend};
use crate::schema::{
    blog_article_tags as t, blog_articles as a, blog_favorites as f, blog_follows as fo,
    blog_users as u,
};
use crate::state::AppState;
use crate::token::{CurrentUser, MaybeUser};

/// The spec's default page size.
pub const DEFAULT_LIMIT: u32 = 20;

/// The query string of both lists, as text: parsed by hand below for precise 422s.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only articles with this tag.
    pub tag: Option<String>,
    /// Only articles by this username.
    pub author: Option<String>,
    /// Only articles this username favourited.
    pub favorited: Option<String>,
    /// Page size, 1 to the configured maximum (100); default 20.
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// Articles to skip; default 0.
    #[param(value_type = Option<u64>)]
    pub offset: Option<String>,
    /// Extension: the `next` cursor of a previous page (see the `Link` header).
    pub cursor: Option<String>,
}

/// What to list: the filters, plus the feed's "by authors I follow".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub tag: Option<String>,
    pub author: Option<String>,
    pub favorited: Option<String>,
    pub followed_by: Option<i64>,
}

/// Where the page starts.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    Offset(i64),
    After(Position),
}

type Boxed<'a> = a::BoxedQuery<'a, Backend>;

fn filtered(filter: &Filter) -> Boxed<'_> {
    let mut query = a::table.into_boxed();
    if let Some(tag) = &filter.tag {
        query = query.filter(a::id.eq_any(t::table.filter(t::tag.eq(tag)).select(t::article_id)));
    }
    if let Some(author) = &filter.author {
        query = query
            .filter(a::author_id.eq_any(u::table.filter(u::username.eq(author)).select(u::id)));
    }
    if let Some(fan) = &filter.favorited {
        query = query.filter(
            a::id.eq_any(
                f::table
                    .inner_join(u::table)
                    .filter(u::username.eq(fan))
                    .select(f::article_id),
            ),
        );
    }
    if let Some(follower) = filter.followed_by {
        query = query.filter(
            a::author_id.eq_any(
                fo::table
                    .filter(fo::follower_id.eq(follower))
                    .select(fo::followee_id),
            ),
        );
    }
    query
}

/// One page: the rows, whether more follow, and the total count.
pub fn page(
    conn: &mut AnyConnection,
    filter: &Filter,
    start: Start,
    limit: u32,
) -> QueryResult<(Vec<ArticleRow>, bool, i64)> {
    let probe = i64::from(limit) + 1;
    let newest_first = (a::created_at.desc(), a::id.desc());
    let mut rows = match start {
        Start::Offset(offset) => filtered(filter)
            .order(newest_first)
            .limit(probe)
            .offset(offset)
            .select(ArticleRow::as_select())
            .load(conn)?,
        // `(created_at, id) < (x, y)`, spelled so both databases seek into the index (see the
        // pagination topic's cursor.rs).
        Start::After(at) => filtered(filter)
            .filter(a::created_at.le(at.created_at))
            .filter(a::created_at.lt(at.created_at).or(a::id.lt(at.id)))
            .order(newest_first)
            .limit(probe)
            .select(ArticleRow::as_select())
            .load(conn)?,
    };
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let total = filtered(filter).count().get_result(conn)?;
    Ok((rows, more, total))
}

/// Reads the query string, or says which parameter is wrong.
fn parse(req: &HttpRequest, state: &AppState) -> Result<(ListQuery, Start, u32), Error> {
    let query: ListQuery = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| Error::invalid("query", e.to_string()))?;
    let max = state.config.max_limit;
    let limit = match &query.limit {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return Err(Error::invalid(
                    "limit",
                    format!("must be an integer from 1 to {max}"),
                ));
            }
        },
    };
    let offset = match &query.offset {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => return Err(Error::invalid("offset", "must be a non-negative integer")),
        },
    };
    let start = match (&query.cursor, offset) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid("cursor", "can't be combined with offset"));
        }
        (Some(cursor), None) => Start::After(
            state
                .cursors
                .decode(cursor)
                .map_err(|_| Error::invalid("cursor", "is invalid"))?,
        ),
        (None, offset) => Start::Offset(offset.unwrap_or(0)),
    };
    Ok((query, start, limit))
}

/// Runs the list and writes the answer, with `Link: …; rel="next"` when more rows follow.
async fn answer(
    req: &HttpRequest,
    state: &AppState,
    query: ListQuery,
    filter: Filter,
    start: Start,
    limit: u32,
    viewer: Option<i64>,
) -> Result<HttpResponse, Error> {
    let (articles, next, total) = state
        .db
        .interact(move |c| {
            let (rows, more, total) = page(c, &filter, start, limit)?;
            let next = rows.last().filter(|_| more).map(|last| Position {
                created_at: last.created_at,
                id: last.id,
            });
            Ok((queries::article_views(c, rows, viewer)?, next, total))
        })
        .await?;
    let mut response = HttpResponse::Ok();
    if let Some(next) = next {
        let mut params: Vec<(&str, String)> = Vec::new();
        for (name, value) in [
            ("tag", &query.tag),
            ("author", &query.author),
            ("favorited", &query.favorited),
        ] {
            if let Some(value) = value {
                params.push((name, value.clone()));
            }
        }
        params.push(("limit", limit.to_string()));
        params.push(("cursor", state.cursors.encode(next)));
        let query = serde_urlencoded::to_string(&params).unwrap_or_default();
        response.insert_header((
            "Link",
            pagination::links::header_value(&[("next", format!("{}?{query}", req.path()))]),
        ));
    }
    Ok(response.json(MultipleArticlesResponse {
        articles: articles.into_iter().map(ArticleListItem::from).collect(),
        articles_count: total,
    }))
}

/// List articles, newest first, filtered by tag, author or who favourited them.
#[utoipa::path(
    tag = "articles",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of articles (no bodies) and the total count", body = MultipleArticlesResponse),
        (status = 401, description = "A token was sent and is bad", body = crate::model::GenericErrorModel),
        (status = 422, description = "A bad limit, offset or cursor", body = crate::model::GenericErrorModel),
    )
)]
#[get("/articles")]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: MaybeUser,
) -> Result<HttpResponse, Error> {
    let (query, start, limit) = parse(&req, &state)?;
    let filter = Filter {
        tag: query.tag.clone(),
        author: query.author.clone(),
        favorited: query.favorited.clone(),
        followed_by: None,
    };
    answer(&req, &state, query, filter, start, limit, viewer.id()).await
}

/// Articles by the authors the current user follows, newest first.
#[utoipa::path(
    tag = "articles",
    security(("Token" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of the feed and its total count", body = MultipleArticlesResponse),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
        (status = 422, description = "A bad limit, offset or cursor", body = crate::model::GenericErrorModel),
    )
)]
#[get("/articles/feed")]
pub async fn feed(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: CurrentUser,
) -> Result<HttpResponse, Error> {
    let (query, start, limit) = parse(&req, &state)?;
    let filter = Filter {
        followed_by: Some(me.id),
        ..Filter::default()
    };
    answer(&req, &state, query, filter, start, limit, Some(me.id)).await
}
