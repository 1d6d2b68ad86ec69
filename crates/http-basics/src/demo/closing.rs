//! "What you just saw": the closing paragraph, written from the sections' figures.
//!
//! Every sentence reads a figure and has wording for the case where the figure goes the other
//! way: a retried POST that happened not to duplicate, an `Idempotency-Key` that did not
//! protect, a busy machine that made GET the slowest method, a status that came back wrong.
//! The paragraph must never say what this run did not measure.

use support::narrate::Narrator;
use support::report::{format_number, format_ratio};

use super::latency::LatencyFigures;
use super::retries::RetryFigures;
use super::status_tour::{Miss, TourFigures};
use super::verbs::Verb;

/// Slowest median over fastest median at or under which the methods "cost about the same".
/// Loopback requests here take tens of microseconds and one scheduler hiccup moves a median by
/// a few; 1.5× is the spread below which a difference says nothing about the method.
pub const ABOUT_THE_SAME: f64 = 1.5;

/// What the closing paragraph reads.
#[derive(Debug, Clone, Copy)]
pub struct Figures<'a> {
    pub retries: &'a RetryFigures,
    pub latency: &'a LatencyFigures,
    pub tour: &'a TourFigures,
}

/// Prints the section.
pub fn section(n: &mut Narrator, figures: &Figures<'_>) {
    n.section("What you just saw");
    n.say(&paragraph(figures));
}

/// The paragraph, one derived sentence (or two) per section, then the rule behind them.
pub fn paragraph(f: &Figures<'_>) -> String {
    let mut sentences = vec![
        retries(f.retries),
        post(f.retries),
        latency(f.latency),
        tour(f.tour),
    ];
    sentences.push(
        "The rule behind all of it: a status code and its headers are a contract a generic client (a browser, a proxy, a retry library) acts on without reading your docs, so say precisely what happened."
            .to_owned(),
    );
    sentences.retain(|s| !s.is_empty());
    sentences.join(" ")
}

fn retries(r: &RetryFigures) -> String {
    let calls = number_word(r.rows.len());
    let changed = r.changed_by_retry();
    let mut text = match changed.as_slice() {
        [] => format!(
            "Of the {calls} calls retried after a lost response, none changed the server's state a second time."
        ),
        [one] => format!(
            "Of the {calls} calls retried after a lost response, only one changed the server's state a second time: {}.",
            one.label()
        ),
        many => format!(
            "Of the {calls} calls retried after a lost response, {} changed the server's state a second time: {}.",
            number_word(many.len()),
            labels(many)
        ),
    };
    // A method the RFC calls idempotent whose retry changed state is not a lesson about HTTP but
    // a bug in this server: say so rather than list it beside POST.
    let broken: Vec<Verb> = changed.into_iter().filter(|v| v.idempotent()).collect();
    if !broken.is_empty() {
        text.push_str(&format!(
            " RFC 9110 calls {} idempotent, so {} a bug in this server, and exactly what a retrying client cannot survive.",
            labels(&broken),
            if broken.len() == 1 { "that is" } else { "those are" }
        ));
    }
    text
}

fn post(r: &RetryFigures) -> String {
    let mut text = String::new();
    if let Some(post) = r.row(Verb::Post) {
        text.push_str(&if post.after_retry > post.after_first {
            format!(
                "The plain POST's retry created a duplicate ({} notes after the retry instead of {}).",
                post.after_retry, post.after_first
            )
        } else {
            format!(
                "The plain POST's retry created no duplicate in this run ({} notes after the retry, {} after the first call), but HTTP promises nothing of the kind: a client may not count on it.",
                post.after_retry, post.after_first
            )
        });
    }
    if let Some(keyed) = r.row(Verb::PostWithKey) {
        let created = keyed.created();
        let note = if created == 1 { "note" } else { "notes" };
        text.push(' ');
        text.push_str(&if keyed.replayed && created == 1 {
            "The same POST with an Idempotency-Key was replayed (1 new note for two calls).".to_owned()
        } else if keyed.replayed {
            format!(
                "The same POST with an Idempotency-Key was answered as a replay, yet {created} new {note} came of two calls: the replay did not stop the write."
            )
        } else {
            format!(
                "The same POST with an Idempotency-Key was not replayed ({created} new {note} for two calls): the key did not protect the retry."
            )
        });
    }
    text.trim_start().to_owned()
}

