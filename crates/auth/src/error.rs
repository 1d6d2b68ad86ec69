//! The crate's one error type and its mapping to RFC 9457 problem+json, in one place.
//!
//! The rule this file exists to keep: **401 means "who are you?", 403 means "I know who you are,
//! and you may not".** A 401 always carries a `WWW-Authenticate` challenge for the mechanism the
//! route is mounted under (RFC 9110 §15.5.2 requires one), so a client learns how to
//! authenticate; a 403 never does, because authenticating again would not help.
//!
//! The OAuth2 provider's endpoints answer with RFC 6749's own JSON error bodies instead (that
//! format is fixed by the spec); they keep their error type in `oauth_provider`.

use actix_web::http::StatusCode;
use actix_web::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use support::Problem;

use crate::config::REALM;
use crate::principal::Mechanism;
use crate::rbac::Permission;

/// The header an API key travels in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Why a credential that was present did not authenticate anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown user or wrong password (deliberately indistinguishable).
    BadPassword,
    /// The session is unknown, logged out or idle too long.
    NoSuchSession,
    /// The token's signature, algorithm, issuer, audience or expiry is wrong.
    InvalidToken(&'static str),
    /// The API key is unknown, revoked, or its hash does not match.
    BadApiKey,
    /// The account behind the credential is disabled.
    AccountDisabled,
}

impl Refusal {
    fn describe(self) -> &'static str {
        match self {
            Refusal::BadPassword => "the username or password is wrong",
            Refusal::NoSuchSession => {
                "no valid session: log in first, or again after a logout or timeout"
            }
            Refusal::InvalidToken(why) => why,
            Refusal::BadApiKey => "the API key is unknown or revoked",
            Refusal::AccountDisabled => "the account is disabled",
        }
    }
}

