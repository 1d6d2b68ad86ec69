//! "What you just saw": the closing paragraph, written from the sections' figures alone.
//!
//! Every sentence reads a figure and has wording for the case where it goes the other way: a
//! loaded machine can make EdDSA verify faster than HS256, or a Redis session slower than its
//! round trip; a broken setup can let a memory session succeed on both instances, or a
//! verify-only token be refused at once. The paragraph never says what this run did not measure.

use support::narrate::Narrator;
use support::report::{format_number, format_ratio};

use super::Mechanism;
use super::PerMechanism;
use super::authentication_cost::AuthenticationCost;
use super::bytes_on_the_wire::CredentialBytes;
use super::goals::Goals;
use super::login_cost::{HashCostUsed, LoginCost};
use super::revocation::{Refusal, Revocation};
use super::two_instances::{Successes, TwoInstances};
use super::whole_request::{AuthShare, WholeRequest, auth_share};

pub const TITLE: &str = "What you just saw";
/// Two medians within this factor of each other are "about the same": one scheduler hiccup on a
/// loaded 2-core machine moves a microsecond median by more than a few percent.
pub const ABOUT_THE_SAME: f64 = 1.25;

/// What the paragraph reads.
#[derive(Debug, Clone, Copy)]
pub struct Figures<'a> {
    pub login: &'a LoginCost,
    pub bytes: &'a CredentialBytes,
    pub cost: &'a AuthenticationCost,
    pub whole: &'a WholeRequest,
    pub revocation: &'a Revocation,
    pub routing: &'a TwoInstances,
    pub goals: &'a Goals,
}

/// Prints the paragraph (the heading is printed by the demo's table of contents).
pub fn section(n: &mut Narrator, figures: &Figures<'_>) {
    n.say(&paragraph(figures));
}

/// One derived sentence (or two) per finding, then the recommendation.
pub fn paragraph(f: &Figures<'_>) -> String {
    let mut sentences = vec![
        login(f),
        memory(f),
        nginx(f),
        hs256(f),
        logged_out_token(f),
        eddsa(f),
        redis(f),
        whole_request(f),
        goals(f.goals),
        recommendation(f),
    ];
    sentences.retain(|s| !s.is_empty());
    sentences.join(" ")
}

/// A median in µs, or in ms from a millisecond up (a login is tens of thousands of µs).
fn us(v: f64) -> String {
    if v >= 1_000.0 {
        format!("{} ms", format_number(v / 1_000.0))
    } else {
        format!("{} µs", format_number(v))
    }
}

fn percent(s: Successes) -> String {
    format!("{} %", format_number(s.percent()))
}

fn refused_at_once(r: &Refusal) -> bool {
    r.after_logout == Some(0) && r.after_password_change == Some(0)
}

fn login(f: &Figures<'_>) -> String {
    let login = f.login.login.p50_us();
    let request = f.whole.memory.p50_us();
    let cost = match f.login.hash_cost {
        HashCostUsed::Owasp => "argon2id at the OWASP cost",
        HashCostUsed::Cheap => "argon2id at the cheap test cost",
    };
    if login > request {
        format!(
            "Logging in took {} ({cost}), {} a whole memory-session GET /me: a price paid once per login, not per request.",
            us(login),
            format_ratio(login / request)
        )
    } else {
        format!(
            "Logging in took {} ({cost}), no more than a whole GET /me ({}): at this cost the hash protects little.",
            us(login),
            us(request)
        )
    }
}

fn memory(f: &Figures<'_>) -> String {
    let cost = f.cost;
    let mem = cost.memory.p50_us();
    let mut others = vec![
        ("an HS256 verification", cost.hs256_verify.p50_us()),
        ("an EdDSA verification", cost.eddsa_verify.p50_us()),
    ];
    if let Some(r) = &cost.redis {
        others.push(("a Redis session lookup", r.session.p50_us()));
    }
    let fastest = others
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|(_, v)| *v < mem);
    let head = match fastest {
        None => format!("A memory session is the cheapest check ({} p50)", us(mem)),
        Some((what, v)) => format!(
            "A memory session check took {} p50, more than {what} ({}) in this run",
            us(mem),
            us(v)
        ),
    };
    let rr = f.routing.round_robin.memory;
    let sticky = f.routing.sticky.memory;
    if rr.all() {
        format!(
            "{head}, and every round-robin request found it, which two separate processes cannot do: the second instance must have shared the first one's memory."
        )
    } else if sticky.all() {
        format!(
            "{head}, but only {} of round-robin requests found it (sticky routing: {}).",
            percent(rr),
            percent(sticky)
        )
    } else {
        format!(
            "{head}, but only {} of round-robin requests found it, and even sticky routing only {}.",
            percent(rr),
            percent(sticky)
        )
    }
}

