//! `/api/profiles/{username}`: read a profile, follow, unfollow.
//!
//! Following is a row in `blog_follows`; doing it twice is the same as once (the row's key is
//! the pair), and unfollowing someone not followed is not an error: the client asked for a
//! state, and that state holds.

use actix_web::{HttpResponse, delete, get, post, web};
use diesel::prelude::*;

use crate::error::Error;
use crate::model::{Profile, ProfileResponse};
use crate::queries::{self, Pair};
use crate::schema::blog_follows as fo;
use crate::state::AppState;
use crate::token::{CurrentUser, MaybeUser};

fn answer(profile: Profile) -> HttpResponse {
    HttpResponse::Ok().json(ProfileResponse { profile })
}

/// A user's profile, with `following` for the logged-in reader.
#[utoipa::path(
    tag = "profiles",
    params(("username" = String, Path, description = "Whose profile")),
    responses(
        (status = 200, description = "The profile", body = ProfileResponse),
        (status = 401, description = "A token was sent and is bad", body = crate::model::GenericErrorModel),
        (status = 404, description = "No such user", body = crate::model::GenericErrorModel),
    )
)]
#[get("/profiles/{username}")]
pub async fn show(
    state: web::Data<AppState>,
    viewer: MaybeUser,
    username: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let username = username.into_inner();
    let viewer = viewer.id();
    let profile = state
        .db
        .interact(move |c| match queries::user_by_username(c, &username)? {
            Some(user) => queries::profile(c, &user, viewer).map(Some),
            None => Ok(None),
        })
        .await?
        .ok_or(Error::NotFound("profile"))?;
    Ok(answer(profile))
}

/// Follow a user.
#[utoipa::path(
    tag = "profiles",
    security(("Token" = [])),
    params(("username" = String, Path, description = "Whom to follow")),
    responses(
        (status = 200, description = "Now following", body = ProfileResponse),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
        (status = 404, description = "No such user", body = crate::model::GenericErrorModel),
        (status = 422, description = "Following yourself", body = crate::model::GenericErrorModel),
    )
)]
#[post("/profiles/{username}/follow")]
pub async fn follow(
    state: web::Data<AppState>,
    me: CurrentUser,
    username: web::Path<String>,
) -> Result<HttpResponse, Error> {
    set_following(&state, me.id, username.into_inner(), true).await
}

/// Stop following a user.
#[utoipa::path(
    tag = "profiles",
    security(("Token" = [])),
    params(("username" = String, Path, description = "Whom to unfollow")),
    responses(
        (status = 200, description = "No longer following", body = ProfileResponse),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
        (status = 404, description = "No such user", body = crate::model::GenericErrorModel),
    )
)]
#[delete("/profiles/{username}/follow")]
pub async fn unfollow(
    state: web::Data<AppState>,
    me: CurrentUser,
    username: web::Path<String>,
) -> Result<HttpResponse, Error> {
    set_following(&state, me.id, username.into_inner(), false).await
}

async fn set_following(
    state: &AppState,
    me: i64,
    username: String,
    on: bool,
) -> Result<HttpResponse, Error> {
    let profile = state
        .db
        .interact(move |c| {
            c.write_transaction(|c| {
                let Some(user) = queries::user_by_username(c, &username)? else {
                    return Ok(Err(Error::NotFound("profile")));
                };
                if user.id == me && on {
                    return Ok(Err(Error::invalid("profile", "can't follow yourself")));
                }
                if on {
                    queries::insert_pair_ignoring_duplicates(c, Pair::Follow, me, user.id)?;
                } else {
                    diesel::delete(
                        fo::table
                            .filter(fo::follower_id.eq(me))
                            .filter(fo::followee_id.eq(user.id)),
                    )
                    .execute(c)?;
                }
                queries::profile(c, &user, Some(me)).map(Ok)
            })
        })
        .await??;
    Ok(answer(profile))
}
