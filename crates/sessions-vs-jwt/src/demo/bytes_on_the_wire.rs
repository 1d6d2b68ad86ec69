//! Per request, part 2: the bytes of the credential itself. A session cookie is an opaque id;
//! a JWT carries its claims and a signature, on every request.

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::{Bench, Credential, Mechanism};

const HS256_ROW: &str = "JWT HS256";
const EDDSA_ROW: &str = "JWT EdDSA";

/// Bytes of the credential's header line (`Cookie: …` or `Authorization: Bearer …`, CRLF included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialBytes {
    pub memory_cookie: usize,
    /// `None` without Redis.
    pub redis_cookie: Option<usize>,
    /// The access token A issued (HS256), which both JWT routes take.
    pub hs256_bearer: usize,
    /// The same claims signed with EdDSA.
    pub eddsa_bearer: usize,
}

impl CredentialBytes {
    /// What `mechanism` sends per request: both JWT routes take the HS256 token.
    pub fn for_mechanism(&self, mechanism: Mechanism) -> Option<usize> {
        match mechanism {
            Mechanism::MemorySession => Some(self.memory_cookie),
            Mechanism::RedisSession => self.redis_cookie,
            Mechanism::PlainJwt | Mechanism::CheckedJwt => Some(self.hs256_bearer),
        }
    }
}

pub fn section(n: &mut Narrator, bench: &Bench<'_>) -> anyhow::Result<CredentialBytes> {
    let eddsa = Credential::Bearer(bench.tokens.eddsa.clone());
    let figures = CredentialBytes {
        memory_cookie: bench.creds.memory.header_line().len(),
        redis_cookie: bench.creds.redis.as_ref().map(|c| c.header_line().len()),
        hs256_bearer: bench.creds.jwt.header_line().len(),
        eddsa_bearer: eddsa.header_line().len(),
    };
    let memory = Mechanism::MemorySession.label();
    let mut table = Table::new("credential")
        .column("sent as", Unit::Text)
        .column("bytes per request", Unit::Bytes)
        .ratio_against("bytes per request", memory)
        .chart(
            Chart::bars()
                .of(&["bytes per request"])
                .titled("The credential's bytes on every request"),
        );
    const COOKIE: &str = "Cookie header";
    const BEARER: &str = "Authorization: Bearer";
    table.row(memory, [COOKIE.into(), figures.memory_cookie.into()]);
    if let Some(bytes) = figures.redis_cookie {
        table.row(
            Mechanism::RedisSession.label(),
            [COOKIE.into(), bytes.into()],
        );
    }
    table.row(HS256_ROW, [BEARER.into(), figures.hs256_bearer.into()]);
    table.row(EDDSA_ROW, [BEARER.into(), figures.eddsa_bearer.into()]);
    n.say("Bytes on the wire for the credential alone (the header line, HTTP/1.1). A session cookie is an opaque id; a JWT carries its claims and a signature, on every request.");
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}