/// The mechanisms other than the memory session that did not succeed on every request.
fn shared_failures(p: &PerMechanism<Successes>) -> Vec<String> {
    p.iter()
        .filter(|(m, s)| *m != Mechanism::MemorySession && !s.all())
        .map(|(m, s)| format!("the {} worked on only {}", m.label(), percent(*s)))
        .collect()
}

/// "the Redis session, the JWT (verify only) and the JWT + denylist": what was measured besides
/// the memory session.
fn shared_labels(p: &PerMechanism<Successes>) -> String {
    let labels: Vec<String> = p
        .iter()
        .filter(|(m, _)| *m != Mechanism::MemorySession)
        .map(|(m, _)| format!("the {}", m.label()))
        .collect();
    match labels.split_last() {
        None => "nothing else".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

fn nginx(f: &Figures<'_>) -> String {
    let Some(x) = &f.routing.nginx else {
        return "(nginx was not available: the only load balancer in this run was the client alternating by itself.)".to_owned();
    };
    let who = x.version.as_deref().unwrap_or("nginx");
    let rr = x.round_robin.memory;
    let others = shared_failures(&x.round_robin);
    let mut text = if rr.all() {
        let rest = if others.is_empty() {
            String::new()
        } else {
            format!(", and {}", others.join(" and "))
        };
        format!(
            "Through a real {who}, round robin found the memory session on every request, which two instances with separate memory cannot do: nginx must have sent every request to one instance{rest}."
        )
    } else {
        let rest = if others.is_empty() {
            format!(" and {} on all of them.", shared_labels(&x.round_robin))
        } else {
            format!(", and {}.", others.join(" and "))
        };
        format!(
            "Through a real {who}, round robin found the memory session on only {} of requests{rest}",
            percent(rr)
        )
    };
    let sticky = x.sticky.memory;
    let head = if sticky.all() {
        "With ip_hash nginx pinned this client to one instance and the memory session worked on every request".to_owned()
    } else {
        format!(
            "Even with ip_hash the memory session worked on only {} of requests",
            percent(sticky)
        )
    };
    let after = x.after_pinned_killed.memory;
    let failover = if after.none() {
        "once that instance was killed, nginx moved the client to the other one, which had never seen the session (0 %)".to_owned()
    } else if after.all() {
        "once that instance was killed, the memory session still worked on every request, which a session held in the killed instance's memory cannot do".to_owned()
    } else {
        format!(
            "once that instance was killed, the memory session still worked on {} of requests",
            percent(after)
        )
    };
    let others = shared_failures(&x.after_pinned_killed);
    let rest = if others.is_empty() {
        format!(
            ", while {} kept working on every request.",
            shared_labels(&x.after_pinned_killed)
        )
    } else {
        format!(", and {}.", others.join(" and "))
    };
    text.push_str(&format!(" {head}; {failover}{rest}"));
    text
}

fn hs256(f: &Figures<'_>) -> String {
    let hs = f.cost.hs256_verify.p50_us();
    let everywhere = f.routing.round_robin.plain_jwt;
    let where_ = if everywhere.all() {
        "and worked on both instances".to_owned()
    } else {
        format!(
            "yet only {} of round-robin requests accepted it",
            percent(everywhere)
        )
    };
    let (jwt, cookie) = (f.bytes.hs256_bearer, f.bytes.memory_cookie);
    #[allow(clippy::cast_precision_loss)] // header sizes, far below 2^52
    let size = if jwt > cookie {
        format!(
            "but costs {jwt} bytes on every request against {cookie} for a cookie ({})",
            format_ratio(jwt as f64 / cookie as f64)
        )
    } else {
        format!("and at {jwt} bytes was no larger than the {cookie}-byte cookie")
    };
    format!(
        "An HS256 JWT verifies in {} with no lookup {where_}, {size}.",
        us(hs)
    )
}

fn logged_out_token(f: &Figures<'_>) -> String {
    let r = f.revocation;
    let expiry = r.access_ttl_secs + r.leeway_secs;
    match r.refused.plain_jwt.after_logout {
        Some(0) => "A logged-out token verified by signature alone was refused at once, which a token without a lookup cannot do: something else refused it.".to_owned(),
        Some(s) if s >= expiry => format!(
            "A logged-out token kept working: it was first refused at +{s} s, once its exp and the {} s of leeway had passed.",
            r.leeway_secs
        ),
        Some(s) => format!(
            "A logged-out token kept working until +{s} s, before its exp (+{} s) had passed.",
            r.access_ttl_secs
        ),
        None => format!(
            "A logged-out token was still accepted +{} s later, when the probing stopped.",
            r.horizon_secs
        ),
    }
}

fn eddsa(f: &Figures<'_>) -> String {
    let (ed, hs) = (f.cost.eddsa_verify.p50_us(), f.cost.hs256_verify.p50_us());
    let ratio = ed / hs;
    if ratio > ABOUT_THE_SAME {
        format!(
            "An EdDSA verification took {}, {} HS256's: the price of tokens that other services verify with the public key alone.",
            us(ed),
            format_ratio(ratio)
        )
    } else if ratio < 1.0 / ABOUT_THE_SAME {
        format!(
            "An EdDSA verification took {}, less than HS256's {} in this run: here the public-key variant cost nothing extra.",
            us(ed),
            us(hs)
        )
    } else {
        format!(
            "An EdDSA verification took {}, about the same as HS256's {}.",
            us(ed),
            us(hs)
        )
    }
}

fn redis(f: &Figures<'_>) -> String {
    let Some(cost) = &f.cost.redis else {
        return "(Redis was not reachable: the Redis rows were left out.)".to_owned();
    };
    let (session, get) = (cost.session.p50_us(), cost.bare_get.p50_us());
    let ratio = session / get;
    let mut text = format!(
        "A Redis session lookup took {} against {} for a bare GET ({}), and the JWT denylist check {}",
        us(session),
        us(get),
        format_ratio(ratio),
        us(cost.denylist.p50_us())
    );
    if ratio <= ABOUT_THE_SAME {
        text.push_str(": the network round trip is nearly the whole cost.");
    } else {
        text.push_str(&format!(
            ": the session logic added {} to the round trip.",
            us(session - get)
        ));
    }
    let behaved = |m: Mechanism| -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(r) = f.revocation.refused.get(m).filter(|r| !refused_at_once(r)) {
            problems.push(match r.after_logout {
                Some(s) if s > 0 => format!("was still accepted {s} s after logout"),
                None => "was never refused after logout".to_owned(),
                Some(_) => "outlived a password change".to_owned(),
            });
        }
        if let Some(s) = f.routing.round_robin.get(m).filter(|s| !s.all()) {
            problems.push(format!(
                "succeeded on only {} of round-robin requests",
                percent(*s)
            ));
        }
        problems
    };
    let (session_problems, token_problems) = (
        behaved(Mechanism::RedisSession),
        behaved(Mechanism::CheckedJwt),
    );
    if session_problems.is_empty() && token_problems.is_empty() {
        text.push_str(" Both were refused at once after logout and a password change, and worked on both instances.");
    }
    for (label, problems) in [
        ("The Redis session", session_problems),
        ("The denylisted token", token_problems),
    ] {
        if !problems.is_empty() {
            text.push_str(&format!(" {label} {}.", problems.join(" and ")));
        }
    }
    text
}

fn whole_request(f: &Figures<'_>) -> String {
    let medians: Vec<f64> = f.whole.iter().map(|(_, m)| m.p50_us()).collect();
    let fastest = medians.iter().copied().fold(f64::INFINITY, f64::min);
    let slowest = medians.iter().copied().fold(0.0, f64::max);
    let verdict = match auth_share(f.whole, f.cost) {
        AuthShare::Small => "the authentication step was the smaller part of every one".to_owned(),
        AuthShare::Most(m, share) => format!(
            "for the {} the authentication step was most of it ({} %)",
            m.label(),
            format_number(share * 100.0)
        ),
        AuthShare::Exceeds(m, auth, whole) => format!(
            "for the {} the in-process timing ({}) came out above the whole request ({}), so this run cannot say what share authentication takes",
            m.label(),
            us(auth),
            us(whole)
        ),
    };
    format!(
        "Over loopback HTTP a whole GET /me took {} to {} at the median: {verdict}.",
        us(fastest),
        us(slowest)
    )
}

fn goals(g: &Goals) -> String {
    let hs = g.hs256_verify_us;
    let hs_text = format!("HS256 verification below {} µs", format_number(hs.target));
    let redis_text = |target: f64| {
        format!(
            "a Redis session within {} of a bare GET",
            format_ratio(target)
        )
    };
    let mut met = Vec::new();
    let mut missed = Vec::new();
    if hs.met {
        met.push(hs_text);
    } else {
        missed.push(format!("{hs_text} (measured {})", us(hs.measured)));
    }
    match g.redis_over_bare_get {
        Some(r) if r.met => met.push(redis_text(r.target)),
        Some(r) => missed.push(format!(
            "{} (measured {})",
            redis_text(r.target),
            format_ratio(r.measured)
        )),
        None => {}
    }
    let mut text = String::new();
    if !met.is_empty() {
        text.push_str(&format!("Goals met: {}.", met.join("; ")));
    }
    if !missed.is_empty() {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&format!("Goals missed: {}.", missed.join("; ")));
    }
    text
}

