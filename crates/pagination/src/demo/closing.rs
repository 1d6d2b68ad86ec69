//! "What you just saw": the closing paragraph, built only from the figures the sections returned.
//!
//! Every sentence has wording for the case where the figures go the other way. A loaded machine
//! can make offset's first page faster than the cursor's (at page 1 the two queries do the same
//! work, so either can win by noise), a small table can hide the cost of depth, and a writer's
//! insert and delete between the same two pages cancel out, so offset can walk a changing table
//! without a visible fault. The paragraph says what this run measured, not what it usually does.

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{format_number, format_ratio};

use super::churn::{Churn, SchemeWalk};
use super::cost_by_depth::CostByDepth;
use super::total_count::TotalCount;
use crate::db::Backend;

/// Two medians within this factor of each other are "about the same": on a shared two-core
/// machine a cheap request's median moves by this much from one run to the next.
const SAME: f64 = 1.25;

/// The figures the paragraph is built from, each taken from one section's struct.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub backend: Backend,
    pub rows: i64,
    pub last_page: i64,
    /// HTTP medians in µs.
    pub offset_first_us: f64,
    pub cursor_first_us: f64,
    pub offset_last_us: f64,
    pub cursor_last_us: f64,
    /// Offset's query-alone median at the last page divided by the cursor's.
    pub query_last_ratio: f64,
    /// EXPLAIN ANALYZE at the last page (PostgreSQL only).
    pub offset_touched_last: Option<f64>,
    pub cursor_touched_last: Option<f64>,
    /// The first page with `count=true` divided by without.
    pub total_slowdown: f64,
    pub offset_walk: SchemeWalk,
    pub cursor_walk: SchemeWalk,
}

impl Summary {
    /// Picks the figures out of the sections' structs.
    pub fn new(
        backend: Backend,
        depth: &CostByDepth,
        total: &TotalCount,
        churn: &Churn,
    ) -> anyhow::Result<Self> {
        let (Some(first), Some(last)) = (depth.first(), depth.last()) else {
            anyhow::bail!("the cost-by-depth section measured no depth");
        };
        Ok(Self {
            backend,
            rows: depth.rows,
            last_page: last.page,
            offset_first_us: first.offset.p50_us,
            cursor_first_us: first.cursor.p50_us,
            offset_last_us: last.offset.p50_us,
            cursor_last_us: last.cursor.p50_us,
            query_last_ratio: last.query_ratio(),
            offset_touched_last: last.offset.rows_touched,
            cursor_touched_last: last.cursor.rows_touched,
            total_slowdown: total.slowdown(),
            offset_walk: churn.offset,
            cursor_walk: churn.cursor,
        })
    }

    /// Offset paid visibly more than the cursor at the last page.
    fn depth_cost_showed(&self) -> bool {
        self.offset_last_us / self.cursor_last_us > SAME
    }

    /// Offset repeated or skipped rows while the cursor did neither.
    fn drift_showed(&self) -> bool {
        faults(self.offset_walk) > 0 && faults(self.cursor_walk) == 0
    }
}

fn faults(walk: SchemeWalk) -> usize {
    walk.seen_twice + walk.never_seen
}

/// "1 row", "13 rows".
fn rows(n: usize) -> String {
    if n == 1 {
        "1 row".to_owned()
    } else {
        format!("{n} rows")
    }
}

fn us(v: f64) -> String {
    format!("{} µs", format_number(v))
}

