//! "What you just saw": the closing paragraph, written from the sections' figures alone.
//!
//! Every sentence reads a figure and has wording for the case where it goes the other way (a
//! loaded machine, a misconfigured cost, a broken rule): it never states what this run did not
//! measure.

use support::narrate::Narrator;
use support::report::format_number;

use super::AllFigures;
use crate::principal::Mechanism;

pub const TITLE: &str = "What you just saw";

/// `a`, `a and b`, `a, b and c`.
fn listed(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

pub fn section(n: &mut Narrator, figures: &AllFigures) {
    n.say(&paragraph(figures));
}

/// One derived sentence (or two) per finding, then the recommendation.
pub fn paragraph(f: &AllFigures) -> String {
    let mut sentences = vec![
        hashing(f),
        revocation(f),
        csrf(f),
        oauth(f),
        matrix(f),
        abuse(f),
        recommendation(f),
    ];
    sentences.retain(|s| !s.is_empty());
    sentences.join(" ")
}

fn duration(us: f64) -> String {
    if us >= 1_000.0 {
        format!("{} ms", format_number(us / 1_000.0))
    } else {
        format!("{} µs", format_number(us))
    }
}

fn hashing(f: &AllFigures) -> String {
    let c = &f.cost;
    let ratio = c.argon2_over_token();
    let head = format!(
        "Verifying an argon2id password took {} per request, against {} for a session lookup and {} \
         for a JWT verification",
        duration(c.argon2.p50_us()),
        duration(c.session.p50_us()),
        duration(c.jwt.p50_us()),
    );
    if ratio >= 1_000.0 {
        format!(
            "{head}: {}× more, which is why HTTP Basic, which checks the password on every request, \
             only suits low-traffic tools, while the other mechanisms check a password once and \
             then something cheap.",
            format_number(ratio)
        )
    } else if ratio > 1.0 {
        format!(
            "{head}: only {}× more in this run, far below the usual three orders of magnitude; \
             check that the password cost is the OWASP baseline.",
            format_number(ratio)
        )
    } else {
        format!(
            "{head}: the password check was not the slowest in this run, so the hash cost is misconfigured."
        )
    }
}

fn revocation(f: &AllFigures) -> String {
    let at_once: Vec<&str> = f
        .revocation
        .rows
        .iter()
        .filter(|r| r.accepted_for_secs == Some(0))
        .map(|r| r.mechanism.label())
        .collect();
    let jwt = f
        .revocation
        .get(Mechanism::Jwt)
        .and_then(|r| r.accepted_for_secs);
    let first = if at_once.is_empty() {
        "No mechanism refused a disabled account on the next request.".to_owned()
    } else {
        format!(
            "After the account was disabled, {} refused the next request.",
            listed(&at_once)
        )
    };
    let second = match jwt {
        Some(0) => {
            " The JWT was refused at once too, so this verifier must be looking something up."
                .to_owned()
        }
        Some(secs) => format!(
            " The JWT kept working for {secs} s of the demo's clock (its lifetime is {} s): a \
             token that needs no lookup cannot be revoked, so its lifetime is the revocation delay.",
            f.revocation.jwt_lifetime_secs
        ),
        None => " The JWT was still accepted at the end of the probe.".to_owned(),
    };
    first + &second
}

fn csrf(f: &AllFigures) -> String {
    let through: Vec<&str> = f
        .mechanisms
        .rows
        .iter()
        .filter(|r| r.forged_post_authenticated())
        .map(|r| r.mechanism.label())
        .collect();
    let session = f
        .mechanisms
        .get(Mechanism::Session)
        .map(|r| r.forged_post_status);
    let mut s = match session {
        Some(403) => "A forged cross-site POST carrying the session cookie was refused with 403 for lack of the CSRF token".to_owned(),
        Some(status) => format!("A forged cross-site POST carrying the session cookie got {status}, so the CSRF defence did not hold"),
        None => String::new(),
    };
    if through.is_empty() {
        s.push_str("; no forged request got past authentication.");
    } else {
        s.push_str(&format!(
            "; {} let it through authentication, because the browser attaches those credentials by itself.",
            listed(&through)
        ));
    }
    s
}

fn oauth(f: &AllFigures) -> String {
    let o = &f.oauth;
    let nonce = if o.id_token_claims.iter().any(|c| c == "nonce") {
        "carrying the nonce the client had sent"
    } else {
        "WITHOUT a nonce, so nothing tied it to this login"
    };
    let linked = if o.local_account.is_empty() {
        "no local account was linked".to_owned()
    } else {
        format!(
            "{} at the provider became the local account {}",
            o.provider_user, o.local_account
        )
    };
    format!(
        "One OAuth2 login took {} browser requests ({} of them redirects) and {} calls from the          service to the provider, {} ms in all, {} ms of it on the back channel; the {} id_token          came back {nonce}, and {linked}.",
        o.browser_requests,
        o.redirects,
        o.back_channel_requests,
        format_number(o.login_ms),
        format_number(o.back_channel_ms),
        o.id_token_algorithm,
    )
}

fn matrix(f: &AllFigures) -> String {
    let m = &f.matrix;
    let agree = if m.mechanisms_agree() {
        "the same on the document and account routes in all four mechanisms, because every one ends in the same principal and permission check"
    } else {
        "NOT the same across mechanisms on the document and account routes, which means one door skips or changes a rule"
    };
    let keys = if m.keys_never_manage_keys() {
        " (API keys alone were refused key management, whoever minted them)"
    } else {
        " (and an API key was allowed to manage keys, which it never should)"
    };
    let challenges = match m.wrong_challenges() {
        0 => "every 401 carried its mechanism's WWW-Authenticate challenge and no other status did"
            .to_owned(),
        wrong => format!("{wrong} of them had a wrong or missing challenge"),
    };
    format!(
        "The RBAC matrix answered {} requests with {} × 401, {} × 403 and {} allowed, {agree}{keys}; {challenges}; \
         a handler's authorization check cost {} ns.",
        m.cells.len(),
        m.count(401),
        m.count(403),
        m.allowed(),
        format_number(f.cost.guard.p50_ns())
    )
}

fn abuse(f: &AllFigures) -> String {
    let a = &f.abuse;
    let throttle = match a.throttled_at() {
        Some(at) => format!(
            "Attempt {at} at one account was answered 429 with Retry-After{}",
            if a.let_in_after_wait() {
                ", and the right password got in after the wait"
            } else {
                ", and the right password was still refused after the wait"
            }
        ),
        None => "The per-account throttle never answered 429".to_owned(),
    };
    let ratio = a.timing_ratio();
    let timing = if (0.8..=1.25).contains(&ratio) {
        format!(
            "an unknown username took {}× the time of a wrong password, so timing does not reveal which names exist.",
            format_number(ratio)
        )
    } else {
        format!(
            "an unknown username took {}× the time of a wrong password, a difference an attacker could measure.",
            format_number(ratio)
        )
    };
    format!("{throttle}; {timing}")
}

fn recommendation(f: &AllFigures) -> String {
    let session = f.mechanisms.get(Mechanism::Session);
    let jwt = f.mechanisms.get(Mechanism::Jwt);
    let faster = match (session, jwt) {
        (Some(s), Some(j)) if s.request.p50 <= j.request.p50 => {
            "and it was no slower than the JWT here".to_owned()
        }
        (Some(s), Some(j)) => format!(
            "though it took {}× the JWT's time per request here",
            format_number(s.request.p50.as_secs_f64() / j.request.p50.as_secs_f64().max(1e-9))
        ),
        _ => String::new(),
    };
    format!(
        "Recommendation: for a browser app, a session cookie with SameSite and a CSRF token (revocable at once, unreadable by script) {faster}; \
         for APIs called by SPAs, mobile apps or many servers, short-lived JWTs; API keys for services; \
         OAuth2/OIDC when users should log in with an existing account; Basic only for tools, over TLS."
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use support::measure::Measurement;

    use super::*;
    use support::report::Goal;

    use crate::demo::goals::Goals;
    use crate::demo::login_abuse::{Attempt, LoginAbuse};
    use crate::demo::mechanism_table::{MechanismRow, MechanismTable};
    use crate::demo::oauth_transcript::OAuthFlow;
    use crate::demo::per_request_cost::PerRequestCost;
    use crate::demo::rbac_matrix::{Cell, RbacMatrix, Route};
    use crate::demo::revocation::{Revocation, Revoked};
    use crate::passwords::PasswordCost;
    use crate::rbac::Role;

    fn m(p50_us: f64) -> Measurement {
        Measurement::flat(Duration::from_secs_f64(p50_us / 1e6))
    }

    fn goal(met: bool) -> Goal {
        Goal {
            measured: 1.0,
            target: 1.0,
            met,
        }
    }

    /// Figures shaped like a healthy run.
    fn expected() -> AllFigures {
        let statuses = |mechanism| {
            let mut cells = Vec::new();
            for role in [
                None,
                Some(Role::Reader),
                Some(Role::Author),
                Some(Role::Admin),
            ] {
                for route in Route::ALL {
                    let status = match (role, route) {
                        (None, _) => 401,
                        (_, Route::ListOwnKeys) if mechanism == Mechanism::ApiKey => 403,
                        (Some(Role::Admin), _) => 200,
                        (Some(_), Route::ReadDocument | Route::ListOwnKeys) => 200,
                        (Some(Role::Author), Route::CreateDocument | Route::EditOwnDocument) => 201,
                        (Some(_), _) => 403,
                    };
                    cells.push(Cell {
                        mechanism,
                        role,
                        route,
                        status,
                        challenge_right: true,
                    });
                }
            }
            cells
        };
        AllFigures {
            cost: PerRequestCost {
                argon2_cost: PasswordCost::OWASP,
                argon2: m(25_000.0),
                session: m(0.5),
                jwt: m(2.0),
                api_key: m(1.0),
                authorize: m(0.02),
                guard: m(0.1),
            },
            mechanisms: MechanismTable {
                rows: Mechanism::ALL
                    .into_iter()
                    .map(|mechanism| MechanismRow {
                        mechanism,
                        credential_bytes: 70,
                        request: m(if mechanism == Mechanism::Basic {
                            25_000.0
                        } else {
                            80.0
                        }),
                        server_records: 1,
                        forged_post_status: match mechanism {
                            Mechanism::Basic => 415,
                            Mechanism::Session => 403,
                            _ => 401,
                        },
                        http_only: (mechanism == Mechanism::Session).then_some(true),
                    })
                    .collect(),
            },
            revocation: Revocation {
                rows: Mechanism::ALL
                    .into_iter()
                    .map(|mechanism| Revoked {
                        mechanism,
                        status_right_after: if mechanism == Mechanism::Jwt {
                            200
                        } else {
                            401
                        },
                        accepted_for_secs: Some(if mechanism == Mechanism::Jwt { 300 } else { 0 }),
                    })
                    .collect(),
                jwt_lifetime_secs: 300,
            },
            oauth: OAuthFlow {
                browser_requests: 5,
                redirects: 3,
                back_channel_requests: 4,
                browser_bytes_received: 4_000,
                back_channel_bytes_sent: 500,
                back_channel_bytes_received: 3_000,
                login_ms: 12.0,
                back_channel_ms: 4.0,
                front_channel_parameters: vec![
                    "state".into(),
                    "code_challenge".into(),
                    "nonce".into(),
                ],
                id_token_algorithm: "EdDSA".into(),
                id_token_claims: vec!["iss".into(), "sub".into(), "aud".into(), "nonce".into()],
                provider_user: "grace".into(),
                local_account: "grace".into(),
            },
            matrix: RbacMatrix {
                cells: Mechanism::ALL.into_iter().flat_map(statuses).collect(),
            },
            abuse: LoginAbuse {
                per_account: 5,
                per_address: 50,
                window_secs: 900,
                account_sequence: vec![
                    Attempt {
                        label: "wrong".into(),
                        status: 401,
                        retry_after_secs: None,
                    },
                    Attempt {
                        label: "wrong".into(),
                        status: 429,
                        retry_after_secs: Some(900),
                    },
                    Attempt {
                        label: "later".into(),
                        status: 200,
                        retry_after_secs: None,
                    },
                ],
                spray_throttled_at: Some(51),
                unknown_user: m(25_000.0),
                wrong_password: m(25_000.0),
            },
            goals: Goals {
                authorize_ns: goal(true),
                argon2_over_token: goal(true),
            },
        }
    }

    #[test]
    fn the_expected_figures_give_the_lesson() {
        let p = paragraph(&expected());
        assert!(p.contains("12,500× more"), "{p}");
        assert!(
            p.contains("HTTP Basic, session cookie and API key refused the next request"),
            "{p}"
        );
        assert!(p.contains("kept working for 300 s"), "{p}");
        assert!(p.contains("refused with 403"), "{p}");
        assert!(
            p.contains("the same on the document and account routes"),
            "{p}"
        );
        assert!(p.contains("does not reveal"), "{p}");
        assert!(
            p.contains("5 browser requests (3 of them redirects) and 4 calls"),
            "{p}"
        );
        assert!(p.contains("carrying the nonce"), "{p}");
    }

    #[test]
    fn contrary_figures_change_every_claim_they_touch() {
        let mut f = expected();
        f.cost.argon2 = m(1.0);
        f.revocation.rows.iter_mut().for_each(|r| {
            r.accepted_for_secs = Some(if r.mechanism == Mechanism::Jwt {
                0
            } else {
                300
            })
        });
        for row in &mut f.mechanisms.rows {
            row.forged_post_status = 201;
        }
        let first = f
            .matrix
            .cells
            .iter_mut()
            .find(|c| c.mechanism == Mechanism::Jwt && c.role.is_some());
        if let Some(cell) = first {
            cell.status = 500;
            cell.challenge_right = false;
        }
        f.abuse.unknown_user = m(1_000.0);
        f.oauth.id_token_claims.retain(|c| c != "nonce");
        f.oauth.local_account.clear();
        f.abuse
            .account_sequence
            .iter_mut()
            .for_each(|a| a.status = 401);
        let p = paragraph(&f);
        assert!(p.contains("hash cost is misconfigured"), "{p}");
        assert!(
            p.contains("only JWT bearer refused")
                || p.contains("JWT bearer refused the next request"),
            "{p}"
        );
        assert!(p.contains("must be looking something up"), "{p}");
        assert!(p.contains("did not hold"), "{p}");
        assert!(p.contains("NOT the same"), "{p}");
        assert!(
            p.contains("1 of them had a wrong or missing challenge"),
            "{p}"
        );
        assert!(p.contains("never answered 429"), "{p}");
        assert!(p.contains("an attacker could measure"), "{p}");
        assert!(p.contains("WITHOUT a nonce"), "{p}");
        assert!(p.contains("no local account was linked"), "{p}");
    }
}