fn recommendation(f: &Figures<'_>) -> String {
    let advice = "Recommendation: for a web app, keep sessions in a shared store (Redis) behind an HttpOnly, SameSite=Lax, __Host- cookie; use short-lived JWTs where a service must verify without calling home, and pair them with rotating refresh tokens and a denylist when logout must mean logout";
    let redis_session = (
        f.routing.round_robin.redis,
        f.revocation.refused.redis.as_ref(),
    );
    match redis_session {
        (Some(rr), Some(r)) if rr.all() && refused_at_once(r) => format!(
            "{advice}: the shared store is what made the session work on both instances and die at logout here."
        ),
        (Some(_), Some(_)) => format!(
            "{advice}, although this run's Redis sessions did not show it (see above): check the setup before trusting these figures."
        ),
        _ => format!(
            "{advice}; this run had no Redis, so it could not show the shared store at work."
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use support::measure::Measurement;

    use super::*;
    use crate::demo::PerMechanism;
    use crate::demo::authentication_cost::RedisCost;
    use crate::demo::two_instances::ThroughNginx;
    use support::report::Goal;

    fn m(p50_us: f64) -> Measurement {
        Measurement::flat(Duration::from_secs_f64(p50_us / 1e6))
    }

    fn all(n: u64) -> Successes {
        Successes {
            requests: n,
            succeeded: n,
        }
    }

    /// A routing's row where everything but the memory session succeeded on every request.
    fn routed(memory: Successes) -> PerMechanism<Successes> {
        PerMechanism {
            memory,
            redis: Some(all(200)),
            plain_jwt: all(200),
            checked_jwt: Some(all(200)),
        }
    }

    fn refusal(after: u64) -> Refusal {
        Refusal {
            after_logout: Some(after),
            after_password_change: Some(after),
            probes: 2,
        }
    }

    /// Figures shaped like a real release run: what the lesson expects.
    struct Owned {
        login: LoginCost,
        bytes: CredentialBytes,
        cost: AuthenticationCost,
        whole: WholeRequest,
        revocation: Revocation,
        routing: TwoInstances,
        goals: Goals,
    }

    impl Owned {
        fn expected() -> Self {
            Self {
                login: LoginCost {
                    hash_cost: HashCostUsed::Owasp,
                    login: m(25_000.0),
                },
                bytes: CredentialBytes {
                    memory_cookie: 61,
                    redis_cookie: Some(63),
                    hs256_bearer: 473,
                    eddsa_bearer: 554,
                },
                cost: AuthenticationCost {
                    memory: m(0.1),
                    hs256_verify: m(3.3),
                    eddsa_verify: m(62.0),
                    redis: Some(RedisCost {
                        bare_get: m(100.0),
                        session: m(105.0),
                        denylist: m(101.0),
                        checked_jwt: m(110.0),
                    }),
                },
                whole: PerMechanism {
                    memory: m(70.0),
                    redis: Some(m(300.0)),
                    plain_jwt: m(75.0),
                    checked_jwt: Some(m(250.0)),
                },
                revocation: Revocation {
                    step_secs: 30,
                    horizon_secs: 990,
                    access_ttl_secs: 900,
                    leeway_secs: 30,
                    refused: PerMechanism {
                        memory: refusal(0),
                        redis: Some(refusal(0)),
                        plain_jwt: refusal(930),
                        checked_jwt: Some(refusal(0)),
                    },
                },
                routing: TwoInstances {
                    round_robin: routed(Successes {
                        requests: 200,
                        succeeded: 100,
                    }),
                    sticky: routed(all(200)),
                    nginx: Some(ThroughNginx {
                        version: Some("nginx/1.22.1".to_owned()),
                        round_robin: routed(Successes {
                            requests: 200,
                            succeeded: 100,
                        }),
                        sticky: routed(all(200)),
                        after_pinned_killed: routed(Successes {
                            requests: 200,
                            succeeded: 0,
                        }),
                    }),
                    nginx_missing: None,
                },
                goals: Goals {
                    hs256_verify_us: Goal {
                        measured: 3.3,
                        target: 5.0,
                        met: true,
                    },
                    redis_over_bare_get: Some(Goal {
                        measured: 1.05,
                        target: 1.3,
                        met: true,
                    }),
                },
            }
        }

        fn paragraph(&self) -> String {
            paragraph(&Figures {
                login: &self.login,
                bytes: &self.bytes,
                cost: &self.cost,
                whole: &self.whole,
                revocation: &self.revocation,
                routing: &self.routing,
                goals: &self.goals,
            })
        }
    }

    #[test]
    fn the_expected_figures_give_the_lesson() {
        let text = Owned::expected().paragraph();
        for phrase in [
            "A memory session is the cheapest check (0.100 µs p50), but only 50 % of round-robin requests found it (sticky routing: 100 %)",
            "verifies in 3.30 µs with no lookup and worked on both instances, but costs 473 bytes on every request against 61 for a cookie (7.75×)",
            "first refused at +930 s, once its exp",
            "An EdDSA verification took 62 µs, 18.8× HS256's",
            "the network round trip is nearly the whole cost",
            "Both were refused at once",
            "Goals met: HS256 verification below 5 µs; a Redis session within 1.30× of a bare GET.",
            "made the session work on both instances",
            "Through a real nginx/1.22.1, round robin found the memory session on only 50 % of requests and the Redis session, the JWT (verify only) and the JWT + denylist on all of them.",
            "With ip_hash nginx pinned this client to one instance and the memory session worked on every request; once that instance was killed, nginx moved the client to the other one, which had never seen the session (0 %), while the Redis session, the JWT (verify only) and the JWT + denylist kept working on every request.",
        ] {
            assert!(text.contains(phrase), "missing {phrase:?} in:\n{text}");
        }
    }

    /// The same paragraph from figures that go the other way: each sentence must follow them.
    #[test]
    fn contrary_figures_change_every_claim_they_touch() {
        let mut f = Owned::expected();
        f.cost.eddsa_verify = m(2.0); // EdDSA faster than HS256
        f.cost.memory = m(50.0); // memory slower than a signature check
        f.routing.round_robin.memory = all(200); // a memory session found on both instances
        f.revocation.refused.plain_jwt = refusal(0); // a verify-only token refused at once
        f.bytes.hs256_bearer = 40; // a token smaller than the cookie
        if let Some(redis) = &mut f.cost.redis {
            redis.session = m(300.0); // the session logic dwarfs the round trip
        }
        f.routing.round_robin.checked_jwt = Some(Successes {
            requests: 200,
            succeeded: 150,
        });
        f.goals.hs256_verify_us = Goal {
            measured: 7.0,
            target: 5.0,
            met: false,
        };

        let text = f.paragraph();

        for (phrase, because) in [
            ("less than HS256's 3.30 µs", "EdDSA was faster"),
            (
                "more than an EdDSA verification (2 µs)",
                "memory was not the cheapest",
            ),
            (
                "every round-robin request found it, which two separate processes cannot do",
                "memory succeeded on both",
            ),
            (
                "was refused at once, which a token without a lookup cannot do",
                "the plain token was refused",
            ),
            ("no larger than the 61-byte cookie", "the token was smaller"),
            (
                "the session logic added 200 µs",
                "the session cost more than its GET",
            ),
            (
                "The denylisted token succeeded on only 75 %",
                "the checked token failed on B",
            ),
            (
                "Goals missed: HS256 verification below 5 µs (measured 7 µs)",
                "the goal was missed",
            ),
        ] {
            assert!(
                text.contains(phrase),
                "{because}: missing {phrase:?} in:\n{text}"
            );
        }
        for stale in [
            "cheapest check",
            "only 50 % of round-robin requests",
            "HS256's:",
            "nearly the whole cost",
            "Both were refused",
        ] {
            assert!(
                !text.contains(stale),
                "{stale:?} survived contrary figures:\n{text}"
            );
        }
    }

    /// Timed separately, an in-process median can exceed its whole request on a loaded machine:
    /// the paragraph must not call that a share.
    #[test]
    fn an_in_process_timing_above_its_whole_request_is_not_called_a_share() {
        let mut f = Owned::expected();
        f.whole.checked_jwt = Some(m(100.0));
        if let Some(redis) = &mut f.cost.redis {
            redis.checked_jwt = m(150.0);
        }

        let text = f.paragraph();

        assert!(
            text.contains("for the JWT + denylist the in-process timing (150 µs) came out above the whole request (100 µs)"),
            "{text}"
        );
        assert!(!text.contains("most of it"), "{text}");
    }

    /// nginx figures that go the other way: every nginx sentence must follow them.
    #[test]
    fn contrary_nginx_figures_change_the_nginx_sentences() {
        let mut f = Owned::expected();
        if let Some(x) = &mut f.routing.nginx {
            x.round_robin.memory = all(200); // both instances found it
            x.round_robin.redis = Some(Successes {
                requests: 200,
                succeeded: 100,
            });
            x.sticky.memory = Successes {
                requests: 200,
                succeeded: 120,
            };
            x.after_pinned_killed.memory = all(200); // survived its instance
            x.after_pinned_killed.plain_jwt = Successes {
                requests: 200,
                succeeded: 50,
            };
        }

        let text = f.paragraph();

        for phrase in [
            "round robin found the memory session on every request, which two instances with separate memory cannot do",
            "to one instance, and the Redis session worked on only 50 %.",
            "Even with ip_hash the memory session worked on only 60 % of requests",
            "the memory session still worked on every request, which a session held in the killed instance's memory cannot do",
            "and the JWT (verify only) worked on only 25 %.",
        ] {
            assert!(text.contains(phrase), "missing {phrase:?} in:\n{text}");
        }
        for stale in [
            "on only 50 % of requests and",
            "pinned this client",
            "never seen the session",
            "kept working on every request",
        ] {
            assert!(
                !text.contains(stale),
                "{stale:?} survived contrary figures:\n{text}"
            );
        }
    }

    #[test]
    fn without_nginx_the_paragraph_says_so_and_claims_nothing_about_it() {
        let mut f = Owned::expected();
        f.routing.nginx = None;
        f.routing.nginx_missing = Some("NGINX_SERVER=none".to_owned());

        let text = f.paragraph();

        assert!(text.contains("nginx was not available"), "{text}");
        assert!(!text.contains("ip_hash"), "{text}");
    }

    #[test]
    fn without_redis_the_paragraph_says_what_it_left_out() {
        let mut f = Owned::expected();
        f.cost.redis = None;
        f.bytes.redis_cookie = None;
        f.whole.redis = None;
        f.whole.checked_jwt = None;
        f.revocation.refused.redis = None;
        f.revocation.refused.checked_jwt = None;
        f.routing.round_robin.redis = None;
        f.routing.round_robin.checked_jwt = None;
        f.routing.sticky.redis = None;
        f.routing.sticky.checked_jwt = None;
        if let Some(x) = &mut f.routing.nginx {
            for p in [
                &mut x.round_robin,
                &mut x.sticky,
                &mut x.after_pinned_killed,
            ] {
                p.redis = None;
                p.checked_jwt = None;
            }
        }
        f.goals.redis_over_bare_get = None;

        let text = f.paragraph();

        assert!(text.contains("Redis was not reachable"), "{text}");
        assert!(text.contains("could not show the shared store"), "{text}");
        assert!(!text.contains("bare GET ("), "{text}");
    }
}