fn latency(l: &LatencyFigures) -> String {
    let (Some(fast), Some(slow)) = (l.fastest(), l.slowest()) else {
        return String::new();
    };
    let spread = if fast.p50_us > 0.0 {
        slow.p50_us / fast.p50_us
    } else {
        f64::INFINITY
    };
    let (fast_us, slow_us) = (format_number(fast.p50_us), format_number(slow.p50_us));
    if spread <= ABOUT_THE_SAME {
        return format!(
            "On loopback the verbs cost about the same: median from {fast_us} µs ({}) to {slow_us} µs ({}) in this run, {} apart. What makes a request expensive is the work behind it, not its method.",
            fast.verb.label(),
            slow.verb.label(),
            format_ratio(spread)
        );
    }
    let mut text = format!(
        "The verbs did not cost the same in this run: {} was the slowest (median {slow_us} µs), {} the fastest, {} ({fast_us} µs).",
        slow.verb.label(),
        format_ratio(spread),
        fast.verb.label()
    );
    if !slow.verb.safe() && fast.verb.safe() {
        text.push_str(&format!(
            " The method is only a word on the request line; the cost is the work behind it: {} parses, validates and applies a body under the store's lock, {} only reads.",
            slow.verb.label(),
            fast.verb.label()
        ));
    } else {
        // The order contradicts the work the handlers do (a write does more than a read), so
        // the honest reading is noise, not a property of the method.
        let samples = if l.quick {
            " or too few samples (--quick)"
        } else {
            ""
        };
        text.push_str(&format!(
            " That is not the order the work behind them suggests (a write does more than a read), so read it as a busy machine{samples}, not as something the method costs."
        ));
    }
    text
}

fn tour(t: &TourFigures) -> String {
    if t.misses.is_empty() {
        return format!(
            "{} of {} status codes came back exactly as HTTP specifies, with their required headers, every error as application/problem+json, and the deliberate 500 without its internal cause.",
            t.passed, t.stops
        );
    }
    let misses: Vec<String> = t.misses.iter().map(describe).collect();
    format!(
        "{} of {} status codes came back as HTTP specifies; {}: a generic client acting on {} would be misled.",
        t.passed,
        t.stops,
        misses.join("; "),
        if t.misses.len() == 1 { "it" } else { "them" }
    )
}

/// `412 for PUT /notes/1 came back as 200`, `429 for DELETE /notes/9 came without retry-after`.
fn describe(m: &Miss) -> String {
    let mut faults = Vec::new();
    if m.got != m.expected {
        faults.push(format!("came back as {}", m.got));
    }
    if !m.missing.is_empty() {
        faults.push(format!("came without {}", m.missing.join(", ")));
    }
    if m.not_problem_json {
        faults.push("was not application/problem+json".to_owned());
    }
    if m.leaked {
        faults.push("showed its internal cause".to_owned());
    }
    format!("{} for {} {}", m.expected, m.request, faults.join(" and "))
}