/// Everything a request can be refused for.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// 401 with the mechanism's bare challenge: the request carried no credential for it.
    #[error("no credentials for {0:?}")]
    MissingCredentials(Mechanism),
    /// 401 with the mechanism's challenge: a credential was sent and refused.
    #[error("credentials refused for {mechanism:?}: {refusal:?}")]
    Refused {
        mechanism: Mechanism,
        refusal: Refusal,
    },
    /// 400: the credential is not even well-formed (bad base64, no colon, not UTF-8, too long).
    /// The challenge is still sent, so the client learns the expected form.
    #[error("malformed credentials for {mechanism:?}: {reason}")]
    Malformed {
        mechanism: Mechanism,
        reason: &'static str,
    },
    /// 403: authenticated, but the caller's role (or key's scopes) lacks the permission.
    #[error("missing permission {0:?}")]
    Forbidden(Permission),
    /// 403: the permission is there, but the document belongs to someone else.
    #[error("not the owner")]
    NotOwner,
    /// 403: a state-changing request with a session cookie but without the session's CSRF token.
    #[error("CSRF token missing or wrong")]
    Csrf,
    /// 429 with `Retry-After`: too many failed logins for this account or from this address.
    #[error("too many failed logins; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// 404: the named resource does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 422: a field's value is not acceptable.
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// 400: the OAuth2 callback does not belong to a login this client started (missing or
    /// wrong `state`), or the provider sent the user back with an error.
    #[error("OAuth2 callback refused ({error}): {detail}")]
    OAuthCallback { error: &'static str, detail: String },
    /// 401: the provider's answer could not be trusted (the code exchange failed, or the
    /// `id_token`'s signature, issuer, audience, expiry or `nonce` is wrong). Nobody is logged in.
    #[error("OAuth2 login refused ({error}): {detail}")]
    OAuthLogin { error: &'static str, detail: String },
    /// 502: the identity provider could not be reached or answered nonsense.
    #[error("identity provider unavailable")]
    ProviderUnavailable(#[source] anyhow::Error),
    /// 500: anything else. The cause is logged; the client gets a fixed sentence.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The `WWW-Authenticate` challenge for `mechanism`. Basic and Bearer are registered schemes
/// (RFC 7617, RFC 6750); there is no registered scheme for a cookie or an API-key header, so
/// those two name their own and say where the credential goes (RFC 9110 lets a scheme be any
/// token; a client that does not know it at least learns this route needs authentication).
pub fn challenge(mechanism: Mechanism) -> String {
    match mechanism {
        Mechanism::Basic => format!("Basic realm=\"{REALM}\", charset=\"UTF-8\""),
        Mechanism::Session => format!("Cookie realm=\"{REALM}\", login=\"/session/login\""),
        Mechanism::Jwt => format!("Bearer realm=\"{REALM}\""),
        Mechanism::ApiKey => format!("ApiKey realm=\"{REALM}\", header=\"X-API-Key\""),
    }
}

impl AuthError {
    fn cause(&self) -> Option<&anyhow::Error> {
        match self {
            AuthError::ProviderUnavailable(cause) | AuthError::Unexpected(cause) => Some(cause),
            AuthError::MissingCredentials(_)
            | AuthError::Refused { .. }
            | AuthError::Malformed { .. }
            | AuthError::Forbidden(_)
            | AuthError::NotOwner
            | AuthError::Csrf
            | AuthError::Throttled { .. }
            | AuthError::NotFound(_)
            | AuthError::Invalid { .. }
            | AuthError::OAuthCallback { .. }
            | AuthError::OAuthLogin { .. } => None,
        }
    }

    /// The problem+json body and headers. Pure, and exhaustive: a new variant must choose here.
    pub fn problem(&self) -> Problem {
        let problem = Problem::new(self.status_code());
        match self {
            AuthError::MissingCredentials(mechanism) => problem
                .with_type("/problems/unauthenticated")
                .with_detail(format!(
                    "This route needs authentication: send {}.",
                    how_to_send(*mechanism)
                ))
                .with_header(WWW_AUTHENTICATE.as_str(), challenge(*mechanism)),
            AuthError::Refused { mechanism, refusal } => {
                let mut header = challenge(*mechanism);
                if let Refusal::InvalidToken(_) = refusal {
                    // RFC 6750 §3: a token that was sent and refused gets `invalid_token` (a
                    // wrong password at /jwt/token is no token, so it gets the bare challenge).
                    header.push_str(&format!(
                        ", error=\"invalid_token\", error_description=\"{}\"",
                        refusal.describe()
                    ));
                }
                problem
                    .with_type("/problems/credentials-refused")
                    .with_detail(format!("The credentials were refused: {}.", refusal.describe()))
                    .with_header(WWW_AUTHENTICATE.as_str(), header)
            }
            AuthError::Malformed { mechanism, reason } => {
                let mut header = challenge(*mechanism);
                if *mechanism == Mechanism::Jwt {
                    header.push_str(", error=\"invalid_request\"");
                }
                problem
                    .with_type("/problems/malformed-credentials")
                    .with_detail(format!("The credentials are malformed: {reason}."))
                    .with_header(WWW_AUTHENTICATE.as_str(), header)
            }
            AuthError::Forbidden(permission) => problem
                .with_type("/problems/forbidden")
                .with_detail(format!(
                    "You are authenticated, but this needs the permission `{}`.",
                    permission.scope()
                ))
                .with_extension("missing_permission", permission.scope()),
            AuthError::NotOwner => problem
                .with_type("/problems/not-owner")
                .with_detail("Only the document's owner (or an admin) may change it."),
            AuthError::Csrf => problem.with_type("/problems/csrf").with_detail(
                "A state-changing request with a session cookie must carry the session's CSRF token in X-CSRF-Token.",
            ),
            AuthError::Throttled { retry_after_secs } => problem
                .with_type("/problems/too-many-logins")
                .with_detail(format!(
                    "Too many failed logins. Try again in {retry_after_secs} seconds."
                ))
                .with_header(RETRY_AFTER.as_str(), retry_after_secs.to_string()),
            AuthError::NotFound(what) => problem
                .with_type("/problems/not-found")
                .with_detail(format!("No such {what}.")),
            AuthError::Invalid { field, message } => Problem::invalid_field(*field, message.clone()),
            AuthError::OAuthCallback { error, detail } => problem
                .with_type("/problems/oauth-callback")
                .with_detail(detail.clone())
                .with_extension("error", *error),
            AuthError::OAuthLogin { error, detail } => problem
                .with_type("/problems/oauth-login")
                .with_detail(detail.clone())
                .with_extension("error", *error),
            AuthError::ProviderUnavailable(_) => problem
                .with_type("/problems/provider-unavailable")
                .with_detail("The identity provider did not answer properly; try again later."),
            AuthError::Unexpected(_) => Problem::internal(),
        }
    }
}

fn how_to_send(mechanism: Mechanism) -> &'static str {
    match mechanism {
        Mechanism::Basic => "`Authorization: Basic base64(username:password)`",
        Mechanism::Session => "the session cookie from POST /session/login",
        Mechanism::Jwt => "`Authorization: Bearer <token>` from POST /jwt/token",
        Mechanism::ApiKey => "`X-API-Key: <key>`",
    }
}

impl ResponseError for AuthError {
    /// Every variant named, no catch-all.
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::MissingCredentials(_)
            | AuthError::Refused { .. }
            | AuthError::OAuthLogin { .. } => StatusCode::UNAUTHORIZED,
            AuthError::Malformed { .. } | AuthError::OAuthCallback { .. } => {
                StatusCode::BAD_REQUEST
            }
            AuthError::Forbidden(_) | AuthError::NotOwner | AuthError::Csrf => {
                StatusCode::FORBIDDEN
            }
            AuthError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::NotFound(_) => StatusCode::NOT_FOUND,
            AuthError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AuthError::ProviderUnavailable(_) => StatusCode::BAD_GATEWAY,
            AuthError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The one place an error response is produced, so the one place it is logged: with its
    /// cause when it has one, at debug when it is routine (`support::problem::respond`).
    fn error_response(&self) -> HttpResponse {
        support::problem::respond(self, &self.problem(), self.cause())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<AuthError> {
        let mut all = Vec::new();
        for mechanism in Mechanism::ALL {
            all.push(AuthError::MissingCredentials(mechanism));
            all.push(AuthError::Refused {
                mechanism,
                refusal: Refusal::BadPassword,
            });
            all.push(AuthError::Malformed {
                mechanism,
                reason: "bad base64",
            });
        }
        all.extend([
            AuthError::Forbidden(Permission::DeleteDocuments),
            AuthError::NotOwner,
            AuthError::Csrf,
            AuthError::Throttled {
                retry_after_secs: 7,
            },
            AuthError::NotFound("document"),
            AuthError::Invalid {
                field: "title",
                message: "empty".into(),
            },
            AuthError::OAuthCallback {
                error: "invalid_request",
                detail: "state".into(),
            },
            AuthError::OAuthLogin {
                error: "invalid_grant",
                detail: "nonce".into(),
            },
            AuthError::ProviderUnavailable(anyhow::anyhow!("connect 10.9.8.7 refused")),
            AuthError::Unexpected(anyhow::anyhow!("lock poisoned in 10.9.8.7")),
        ]);
        all
    }

    /// Every 401 says how to authenticate; no 403 does (authenticating again would not help).
    #[test]
    fn every_401_carries_a_challenge_and_no_403_does() {
        for error in every_variant() {
            let response = error.problem().to_response();
            let challenged = response.headers().contains_key(WWW_AUTHENTICATE);
            match response.status() {
                StatusCode::UNAUTHORIZED if !matches!(error, AuthError::OAuthLogin { .. }) => {
                    assert!(challenged, "{error:?}")
                }
                StatusCode::FORBIDDEN => assert!(!challenged, "{error:?}"),
                _ => {}
            }
            assert_eq!(error.problem().status, response.status().as_u16());
        }
    }

    #[test]
    fn server_errors_never_show_their_cause() {
        for error in every_variant().into_iter().filter(|e| e.cause().is_some()) {
            let body = serde_json::to_string(&error.problem()).unwrap_or_default();
            assert!(!body.contains("10.9.8.7"), "{body}");
        }
    }
}
