//! `/api/users` and `/api/user`: register, log in, read and update the current user.
//!
//! Passwords are hashed with argon2id by the auth topic's [`Passwords`](auth::passwords::Passwords),
//! on a blocking thread (a hash takes tens of milliseconds of pure CPU, which on the async
//! executor would stall every request sharing the thread). A login with an unknown email still
//! runs one verification against a dummy hash, so response time does not tell which emails are
//! registered, and both failures get the same 401.

use actix_web::{HttpResponse, get, post, put, web};
use diesel::prelude::*;

use crate::body::JsonBody;
use crate::error::Error;
use crate::model::{
    LoginUserRequest, NewUserRequest, UpdateUser, UpdateUserRequest, User, UserResponse,
};
use crate::queries::{self, UserRow, is_unique_violation, violated};
use crate::schema::blog_users as u;
use crate::state::AppState;
use crate::token::{CurrentUser, Tokens};
use crate::validate::Problems;

fn user(row: UserRow, token: String) -> UserResponse {
    UserResponse {
        user: User {
            email: row.email,
            token,
            username: row.username,
            bio: row.bio,
            image: row.image,
        },
    }
}

/// A unique violation as the 409 the spec wants, naming the field.
fn taken(e: &diesel::result::Error) -> Option<Error> {
    if !is_unique_violation(e) {
        return None;
    }
    let which = violated(e).unwrap_or_default();
    Some(if which.contains("email") {
        Error::Taken("email")
    } else {
        Error::Taken("username")
    })
}

/// Register.
#[utoipa::path(
    tag = "users",
    request_body = NewUserRequest,
    responses(
        (status = 201, description = "Registered; the body carries a token", body = UserResponse),
        (status = 409, description = "Username or email taken", body = crate::model::GenericErrorModel),
        (status = 422, description = "A field is blank or invalid", body = crate::model::GenericErrorModel),
    )
)]
#[post("/users")]
pub async fn register(
    state: web::Data<AppState>,
    tokens: web::Data<Tokens>,
    body: JsonBody<NewUserRequest>,
) -> Result<HttpResponse, Error> {
    let new = body.0.user;
    let mut problems = Problems::default();
    problems.not_blank("username", &new.username);
    problems.email("email", &new.email);
    problems.password("password", &new.password);
    problems.finish()?;

    let hash = state.passwords.hash(&new.password).await?;
    let (username, email) = (new.username.trim().to_owned(), new.email.trim().to_owned());
    let row = state
        .db
        .interact(move |c| {
            c.write_transaction(|c| {
                // Checked first for a precise answer; the unique indexes still decide a race.
                if queries::user_by_username(c, &username)?.is_some() {
                    return Ok(Err(Error::Taken("username")));
                }
                if queries::user_by_email(c, &email)?.is_some() {
                    return Ok(Err(Error::Taken("email")));
                }
                let inserted = diesel::insert_into(u::table)
                    .values((
                        u::username.eq(&username),
                        u::email.eq(&email),
                        u::password_hash.eq(&hash),
                    ))
                    .execute(c);
                if let Err(e) = inserted {
                    return taken(&e).map(Err).ok_or(e);
                }
                Ok(queries::user_by_username(c, &username)?.ok_or(Error::NotFound("user")))
            })
        })
        .await??;
    let token = tokens.issue(row.id)?;
    Ok(HttpResponse::Created().json(user(row, token)))
}

/// Log in.
#[utoipa::path(
    tag = "users",
    request_body = LoginUserRequest,
    responses(
        (status = 200, description = "Logged in", body = UserResponse),
        (status = 401, description = "Unknown email or wrong password", body = crate::model::GenericErrorModel),
        (status = 422, description = "A field is blank", body = crate::model::GenericErrorModel),
    )
)]
#[post("/users/login")]
pub async fn login(
    state: web::Data<AppState>,
    tokens: web::Data<Tokens>,
    body: JsonBody<LoginUserRequest>,
) -> Result<HttpResponse, Error> {
    let credentials = body.0.user;
    let mut problems = Problems::default();
    problems.not_blank("email", &credentials.email);
    problems.password("password", &credentials.password);
    problems.finish()?;

    let email = credentials.email.trim().to_owned();
    let row = state
        .db
        .interact(move |c| queries::user_by_email(c, &email))
        .await?;
    let verdict = state
        .passwords
        .verify(
            row.as_ref().map(|r| r.password_hash.as_str()),
            &credentials.password,
        )
        .await?;
    let row = row
        .filter(|_| verdict.matches)
        .ok_or(Error::BadCredentials)?;
    let token = tokens.issue(row.id)?;
    Ok(HttpResponse::Ok().json(user(row, token)))
}

