//! `GET /api/user/notifications` (an extension): what the background job wrote for the
//! current user, newest first. It exists so the job's effect can be seen and tested.

use actix_web::{HttpResponse, get, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::timestamp;
use crate::schema::{blog_articles as a, blog_notifications as n, blog_users as u};
use crate::state::AppState;
use crate::token::CurrentUser;

/// "`author` published `title`".
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub slug: String,
    pub title: String,
    pub author: String,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationsResponse {
    pub notifications: Vec<Notification>,
}

/// The current user's notifications, newest first (at most 50).
#[utoipa::path(
    tag = "users",
    security(("Token" = [])),
    responses(
        (status = 200, description = "New articles by the authors you follow", body = NotificationsResponse),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
    )
)]
#[get("/user/notifications")]
pub async fn list(state: web::Data<AppState>, me: CurrentUser) -> Result<HttpResponse, Error> {
    let rows = state
        .db
        .interact(move |c| {
            n::table
                .inner_join(a::table.inner_join(u::table))
                .filter(n::user_id.eq(me.id))
                .order((n::created_at.desc(), a::id.desc()))
                .limit(50)
                .select((a::slug, a::title, u::username, n::created_at))
                .load::<(String, String, String, chrono::NaiveDateTime)>(c)
        })
        .await?;
    let notifications = rows
        .into_iter()
        .map(|(slug, title, author, at)| Notification {
            slug,
            title,
            author,
            created_at: timestamp(at),
        })
        .collect();
    Ok(HttpResponse::Ok().json(NotificationsResponse { notifications }))
}
