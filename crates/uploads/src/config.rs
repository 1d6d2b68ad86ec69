//! Typed configuration, built once in `main` (or a test, or the demo) and passed down.
//!
//! Every variable is optional; the defaults run on a bare machine. A value that does not parse is
//! an error naming the variable.

use std::path::PathBuf;
use std::time::Duration;

use support::Settings;

use crate::inspect::{Allowlist, Limits};

/// `UPLOADS_DIR`: the backend's storage directory (default: `uploads` in the temp directory).
pub const DIR_VAR: &str = "UPLOADS_DIR";
/// `UPLOADS_MAX_BYTES`: the largest accepted file (default 2 GiB).
pub const MAX_BYTES_VAR: &str = "UPLOADS_MAX_BYTES";
/// `UPLOADS_S3_ENDPOINT`: an S3-compatible endpoint (`http://127.0.0.1:9000`). Unset, `serve`
/// starts its own on a free loopback port over a directory next to `UPLOADS_DIR`.
pub const S3_ENDPOINT_VAR: &str = "UPLOADS_S3_ENDPOINT";
/// `UPLOADS_S3_ACCESS_KEY` / `UPLOADS_S3_SECRET_KEY`: the credentials the backend signs with.
pub const S3_ACCESS_KEY_VAR: &str = "UPLOADS_S3_ACCESS_KEY";
pub const S3_SECRET_KEY_VAR: &str = "UPLOADS_S3_SECRET_KEY";
/// `UPLOADS_S3_BUCKET` (default `uploads`).
pub const S3_BUCKET_VAR: &str = "UPLOADS_S3_BUCKET";

/// A configuration variable held something unusable.
#[derive(Debug, thiserror::Error)]
#[error("{var} is not usable ({value:?}): {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The object store the direct path signs for.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `None`: start a local one (see [`S3_ENDPOINT_VAR`]).
    pub endpoint: Option<url::Url>,
    pub bucket: String,
    /// Any region works against a local server; it is part of what is signed.
    pub region: String,
    pub access_key: String,
    pub secret_key: Secret,
}

/// Everything this crate is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub storage_dir: PathBuf,
    pub limits: Limits,
    pub allow: Allowlist,
    pub s3: S3Config,
    /// How long a presigned URL or POST policy stays valid.
    pub presign_ttl: Duration,
    /// How long a `pending` upload may wait for its confirm before the sweep removes it.
    pub confirm_deadline: Duration,
    /// How long an unfinished tus upload is kept.
    pub tus_deadline: Duration,
    /// Database connections per pool.
    pub pool_size: usize,
}

impl Config {
    /// Defaults, overridden by the environment.
    pub fn from_env(settings: Settings) -> Result<Self, ConfigError> {
        Self::from_lookup(settings, |k| std::env::var(k).ok())
    }

    /// [`Config::from_env`] with the variables read from `lookup` (tests).
    pub fn from_lookup(
        settings: Settings,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.is_empty());
        let storage_dir =
            get(DIR_VAR).map_or_else(|| std::env::temp_dir().join("uploads"), PathBuf::from);
        let mut limits = Limits::default();
        if let Some(v) = get(MAX_BYTES_VAR) {
            limits.max_bytes = v
                .parse()
                .map_err(|e: std::num::ParseIntError| ConfigError {
                    var: MAX_BYTES_VAR,
                    value: v.clone(),
                    reason: e.to_string(),
                })?;
        }
        let endpoint = get(S3_ENDPOINT_VAR)
            .map(|v| {
                url::Url::parse(&v).map_err(|e| ConfigError {
                    var: S3_ENDPOINT_VAR,
                    value: v.clone(),
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        // Without a configured endpoint the local server is started with fresh random
        // credentials; with one, the credentials must be given.
        let (access_key, secret_key) = match (get(S3_ACCESS_KEY_VAR), get(S3_SECRET_KEY_VAR)) {
            (Some(a), Some(s)) => (a, s),
            _ if endpoint.is_some() => {
                return Err(ConfigError {
                    var: S3_ACCESS_KEY_VAR,
                    value: String::new(),
                    reason: format!("{S3_ENDPOINT_VAR} is set, so both keys must be"),
                });
            }
            _ => random_credentials(),
        };
        Ok(Self {
            settings,
            storage_dir,
            limits,
            allow: Allowlist::default(),
            s3: S3Config {
                endpoint,
                bucket: get(S3_BUCKET_VAR).unwrap_or_else(|| "uploads".to_owned()),
                region: "us-east-1".to_owned(),
                access_key,
                secret_key: Secret::new(secret_key),
            },
            presign_ttl: Duration::from_secs(300),
            confirm_deadline: Duration::from_secs(3600),
            tus_deadline: Duration::from_secs(24 * 3600),
            pool_size: 4,
        })
    }
}

/// An access key and secret for a local storage server nobody else talks to.
pub fn random_credentials() -> (String, String) {
    let hex = |n: usize| -> String {
        (0..n)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect()
    };
    (format!("LOCAL{}", hex(8).to_uppercase()), hex(20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_variable_is_named_and_an_endpoint_needs_its_keys() {
        let settings = Settings::default();
        let bad = Config::from_lookup(settings.clone(), |k| {
            (k == MAX_BYTES_VAR).then(|| "lots".to_owned())
        })
        .unwrap_err();
        assert_eq!(bad.var, MAX_BYTES_VAR);
        let keyless = Config::from_lookup(settings.clone(), |k| {
            (k == S3_ENDPOINT_VAR).then(|| "http://127.0.0.1:9000".to_owned())
        })
        .unwrap_err();
        assert_eq!(keyless.var, S3_ACCESS_KEY_VAR);
        let defaults = Config::from_lookup(settings, |_| None).unwrap();
        assert!(defaults.s3.endpoint.is_none());
        assert!(!format!("{:?}", defaults.s3).contains(defaults.s3.secret_key.expose()));
    }
}