/// The current user.
#[utoipa::path(
    tag = "users",
    security(("Token" = [])),
    responses(
        (status = 200, description = "The logged-in user", body = UserResponse),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
    )
)]
#[get("/user")]
pub async fn current(state: web::Data<AppState>, me: CurrentUser) -> Result<HttpResponse, Error> {
    let row = state
        .db
        .interact(move |c| queries::user_by_id(c, me.id))
        .await?
        // A valid token for a user that no longer exists is as good as no token.
        .ok_or(Error::InvalidToken)?;
    Ok(HttpResponse::Ok().json(user(row, me.token)))
}

/// Update the current user: any of email, username, password, bio, image. `bio` and `image`
/// set to `null` or `""` are cleared.
#[utoipa::path(
    tag = "users",
    security(("Token" = [])),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = UserResponse),
        (status = 401, description = "No token or a bad one", body = crate::model::GenericErrorModel),
        (status = 409, description = "Username or email taken", body = crate::model::GenericErrorModel),
        (status = 422, description = "A field is blank or invalid", body = crate::model::GenericErrorModel),
    )
)]
#[put("/user")]
pub async fn update(
    state: web::Data<AppState>,
    me: CurrentUser,
    body: JsonBody<UpdateUserRequest>,
) -> Result<HttpResponse, Error> {
    let change: UpdateUser = body.0.user;
    let mut problems = Problems::default();
    if let Some(username) = &change.username {
        problems.not_blank("username", username);
    }
    if let Some(email) = &change.email {
        problems.email("email", email);
    }
    if let Some(password) = &change.password {
        problems.password("password", password);
    }
    problems.finish()?;

    let hash = match &change.password {
        Some(password) => Some(state.passwords.hash(password).await?),
        None => None,
    };
    // `""` means "no bio", the same as `null`: the spec's tests send both.
    let cleared = |v: Option<Option<String>>| v.map(|v| v.filter(|s| !s.trim().is_empty()));
    let (bio, image) = (cleared(change.bio), cleared(change.image));
    let username = change.username.map(|s| s.trim().to_owned());
    let email = change.email.map(|s| s.trim().to_owned());
    let shown_elsewhere = username.is_some() || bio.is_some() || image.is_some();
    let id = me.id;
    let row = state
        .db
        .interact(move |c| {
            c.write_transaction(|c| {
                let Some(before) = queries::user_by_id(c, id)? else {
                    return Ok(Err(Error::InvalidToken));
                };
                if let Some(name) = &username
                    && *name != before.username
                    && queries::user_by_username(c, name)?.is_some()
                {
                    return Ok(Err(Error::Taken("username")));
                }
                if let Some(mail) = &email
                    && *mail != before.email
                    && queries::user_by_email(c, mail)?.is_some()
                {
                    return Ok(Err(Error::Taken("email")));
                }
                let target = u::table.find(id);
                if let Some(name) = &username {
                    diesel::update(target)
                        .set(u::username.eq(name))
                        .execute(c)?;
                }
                if let Some(mail) = &email {
                    diesel::update(target).set(u::email.eq(mail)).execute(c)?;
                }
                if let Some(hash) = &hash {
                    diesel::update(target)
                        .set(u::password_hash.eq(hash))
                        .execute(c)?;
                }
                if let Some(bio) = &bio {
                    diesel::update(target).set(u::bio.eq(bio)).execute(c)?;
                }
                if let Some(image) = &image {
                    diesel::update(target).set(u::image.eq(image)).execute(c)?;
                }
                Ok(queries::user_by_id(c, id)?.ok_or(Error::InvalidToken))
            })
        })
        .await
        .map_err(|e| match &e {
            support::db::DbError::Query(q) => taken(q).unwrap_or(Error::from(e)),
            _ => Error::from(e),
        })??;
    if shown_elsewhere {
        // An author's name, bio and image appear in the cached top list.
        state.top.invalidate().await;
    }
    Ok(HttpResponse::Ok().json(user(row, me.token)))
}