/// The closing paragraphs: the summary, then a note on what this backend could not measure.
pub fn paragraphs(s: &Summary) -> Vec<String> {
    let mut text = Vec::new();

    // The first page: the same query under two names, so any gap is the machine.
    let first = s.offset_first_us / s.cursor_first_us;
    let medians = format!(
        "offset {}, cursor {} median through HTTP",
        us(s.offset_first_us),
        us(s.cursor_first_us)
    );
    let opening = format!(
        "On {} with {} rows,",
        s.backend.name(),
        format_number(s.rows as f64)
    );
    text.push(if first < 1.0 / SAME {
        format!(
            "{opening} offset's first page was the faster one on this run ({medians}, {} apart); \
             with nothing to skip the two queries do the same work, so that gap is the machine, \
             not the scheme.",
            format_ratio(1.0 / first)
        )
    } else if first > SAME {
        format!(
            "{opening} the cursor's first page was the faster one on this run ({medians}, {} \
             apart); with nothing to skip the two queries do the same work, so that gap is the \
             machine, not the scheme.",
            format_ratio(first)
        )
    } else {
        format!("{opening} the first page costs about the same either way ({medians}).")
    });

    // The last page: where offset's skipping shows, if the table is large enough.
    let last = s.offset_last_us / s.cursor_last_us;
    let touched = match (s.offset_touched_last, s.cursor_touched_last) {
        (Some(o), Some(c)) => format!(
            " (EXPLAIN ANALYZE: {} rows touched, against the cursor's {})",
            format_number(o),
            format_number(c)
        ),
        _ => String::new(),
    };
    let query = format_ratio(s.query_last_ratio);
    text.push(if s.depth_cost_showed() {
        format!(
            "At the last page (page {}) offset needs {}, {} the cursor's {}, because it walks \
             every row it skips{touched}; for the query alone the gap is {query}.",
            format_number(s.last_page as f64),
            us(s.offset_last_us),
            format_ratio(last),
            us(s.cursor_last_us)
        )
    } else {
        let verdict = if last < 1.0 / SAME {
            "offset was the faster one through HTTP on this run"
        } else {
            "no clear gap through HTTP on this run"
        };
        format!(
            "At the last page (page {}) offset took {} and the cursor {} ({}): {verdict}\
             {touched}; for the query alone offset took {query} the cursor's time.",
            format_number(s.last_page as f64),
            us(s.offset_last_us),
            us(s.cursor_last_us),
            format_ratio(last)
        )
    });

    // Growth with depth: a seek should stay flat while offset's skipping grows.
    let cursor_growth = s.cursor_last_us / s.cursor_first_us;
    let offset_growth = s.offset_last_us / s.offset_first_us;
    text.push(if cursor_growth <= SAME {
        format!(
            "The cursor's last page costs {} its first: its cost does not grow with depth.",
            format_ratio(cursor_growth)
        )
    } else if offset_growth > cursor_growth * SAME {
        format!(
            "The cursor's last page cost {} its first, more than noise but small next to \
             offset's {}.",
            format_ratio(cursor_growth),
            format_ratio(offset_growth)
        )
    } else {
        format!(
            "The cursor's last page cost {} its first and offset's {} its first: on this run \
             depth did not cost offset more than the cursor.",
            format_ratio(cursor_growth),
            format_ratio(offset_growth)
        )
    });

    // The total.
    let t = s.total_slowdown;
    text.push(if t > SAME {
        format!(
            "Asking for a total made the first page {} slower.",
            format_ratio(t)
        )
    } else if t < 1.0 / SAME {
        format!(
            "Asking for a total made the first page faster on this run ({}), which an extra \
             full count cannot cause: the measurement was noisy.",
            format_ratio(t)
        )
    } else {
        format!(
            "Asking for a total made no clear difference on this run ({}): counting {} rows was \
             cheap next to the rest of the request.",
            format_ratio(t),
            format_number(s.rows as f64)
        )
    });

    // Drift under writes.
    let o = s.offset_walk;
    let offset = if faults(o) > 0 {
        format!(
            "While the table changed, offset served {} twice and never served {} that were \
             there all along",
            rows(o.seen_twice),
            rows(o.never_seen)
        )
    } else if o.writes == 0 {
        "The writer made no writes during offset's walk, so its clean result tested nothing"
            .to_owned()
    } else {
        format!(
            "While the table changed, offset served every row exactly once this time: the {} \
             writes during its walk happened not to move a page boundary (an insert and a \
             delete above the reader between the same two pages cancel out)",
            o.writes
        )
    };
    let c = s.cursor_walk;
    let cursor = if faults(c) > 0 {
        format!(
            "the cursor served {} twice and missed {}, which keyset paging must never do: \
             that is a bug, not noise.",
            rows(c.seen_twice),
            rows(c.never_seen)
        )
    } else if c.writes == 0 {
        "the writer made no writes during the cursor's walk either, so its clean result tested \
         nothing."
            .to_owned()
    } else {
        format!(
            "the cursor served none twice and missed none, with {} writes during its walk.",
            c.writes
        )
    };
    text.push(format!("{offset}; {cursor}"));

    // The recommendation rests on how the queries work; say how much of it this run showed.
    let shown = match (s.depth_cost_showed(), s.drift_showed()) {
        (true, true) => "",
        (true, false) => "This run showed the cost of depth but not the drift. ",
        (false, true) => "This run showed the drift but not the cost of depth. ",
        (false, false) => "This run showed neither the cost of depth nor the drift. ",
    };
    text.push(format!(
        "{shown}Recommendation: offset is fine for small tables and for page numbers a human \
         jumps between (admin lists, a few pages of search results). For feeds, large or \
         changing tables, infinite scroll, syncs and exports, use a signed keyset cursor, and \
         leave totals off (or serve a cached estimate)."
    ));

    let mut out = vec![text.join(" ")];
    if s.offset_touched_last.is_none() && s.backend == Backend::Sqlite {
        out.push("(SQLite has no EXPLAIN ANALYZE, so `rows touched` is empty on this run.)".into());
    }
    out
}

