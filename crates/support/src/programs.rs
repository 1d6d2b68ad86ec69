//! Installed programs a demo or a test runs itself (Memcached, nginx, Chromium): where each is,
//! by one rule, and a free loopback port to run it on.
//!
//! The rule, for a program whose override variable is `VAR` (`MEMCACHED_SERVER`, `NGINX_SERVER`,
//! `CHROMIUM_BROWSER`):
//!
//! 1. `VAR=<path>` names the binary; `VAR=none` makes the program count as absent even when it is
//!    installed (CI's bare-machine pass sets it, to prove every demo and test copes without);
//! 2. otherwise the first of the program's names found on `PATH`;
//! 3. otherwise the places Debian's package puts it, for a `PATH` without `/usr/sbin`.
//!
//! Absence is a value ([`Absent`]), not a failure: callers turn it into a skip
//! ([`crate::testkit::present`]) or a "left out" line, and fail only on a program that is there
//! and misbehaves.

use std::path::PathBuf;

/// The value of an override variable that makes its program count as absent.
pub const DISABLED: &str = "none";

/// Why a program is not available: a reason to skip, in words a reader can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Absent {
    pub reason: String,
}

/// One program: its override variable, its names on `PATH`, and where its package installs it.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    pub variable: &'static str,
    pub names: &'static [&'static str],
    pub fallbacks: &'static [&'static str],
}

impl Program {
    /// Where the program is, or why it is not (by the rule in this module's docs).
    pub fn locate(&self) -> Result<PathBuf, Absent> {
        self.locate_with(std::env::var_os(self.variable), std::env::var_os("PATH"))
    }

    /// [`Program::locate`] with the variable's and `PATH`'s values given, so the rule is testable
    /// without changing this process's environment.
    pub fn locate_with(
        &self,
        setting: Option<std::ffi::OsString>,
        path: Option<std::ffi::OsString>,
    ) -> Result<PathBuf, Absent> {
        if let Some(value) = setting.filter(|v| !v.is_empty()) {
            if value == DISABLED {
                return Err(Absent {
                    reason: format!("{}={DISABLED} treats it as absent", self.variable),
                });
            }
            return Ok(PathBuf::from(value));
        }
        let path = path.unwrap_or_default();
        std::env::split_paths(&path)
            .flat_map(|dir| self.names.iter().map(move |name| dir.join(name)))
            .chain(self.fallbacks.iter().map(PathBuf::from))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| Absent {
                reason: format!(
                    "`{}` is not on PATH (or set {} to its path)",
                    self.names.first().copied().unwrap_or("the program"),
                    self.variable
                ),
            })
    }
}

/// A loopback port nobody listens on right now: bind port 0, read what the kernel chose, let it
/// go. Another process can take it before the caller's server binds it; callers that start a
/// server retry on a fresh port when it exits at once.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SH: Program = Program {
        variable: "SH_FOR_THIS_TEST",
        names: &["no-such-program-here", "sh"],
        fallbacks: &[],
    };

    #[test]
    fn none_makes_an_installed_program_absent() {
        let got = SH.locate_with(Some("none".into()), Some("/bin:/usr/bin".into()));
        assert!(got.is_err_and(|a| a.reason.contains("SH_FOR_THIS_TEST=none")));
    }

    #[test]
    fn a_path_in_the_variable_wins_over_path() {
        let got = SH.locate_with(Some("/opt/sh".into()), Some("/bin".into()));
        assert_eq!(got, Ok(PathBuf::from("/opt/sh")));
    }

    #[test]
    fn any_of_the_names_is_found_on_path_and_a_fallback_after() {
        let found = SH.locate_with(None, Some("/nowhere:/bin:/usr/bin".into()));
        assert!(found.is_ok_and(|p| p.ends_with("sh")));
        let fallback = Program {
            fallbacks: &["/bin/sh"],
            ..SH
        };
        assert_eq!(
            fallback.locate_with(None, Some("/nowhere".into())),
            Ok(PathBuf::from("/bin/sh"))
        );
        let missing = SH.locate_with(None, Some("/nowhere".into()));
        assert!(missing.is_err_and(|a| a.reason.contains("not on PATH")));
    }

    #[test]
    fn a_free_port_is_a_real_port() {
        assert!(free_port().is_ok_and(|p| p > 0));
    }
}
