//! # auth: how a REST API knows who is calling, and what they may do
//!
//! | module | what it holds |
//! |---|---|
//! | [`basic`] | alternative 1: HTTP Basic (RFC 7617), a password check on every request |
//! | [`session`] | alternative 2: a session cookie, with a CSRF token for state-changing requests |
//! | [`jwt_bearer`] | alternative 3: a short-lived JWT bearer token (HS256 pinned, `iss`/`aud`/`exp` checked) |
//! | [`api_keys`] | alternative 4: API keys for services: shown once, stored as a digest, prefixed, scoped, revocable |
//! | [`rbac`] | roles → permissions, and the one authorization check every mechanism ends in |
//! | [`guard`] | the authenticating middleware per mechanism, and the [`guard::Can`] extractor that asks RBAC |
//! | [`principal`] | the [`principal::Principal`] every mechanism produces, and the [`principal::Mechanism`]s |
//! | [`documents`] | the protected domain (documents with an owner) and the ownership rule |
//! | [`management`] | one's own API keys, and the admin's account switch |
//! | [`login`] | one password login for every mechanism: throttle, verify, record |
//! | [`throttle`] | failed logins counted per account and per client address (429 + `Retry-After`) |
//! | [`passwords`] | argon2id at the OWASP baseline, constant work for unknown users, rehash on login |
//! | [`accounts`] | local accounts, and external identities linked by `(iss, sub)` |
//! | [`credentials`] | reading a credential header: scheme, size, syntax |
//! | [`secrets`] | random tokens, digests, constant-time comparison |
//! | [`signing_key`] | an Ed25519 key and its JWKS |
//! | [`oauth_client`] | "log in with the provider": authorization code + PKCE S256 + `state` + `nonce`, the `id_token` verified, `(iss, sub)` linked, then a session |
//! | [`oauth_provider`] | the local OpenID provider standing in for Google: discovery, `/authorize`, `/token`, JWKS, `/userinfo` |
//! | [`oidc`] | the vocabulary both sides speak: scopes, parameters, RFC 6749 error codes, discovery, `id_token` claims |
//! | [`pkce`] | RFC 7636 code verifier and S256 challenge |
//! | [`app`] | the actix-web service: [`app::AppState`], [`app::configure`], [`app::run`], [`app::serve`] |
//! | [`config`] | [`config::Config`]: password cost, cookie, token lifetime, throttle limits |
//! | [`error`] | [`error::AuthError`] and its problem+json mapping (each 401 with its challenge) |
//! | [`demo`](mod@demo) | `cargo demo auth`: one file per section, each returning typed figures |
#![doc = include_str!("../README.md")]

pub mod accounts;
pub mod api_keys;
pub mod app;
pub mod basic;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod documents;
pub mod error;
pub mod guard;
pub mod jwt_bearer;
pub mod login;
pub mod management;
pub mod oauth_client;
pub mod oauth_provider;
pub mod oidc;
pub mod passwords;
pub mod pkce;
pub mod principal;
pub mod rbac;
pub mod secrets;
pub mod session;
pub mod signing_key;
pub mod throttle;

pub use app::{AppState, run};
pub use config::Config;
pub use demo::demo;
pub use error::AuthError;
