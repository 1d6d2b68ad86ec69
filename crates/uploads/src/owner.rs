//! Who is uploading: the owner every row belongs to and every download is checked against.
//!
//! **A stand-in for authentication.** The `auth` topic covers how a server knows who is
//! calling; repeating it here would bury this lesson. So the owner arrives in a header, and the
//! extractor only checks that it is a plausible id. Production takes it from the verified
//! session or token instead; nothing else in this crate would change, because handlers only ever
//! see an [`Owner`].

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload};

use crate::error::Error;

/// The request header that names the owner.
pub use crate::headers::OWNER as OWNER_HEADER;

/// An authenticated owner id: 1 to 64 ASCII letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner(pub String);

impl Owner {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromRequest for Owner {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.headers()
                .get(OWNER_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(Owner::parse)
                .ok_or(Error::Unauthenticated),
        )
    }
}
