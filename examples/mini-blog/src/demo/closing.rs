//! "What you just saw": the closing paragraph, built only from the figures the sections
//! returned. Every sentence has wording for when the figures go the other way (a cold cache, a
//! data set too small for depth to cost anything, a machine where a login is not slow).

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{format_number, format_ratio};

use super::Context;
use super::depth::Depth;
use super::goals::Goals;
use super::login_cost::LoginCost;
use super::session::Session;
use super::top_posts::TopPosts;

/// Two medians within this factor are "about the same" on a shared two-core machine.
const SAME: f64 = 1.25;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub backend: String,
    pub cache: String,
    pub session_ok: bool,
    pub second_top_from_cache: bool,
    pub top_cached_us: f64,
    pub top_computed_us: f64,
    pub top_goal_met: bool,
    pub articles: i64,
    pub deepest: i64,
    pub offset_deep_us: f64,
    pub cursor_deep_us: f64,
    pub login_us: f64,
    pub read_us: f64,
}

impl Summary {
    pub fn new(
        ctx: &Context,
        session: &Session,
        top: &TopPosts,
        depth: &Depth,
        login: &LoginCost,
        goals: &Goals,
    ) -> Self {
        let deep = depth.deepest().copied();
        Self {
            backend: ctx.backend.name().to_owned(),
            cache: ctx.state.top.description.to_owned(),
            session_ok: session.steps.iter().all(|(_, s)| (200..300).contains(s)),
            second_top_from_cache: session.second_top_from_cache,
            top_cached_us: top.cached_us,
            top_computed_us: top.computed_us,
            top_goal_met: goals.top_speedup.met,
            articles: depth.rows,
            deepest: deep.map_or(0, |d| d.depth),
            offset_deep_us: deep.map_or(0.0, |d| d.offset_us),
            cursor_deep_us: deep.map_or(0.0, |d| d.cursor_us),
            login_us: login.login_us,
            read_us: login.authenticated_read_us,
        }
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// The paragraph.
pub fn paragraph(s: &Summary) -> String {
    let mut out = Vec::new();
    out.push(if s.session_ok {
        format!(
            "The whole Conduit session worked end to end on {} with the top list in {}.",
            s.backend, s.cache
        )
    } else {
        format!(
            "Some step of the Conduit session did not succeed on {} (see its transcript).",
            s.backend
        )
    });
    let speedup = ratio(s.top_computed_us, s.top_cached_us);
    out.push(if speedup > SAME {
        format!(
            "The top list from the cache took {} µs at the median against {} µs computed from the \
             favourites, {} faster ({} the 100× goal), and every write that changes the ranking \
             invalidated it before answering.",
            format_number(s.top_cached_us),
            format_number(s.top_computed_us),
            format_ratio(speedup),
            if s.top_goal_met {
                "meeting"
            } else {
                "short of"
            },
        )
    } else {
        format!(
            "The top list cost about the same from the cache ({} µs) as computed ({} µs): on this \
             data set the aggregate is too cheap for a cache to pay off.",
            format_number(s.top_cached_us),
            format_number(s.top_computed_us)
        )
    });
    let deep = ratio(s.offset_deep_us, s.cursor_deep_us);
    out.push(if deep > SAME {
        format!(
            "{} articles deep, offset paging took {} µs and the cursor {} µs ({}): the database \
             walks past every skipped row for an offset and seeks for a cursor.",
            format_number(s.deepest as f64),
            format_number(s.offset_deep_us),
            format_number(s.cursor_deep_us),
            format_ratio(deep)
        )
    } else {
        format!(
            "{} articles deep, offset ({} µs) and cursor ({} µs) cost about the same: {} articles \
             are too few for skipping rows to show; the gap grows with the table.",
            format_number(s.deepest as f64),
            format_number(s.offset_deep_us),
            format_number(s.cursor_deep_us),
            format_number(s.articles as f64)
        )
    });
    let login = ratio(s.login_us, s.read_us);
    out.push(if login > SAME {
        format!(
            "A login cost {} an authenticated read ({} µs against {} µs): the hash is slow on \
             purpose, and the token means it is paid once per login, not once per request.",
            format_ratio(login),
            format_number(s.login_us),
            format_number(s.read_us)
        )
    } else {
        format!(
            "A login ({} µs) cost about what an authenticated read did ({} µs): this machine's \
             argon2id setting is too cheap to protect a stolen hash.",
            format_number(s.login_us),
            format_number(s.read_us)
        )
    });
    out.join(" ")
}

pub fn run(n: &mut Narrator, summary: &Summary) -> anyhow::Result<()> {
    n.section("What you just saw");
    n.say(&paragraph(summary));
    n.figures(summary)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typical() -> Summary {
        Summary {
            backend: "PostgreSQL".to_owned(),
            cache: "moka + Redis (pub/sub invalidation)".to_owned(),
            session_ok: true,
            second_top_from_cache: true,
            top_cached_us: 100.0,
            top_computed_us: 30_000.0,
            top_goal_met: true,
            articles: 20_000,
            deepest: 19_960,
            offset_deep_us: 9_000.0,
            cursor_deep_us: 900.0,
            login_us: 40_000.0,
            read_us: 100.0,
        }
    }

    #[test]
    fn a_typical_run_says_the_cache_the_cursor_and_the_hash_each_paid_off() {
        let text = paragraph(&typical());
        assert!(
            text.contains("300× faster (meeting the 100× goal)"),
            "{text}"
        );
        assert!(text.contains("walks past every skipped row"), "{text}");
        assert!(text.contains("400× an authenticated read"), "{text}");
    }

    #[test]
    fn a_cache_no_faster_than_the_database_is_said_so() {
        let s = Summary {
            top_computed_us: 110.0,
            top_goal_met: false,
            ..typical()
        };
        let text = paragraph(&s);
        assert!(text.contains("about the same from the cache"), "{text}");
        let s = Summary {
            top_computed_us: 5_000.0,
            top_goal_met: false,
            ..typical()
        };
        assert!(paragraph(&s).contains("short of the 100× goal"));
    }

    #[test]
    fn a_shallow_table_where_offset_costs_nothing_extra_is_said_so() {
        let s = Summary {
            offset_deep_us: 950.0,
            ..typical()
        };
        assert!(paragraph(&s).contains("too few for skipping rows to show"));
    }

    #[test]
    fn a_cheap_login_is_called_out_and_a_failed_session_admitted() {
        let s = Summary {
            login_us: 110.0,
            session_ok: false,
            ..typical()
        };
        let text = paragraph(&s);
        assert!(text.contains("too cheap to protect"), "{text}");
        assert!(text.contains("did not succeed"), "{text}");
    }
}
