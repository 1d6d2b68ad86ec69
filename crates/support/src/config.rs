//! Typed configuration, built once in `main` (or a test) and passed down.
//!
//! Every default equals the address and credentials in `docker-compose.yml`, so a demo works with
//! no `.env` file at all. There is deliberately no global: a test that wants another database URL
//! builds its own `Settings`.

use std::env;

/// The variable that turns every "skipped: service unreachable" into a test failure (CI sets it).
pub const REQUIRE_SERVICES_VAR: &str = "BF_REQUIRE_SERVICES";

/// Default PostgreSQL URL: the `test` database of the local server, user `postgres`, trust auth.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Default Redis URL.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Default RabbitMQ URL (vhost `/`, written `%2f`).
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Default MariaDB URL: the `test` database of the local server, user `root`, no password.
pub const DEFAULT_MARIADB_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// Where the real services live, and whether their absence is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `DATABASE_URL`: the PostgreSQL server topics use when it is reachable.
    pub database_url: String,
    /// `REDIS_URL`.
    pub redis_url: String,
    /// `AMQP_URL`.
    pub amqp_url: String,
    /// `MARIADB_URL`: a MariaDB (or MySQL) server, for the topics that compare relational engines.
    pub mariadb_url: String,
    /// `BF_REQUIRE_SERVICES=1`: a missing service is an error, not a reason to fall back or skip.
    pub require_services: bool,
}

/// A variable was set to something this project cannot use.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The URL in the named variable does not parse or has no host.
    #[error("{var} is not a usable URL ({value:?}): {reason}")]
    BadUrl {
        var: &'static str,
        value: String,
        reason: String,
    },
    /// A flag variable held something other than a boolean.
    #[error("{var} must be 1/0, true/false or yes/no, not {value:?}")]
    BadFlag { var: &'static str, value: String },
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            redis_url: DEFAULT_REDIS_URL.to_owned(),
            amqp_url: DEFAULT_AMQP_URL.to_owned(),
            mariadb_url: DEFAULT_MARIADB_URL.to_owned(),
            require_services: false,
        }
    }
}

impl Settings {
    /// Reads `DATABASE_URL`, `REDIS_URL`, `AMQP_URL`, `MARIADB_URL` and `BF_REQUIRE_SERVICES`, falling back to
    /// the defaults above for anything unset or empty.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// The same as [`Settings::from_env`] over any lookup function, so it can be tested without
    /// touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |var: &'static str, default: &str| -> Result<String, ConfigError> {
            let value = lookup(var)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned());
            check_url(var, &value)?;
            Ok(value)
        };
        let require_services = match lookup(REQUIRE_SERVICES_VAR) {
            None => false,
            Some(value) => parse_flag(REQUIRE_SERVICES_VAR, &value)?,
        };
        Ok(Self {
            database_url: read("DATABASE_URL", DEFAULT_DATABASE_URL)?,
            redis_url: read("REDIS_URL", DEFAULT_REDIS_URL)?,
            amqp_url: read("AMQP_URL", DEFAULT_AMQP_URL)?,
            mariadb_url: read("MARIADB_URL", DEFAULT_MARIADB_URL)?,
            require_services,
        })
    }
}

fn check_url(var: &'static str, value: &str) -> Result<(), ConfigError> {
    let bad = |reason: String| ConfigError::BadUrl {
        var,
        value: value.to_owned(),
        reason,
    };
    let parsed = url::Url::parse(value).map_err(|e| bad(e.to_string()))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it names no host".to_owned()));
    }
    Ok(())
}

fn parse_flag(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => Ok(false),
        "1" | "true" | "yes" | "on" => Ok(true),
        _ => Err(ConfigError::BadFlag {
            var,
            value: value.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn unset_variables_fall_back_to_the_compose_defaults() {
        let settings = Settings::from_lookup(lookup(&[])).unwrap();
        assert_eq!(settings, Settings::default());
    }

    #[test]
    fn a_bad_url_names_the_variable_that_was_wrong() {
        let err = Settings::from_lookup(lookup(&[("REDIS_URL", "not a url")])).unwrap_err();
        assert!(err.to_string().starts_with("REDIS_URL"), "{err}");
    }

    #[test]
    fn require_services_accepts_the_usual_spellings_and_refuses_others() {
        for (value, expected) in [("1", true), ("true", true), ("0", false), ("no", false)] {
            let s = Settings::from_lookup(lookup(&[(REQUIRE_SERVICES_VAR, value)])).unwrap();
            assert_eq!(s.require_services, expected, "{value}");
        }
        assert!(Settings::from_lookup(lookup(&[(REQUIRE_SERVICES_VAR, "maybe")])).is_err());
    }
}