/// Prints the closing section and records its summary.
pub fn run(
    n: &mut Narrator,
    backend: Backend,
    depth: &CostByDepth,
    total: &TotalCount,
    churn: &Churn,
) -> anyhow::Result<Summary> {
    n.section("What you just saw");
    let summary = Summary::new(backend, depth, total, churn)?;
    for paragraph in paragraphs(&summary) {
        n.say(&paragraph);
    }
    n.figures(&summary)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Figures shaped like a normal PostgreSQL run.
    fn usual() -> Summary {
        Summary {
            backend: Backend::Postgres,
            rows: 1_000_000,
            last_page: 50_000,
            offset_first_us: 450.0,
            cursor_first_us: 440.0,
            offset_last_us: 244_000.0,
            cursor_last_us: 480.0,
            query_last_ratio: 1_074.0,
            offset_touched_last: Some(1_000_000.0),
            cursor_touched_last: Some(23.0),
            total_slowdown: 244.0,
            offset_walk: SchemeWalk {
                pages: 101,
                writes: 31,
                seen_twice: 13,
                never_seen: 13,
            },
            cursor_walk: SchemeWalk {
                pages: 101,
                writes: 48,
                seen_twice: 0,
                never_seen: 0,
            },
        }
    }

    #[test]
    fn usual_figures_read_as_the_lesson() {
        let text = paragraphs(&usual()).join("\n");
        assert!(text.contains("costs about the same either way"), "{text}");
        assert!(
            text.contains("because it walks every row it skips"),
            "{text}"
        );
        assert!(text.contains("1,000,000 rows touched"), "{text}");
        assert!(text.contains("does not grow with depth"), "{text}");
        assert!(text.contains("244× slower"), "{text}");
        assert!(text.contains("offset served 13 rows twice"), "{text}");
        assert!(text.contains("the cursor served none twice"), "{text}");
        assert!(text.contains(" Recommendation:"), "{text}");
        assert!(!text.contains("This run showed"), "{text}");
        assert!(!text.contains("SQLite has no EXPLAIN"), "{text}");
    }

    /// A loaded machine, a table too small to show depth, writes that cancelled out, a broken
    /// cursor, on SQLite: every sentence must change with the figures.
    #[test]
    fn contrary_figures_change_every_sentence() {
        let contrary = Summary {
            backend: Backend::Sqlite,
            offset_first_us: 300.0,
            cursor_first_us: 600.0,
            offset_last_us: 610.0,
            cursor_last_us: 1_300.0,
            query_last_ratio: 1.1,
            offset_touched_last: None,
            cursor_touched_last: None,
            total_slowdown: 0.5,
            offset_walk: SchemeWalk {
                seen_twice: 0,
                never_seen: 0,
                ..usual().offset_walk
            },
            cursor_walk: SchemeWalk {
                seen_twice: 1,
                never_seen: 2,
                ..usual().cursor_walk
            },
            ..usual()
        };
        let text = paragraphs(&contrary).join("\n");
        let usual_text = paragraphs(&usual()).join("\n");
        for sentence in [
            "costs about the same either way",
            "because it walks every row it skips",
            "does not grow with depth",
            "slower.",
            "offset served 13 rows twice",
            "the cursor served none twice",
        ] {
            assert!(usual_text.contains(sentence));
            assert!(!text.contains(sentence), "{sentence:?} survived: {text}");
        }
        assert!(text.contains("offset's first page was the faster one on this run (offset 300 µs, cursor 600 µs median through HTTP, 2.00× apart)"), "{text}");
        assert!(
            text.contains("offset was the faster one through HTTP on this run"),
            "{text}"
        );
        assert!(
            text.contains("2.17× its first and offset's 2.03× its first"),
            "{text}"
        );
        assert!(text.contains("faster on this run (0.50×)"), "{text}");
        assert!(
            text.contains("offset served every row exactly once this time"),
            "{text}"
        );
        assert!(
            text.contains("the cursor served 1 row twice and missed 2 rows"),
            "{text}"
        );
        assert!(
            text.contains("This run showed neither the cost of depth nor the drift."),
            "{text}"
        );
        assert!(text.contains("SQLite has no EXPLAIN ANALYZE"), "{text}");
    }

    /// The middle wordings: the cursor first by noise, a cursor that grew a little, a last page
    /// with no clear gap.
    #[test]
    fn middling_figures_get_their_own_wording() {
        let level = Summary {
            offset_first_us: 700.0,
            cursor_first_us: 440.0,
            cursor_last_us: 600.0,
            offset_last_us: 650.0,
            ..usual()
        };
        let text = paragraphs(&level).join("\n");
        assert!(
            text.contains("the cursor's first page was the faster one"),
            "{text}"
        );
        assert!(
            text.contains("(1.08×): no clear gap through HTTP on this run"),
            "{text}"
        );
        assert!(
            text.contains("did not cost offset more than the cursor"),
            "{text}"
        );
        assert!(
            text.contains("This run showed the drift but not the cost of depth."),
            "{text}"
        );

        let cursor_grew = Summary {
            cursor_last_us: 600.0,
            ..usual()
        };
        let text = paragraphs(&cursor_grew).join("\n");
        assert!(
            text.contains("1.36× its first, more than noise but small next to offset's 542×"),
            "{text}"
        );
    }

    #[test]
    fn a_writer_that_never_wrote_is_not_reported_as_a_clean_result() {
        let idle = Summary {
            offset_walk: SchemeWalk {
                writes: 0,
                seen_twice: 0,
                never_seen: 0,
                pages: 101,
            },
            ..usual()
        };
        let text = paragraphs(&idle).join("\n");
        assert!(
            text.contains("made no writes during offset's walk"),
            "{text}"
        );
        assert!(
            text.contains("This run showed the cost of depth but not the drift."),
            "{text}"
        );
    }
}
