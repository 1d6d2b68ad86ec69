//! The vocabulary of OAuth2 and OpenID Connect that both sides speak: scopes, parameter names,
//! RFC 6749's error codes, the discovery document, the `id_token`'s claims, the token and
//! userinfo answers.
//!
//! Here, apart from both, so that the client (`oauth_client.rs`) knows nothing of the provider it
//! talks to except what the specifications say: the same client logs in against the local
//! stand-in (`oauth_provider.rs`) and against a certified provider it has never seen.

use serde::{Deserialize, Serialize};
use support::clock::UnixSeconds;

/// The scopes of a login. `openid` is what makes an OAuth2 request an OpenID Connect one.
pub const OPENID: &str = "openid";
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";

/// Request parameter names (RFC 6749 §4.1.1, §4.1.3; RFC 7636; OIDC Core §3.1.2.1).
pub mod param {
    pub const RESPONSE_TYPE: &str = "response_type";
    pub const CLIENT_ID: &str = "client_id";
    pub const CLIENT_SECRET: &str = "client_secret";
    pub const REDIRECT_URI: &str = "redirect_uri";
    pub const SCOPE: &str = "scope";
    pub const STATE: &str = "state";
    pub const NONCE: &str = "nonce";
    pub const CODE_CHALLENGE: &str = "code_challenge";
    pub const CODE_CHALLENGE_METHOD: &str = "code_challenge_method";
    pub const CODE_VERIFIER: &str = "code_verifier";
    pub const GRANT_TYPE: &str = "grant_type";
    pub const CODE: &str = "code";
    pub const ERROR: &str = "error";
    pub const ERROR_DESCRIPTION: &str = "error_description";
    /// RFC 9207: the issuer in the authorization response, against mix-up attacks.
    pub const ISS: &str = "iss";
    /// The login form's reference to the pending authorization request.
    pub const INTERACTION: &str = "interaction";
}

/// RFC 6749's error codes (§4.1.2.1 for the authorization endpoint, §5.2 for the token
/// endpoint), plus RFC 6750's `invalid_token` for `/userinfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    InvalidToken,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidClient,
        ErrorCode::InvalidGrant,
        ErrorCode::UnauthorizedClient,
        ErrorCode::UnsupportedGrantType,
        ErrorCode::UnsupportedResponseType,
        ErrorCode::InvalidScope,
        ErrorCode::AccessDenied,
        ErrorCode::ServerError,
        ErrorCode::InvalidToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::InvalidToken => "invalid_token",
        }
    }

    /// The code named `name`, if it is one of these.
    pub fn parse(name: &str) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// RFC 6749 §5.2's error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// The discovery document (OpenID Connect Discovery 1.0 §3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    #[serde(default)]
    pub subject_types_supported: Vec<String>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub claims_supported: Vec<String>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// The `id_token`'s claims (OIDC Core §2).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: UnixSeconds,
    pub iat: UnixSeconds,
    pub auth_time: UnixSeconds,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The authorized party: the client the token was issued to.
    pub azp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// `/userinfo`'s answer (OIDC Core §5.3.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdentityClaims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// `/token`'s answer (RFC 6749 §5.1, plus OIDC's `id_token`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub id_token: String,
    pub scope: String,
}