fn labels(verbs: &[Verb]) -> String {
    verbs
        .iter()
        .map(|v| v.label())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Small counts as words ("eight calls"), larger ones as digits.
fn number_word(n: usize) -> String {
    const WORDS: [&str; 11] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    ];
    WORDS
        .get(n)
        .map_or_else(|| n.to_string(), |w| (*w).to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::latency::VerbLatency;
    use super::super::retries::RetryRow;
    use super::*;

    /// A row whose retry did (or did not) change state, with note counts.
    fn row(verb: Verb, counts: (usize, usize, usize), changed: bool, replayed: bool) -> RetryRow {
        RetryRow {
            verb,
            first: 200,
            retry: 200,
            replayed,
            before: counts.0,
            after_first: counts.1,
            after_retry: counts.2,
            retry_changed_state: changed,
        }
    }

    fn timing(verb: Verb, p50_us: f64) -> VerbLatency {
        VerbLatency {
            verb,
            p50_us,
            p99_us: p50_us * 2.0,
            errors: 0,
        }
    }

    /// What a healthy run measures: only POST's retry writes, the key replays, the verbs are
    /// within 1.5× of each other, every status is as specified.
    fn as_expected() -> (RetryFigures, LatencyFigures, TourFigures) {
        let retries = RetryFigures {
            rows: vec![
                row(Verb::Get, (3, 3, 3), false, false),
                row(Verb::Put, (3, 3, 3), false, false),
                row(Verb::Delete, (3, 2, 2), false, false),
                row(Verb::Post, (2, 3, 4), true, false),
                row(Verb::PostWithKey, (4, 5, 5), false, true),
            ],
        };
        let latency = LatencyFigures {
            rows: vec![timing(Verb::Get, 49.8), timing(Verb::Post, 65.5)],
            quick: true,
        };
        let tour = TourFigures {
            stops: 20,
            passed: 20,
            misses: Vec::new(),
        };
        (retries, latency, tour)
    }

    fn text(retries: &RetryFigures, latency: &LatencyFigures, tour: &TourFigures) -> String {
        paragraph(&Figures {
            retries,
            latency,
            tour,
        })
    }

    #[test]
    fn the_expected_figures_read_as_the_lesson() {
        let (retries, latency, tour) = as_expected();
        let text = text(&retries, &latency, &tour);
        assert!(
            text.contains("Of the five calls retried after a lost response, only one changed the server's state a second time: POST."),
            "{text}"
        );
        assert!(
            text.contains("created a duplicate (4 notes after the retry instead of 3)"),
            "{text}"
        );
        assert!(
            text.contains("was replayed (1 new note for two calls)"),
            "{text}"
        );
        assert!(text.contains("cost about the same"), "{text}");
        assert!(text.contains("49.8 µs (GET) to 65.5 µs (POST)"), "{text}");
        assert!(
            text.contains("20 of 20 status codes came back exactly"),
            "{text}"
        );
    }

    #[test]
    fn contrary_figures_change_every_sentence() {
        // PUT's retry wrote again, POST's did not duplicate, the key was not honoured, GET was
        // three times slower than POST, and two statuses came back wrong.
        let retries = RetryFigures {
            rows: vec![
                row(Verb::Get, (3, 3, 3), false, false),
                row(Verb::Put, (3, 3, 3), true, false),
                row(Verb::Post, (3, 4, 4), false, false),
                row(Verb::PostWithKey, (4, 5, 6), true, false),
            ],
        };
        let latency = LatencyFigures {
            rows: vec![timing(Verb::Get, 150.0), timing(Verb::Post, 50.5)],
            quick: true,
        };
        let tour = TourFigures {
            stops: 20,
            passed: 18,
            misses: vec![
                Miss {
                    expected: 412,
                    got: 200,
                    request: "PUT /notes/1".to_owned(),
                    missing: Vec::new(),
                    not_problem_json: false,
                    leaked: false,
                },
                Miss {
                    expected: 429,
                    got: 429,
                    request: "DELETE /notes/9".to_owned(),
                    missing: vec!["retry-after"],
                    not_problem_json: false,
                    leaked: false,
                },
            ],
        };

        let text = text(&retries, &latency, &tour);

        assert!(
            text.contains("Of the four calls retried after a lost response, two changed the server's state a second time: PUT, POST + Idempotency-Key."),
            "{text}"
        );
        assert!(
            text.contains("RFC 9110 calls PUT idempotent, so that is a bug"),
            "{text}"
        );
        assert!(text.contains("created no duplicate in this run"), "{text}");
        assert!(!text.contains("created a duplicate"), "{text}");
        assert!(
            text.contains("was not replayed (2 new notes for two calls)"),
            "{text}"
        );
        assert!(!text.contains("about the same"), "{text}");
        assert!(
            text.contains("GET was the slowest (median 150 µs), 2.97× the fastest, POST (50.5 µs)"),
            "{text}"
        );
        assert!(
            text.contains("not the order the work behind them suggests"),
            "{text}"
        );
        assert!(text.contains("--quick"), "{text}");
        assert!(
            text.contains("18 of 20 status codes came back as HTTP specifies"),
            "{text}"
        );
        assert!(
            text.contains("412 for PUT /notes/1 came back as 200"),
            "{text}"
        );
        assert!(
            text.contains("429 for DELETE /notes/9 came without retry-after"),
            "{text}"
        );
        assert!(!text.contains("exactly as HTTP specifies"), "{text}");
    }

    #[test]
    fn a_slow_write_beside_a_fast_read_is_explained_by_the_work_behind_it() {
        let (retries, _, tour) = as_expected();
        let latency = LatencyFigures {
            rows: vec![
                timing(Verb::Options, 30.5),
                timing(Verb::Get, 45.5),
                timing(Verb::PatchMerge, 91.5),
            ],
            quick: false,
        };
        let text = text(&retries, &latency, &tour);
        assert!(text.contains("PATCH (merge) was the slowest (median 91.5 µs), 3.00× the fastest, OPTIONS (30.5 µs)"), "{text}");
        assert!(text.contains("the cost is the work behind it"), "{text}");
        assert!(!text.contains("--quick"), "{text}");
    }

    #[test]
    fn no_retry_changing_state_is_said_as_none() {
        let (mut retries, latency, tour) = as_expected();
        for row in &mut retries.rows {
            row.retry_changed_state = false;
        }
        let text = text(&retries, &latency, &tour);
        assert!(
            text.contains("none changed the server's state a second time"),
            "{text}"
        );
    }
}
