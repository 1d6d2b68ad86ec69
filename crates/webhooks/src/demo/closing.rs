//! "What you just saw": the closing paragraph, written from the sections' typed figures alone.
//!
//! Every sentence reads a figure and has wording for the case where the figure goes the other
//! way (a faster poll that noticed no sooner, an ETag that saved nothing, an event missed, an
//! attack that got through, a goal not met). `paragraph` is a pure function so a unit test can
//! feed it contrary figures.

use serde::Serialize;
use support::db::Backend;
use support::narrate::Narrator;
use support::report::{format_number, format_ratio};

use super::methods::{Method, MethodRow, Methods};
use super::{Attacks, Goals, Outage};

/// Everything the sections measured, as the closing paragraph and the report read it.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub backend: Backend,
    pub methods: Methods,
    pub outage: Outage,
    pub attacks: Attacks,
    pub goals: Goals,
}

pub fn run(n: &mut Narrator, figures: &Figures) -> anyhow::Result<()> {
    n.section("What you just saw");
    n.say(&paragraph(figures));
    n.figures(figures)?;
    Ok(())
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(
        || "never".to_owned(),
        |v| {
            if v < 10.0 {
                format!("{v:.2} ms")
            } else {
                format!("{} ms", format_number(v.round()))
            }
        },
    )
}

fn count(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    format_number(n as f64)
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".to_owned();
    }
    #[allow(clippy::cast_precision_loss)]
    let p = part as f64 * 100.0 / whole as f64;
    format!("{p:.0}%")
}

/// The closing paragraph for `f`.
pub fn paragraph(f: &Figures) -> String {
    let mut text = String::from(
        "Webhooks or polling: when would you use which, and how do you make webhooks reliable and \
         secure? ",
    );
    let m = &f.methods;
    for sentence in [
        short_polling(m),
        conditional(m),
        held(m),
        webhooks(m),
        goal(f),
        outage(&f.outage),
        attacks(&f.attacks),
    ]
    .into_iter()
    .flatten()
    {
        text.push_str(&sentence);
        text.push(' ');
    }
    text.push_str(
        "Recommendation: poll (conditionally, or long-poll) when the consumer cannot receive \
         requests or needs to replay history; push with webhooks between servers when events \
         are rare relative to how fresh the consumer must be, and make them reliable with an \
         outbox, retries and an id the consumer deduplicates on, and secure with signatures \
         over the raw body, a timestamp tolerance and an SSRF check on every endpoint URL.",
    );
    text
}

fn short_polling(m: &Methods) -> Option<String> {
    let polls = m.short_polls();
    let (slow, fast) = (polls.first()?, polls.last()?);
    let every = |r: &MethodRow| {
        r.interval_ms
            .map_or_else(String::new, |v| format!("{v} ms"))
    };
    let mut s = format!(
        "Short polling every {} made {} requests for {} events, {} of them answered with nothing \
         new, and noticed events {} after the change at the median.",
        every(slow),
        count(slow.requests),
        m.events,
        percent(slow.empty, slow.requests),
        ms(slow.p50_ms)
    );
    if slow.interval_ms != fast.interval_ms {
        let sooner = matches!((fast.p50_ms, slow.p50_ms), (Some(a), Some(b)) if a < b);
        s.push_str(&format!(
            " Every {} it {} {} at the median, {} {} requests.",
            every(fast),
            if sooner {
                "noticed in"
            } else {
                "noticed no sooner,"
            },
            ms(fast.p50_ms),
            if sooner { "but made" } else { "and made" },
            count(fast.requests)
        ));
    }
    Some(s)
}

fn conditional(m: &Methods) -> Option<String> {
    let cond = m.row(Method::ConditionalPolling)?;
    let plain = m
        .short_polls()
        .into_iter()
        .find(|r| r.interval_ms == cond.interval_ms)?;
    let every = cond.interval_ms.unwrap_or(0);
    if cond.bytes < plain.bytes && cond.bytes > 0 {
        #[allow(clippy::cast_precision_loss)]
        let fewer = plain.bytes as f64 / cond.bytes as f64;
        Some(format!(
            "Conditional polling at {every} ms made {} requests against short polling's {} at the \
             same interval, but moved {} fewer bytes: a 304 saves the body, not the request.",
            count(cond.requests),
            count(plain.requests),
            format_ratio(fewer)
        ))
    } else {
        Some(format!(
            "Conditional polling at {every} ms moved {} bytes against short polling's {}: the \
             ETag saved nothing here, because the answers it could have shortened were already \
             small.",
            count(cond.bytes),
            count(plain.bytes)
        ))
    }
}

fn held(m: &Methods) -> Option<String> {
    let long = m.row(Method::LongPolling)?;
    let sse = m.row(Method::ServerSentEvents)?;
    Some(format!(
        "Long polling noticed in {} at the median with {} requests ({} of them timed out after \
         {} s with nothing); the event stream noticed in {} over {} request{}, each holding a \
         connection open on the provider.",
        ms(long.p50_ms),
        count(long.requests),
        count(long.empty),
        m.long_poll_wait_s,
        ms(sse.p50_ms),
        count(sse.requests),
        if sse.requests == 1 { "" } else { "s" }
    ))
}

fn webhooks(m: &Methods) -> Option<String> {
    let w = m.row(Method::Webhooks)?;
    let carried = if w.requests == m.events as u64 {
        "one per event, made by the provider, none of them empty".to_owned()
    } else {
        format!("{} attempts for {} events", count(w.requests), m.events)
    };
    Some(format!(
        "Webhooks noticed in {} at the median and {} at the 99th percentile, with {} requests \
         ({carried}); {} of {} events arrived.",
        ms(w.p50_ms),
        ms(w.p99_ms),
        count(w.requests),
        w.noticed,
        m.events
    ))
}

fn goal(f: &Figures) -> Option<String> {
    let g = f.goals.requests_vs_short_poll?;
    let every = f.goals.short_poll_interval_ms?;
    Some(if f.goals.short_poll_matched {
        format!(
            "To notice as fast as webhooks at the 99th percentile, short polling needed an \
             interval of {every} ms and {} the requests ({}).",
            format_ratio(g.measured),
            if g.met {
                "the goal of 100× is met"
            } else {
                "short of the 100× goal: events came too often for pushing to save that much"
            }
        )
    } else {
        format!(
            "Not even short polling every {every} ms noticed as fast as webhooks at the 99th \
             percentile, and it already made {} their requests.",
            format_ratio(g.measured)
        )
    })
}

fn outage(o: &Outage) -> Option<String> {
    let t = o.total();
    let missed = if t.missed == 0 {
        format!(
            "none was missed, because the {} ms outage was shorter than the {} ms the retry \
             schedule spans",
            o.down_for_ms, o.schedule_total_ms
        )
    } else {
        format!(
            "{} never arrived: the retries gave up before the consumer came back, and only a \
             manual redelivery from the log would bring them",
            t.missed
        )
    };
    let duplicates = if t.duplicates_received == 0 {
        "The slow answers caused no duplicate this time.".to_owned()
    } else if t.processed_twice == 0 {
        format!(
            "The slow answers made the provider send {} deliveries the consumer had already \
             processed; the webhook-id check acknowledged them without processing any twice.",
            t.duplicates_received
        )
    } else {
        format!(
            "The slow answers made the provider send {} deliveries again, and {} events were \
             processed twice.",
            t.duplicates_received, t.processed_twice
        )
    };
    Some(format!(
        "Through the outage {} of {} events were delivered late, after retries, and {missed}. \
         {duplicates}",
        t.late, t.events
    ))
}

fn attacks(a: &Attacks) -> Option<String> {
    let through = a.accepted_attacks();
    Some(if through.is_empty() {
        let hostile = a.rows.iter().filter(|r| r.hostile);
        let refused = hostile
            .clone()
            .filter(|r| !(200..300).contains(&r.status))
            .count();
        format!(
            "Of the {} hostile deliveries, none was processed: {refused} were refused, and {} \
             acknowledged (a replay of an id already seen) without being processed again.",
            a.hostile(),
            a.hostile() - refused
        )
    } else {
        format!(
            "{} of the {} hostile deliveries were processed: {}.",
            through.len(),
            a.hostile(),
            through
                .iter()
                .map(|r| r.delivery.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}

#[cfg(test)]
mod tests {
    use support::report::Goal;

    use super::*;
    use crate::demo::attacks::AttackRow;
    use crate::demo::outage::PhaseRow;

    fn row(
        method: Method,
        interval_ms: Option<u64>,
        requests: u64,
        bytes: u64,
        p50: f64,
    ) -> MethodRow {
        MethodRow {
            method,
            interval_ms,
            requests,
            empty: requests / 2,
            bytes,
            noticed: 10,
            p50_ms: Some(p50),
            p99_ms: Some(p50 * 2.0),
            max_ms: Some(p50 * 3.0),
        }
    }

    fn phase(missed: usize, duplicates: usize, twice: usize) -> PhaseRow {
        PhaseRow {
            phase: "consumer down".to_owned(),
            events: 3,
            on_first_attempt: 0,
            late: 3 - missed,
            attempts: 9,
            duplicates_received: duplicates,
            processed_twice: twice,
            missed,
            longest_ms: Some(500.0),
        }
    }

    fn figures() -> Figures {
        Figures {
            backend: Backend::Sqlite,
            methods: Methods {
                events: 10,
                mean_gap_ms: 500,
                window_ms: 5000.0,
                long_poll_wait_s: 5,
                commit_p50_ms: Some(2.0),
                rows: vec![
                    row(Method::ShortPolling, Some(1000), 5, 5000, 500.0),
                    row(Method::ShortPolling, Some(2), 2500, 900_000, 1.5),
                    row(Method::ConditionalPolling, Some(2), 2500, 400_000, 1.5),
                    row(Method::LongPolling, None, 11, 9000, 1.2),
                    row(Method::ServerSentEvents, None, 1, 3000, 1.1),
                    row(Method::Webhooks, None, 10, 8000, 1.0),
                ],
            },
            outage: Outage {
                attempt_timeout_ms: 150,
                slow_ack_ms: 250,
                slow_for_ms: 350,
                down_for_ms: 400,
                schedule_total_ms: 1175,
                rows: vec![phase(0, 2, 0)],
            },
            attacks: Attacks {
                tolerance_s: 300,
                rows: vec![AttackRow {
                    delivery: "forged".to_owned(),
                    hostile: true,
                    status: 401,
                    processed: 0,
                    reason: "no signature matched".to_owned(),
                }],
            },
            goals: Goals {
                webhook_p50_ms: Some(Goal::below(1.0, 5.0)),
                requests_vs_short_poll: Some(Goal::at_least(250.0, 100.0)),
                short_poll_interval_ms: Some(2),
                short_poll_matched: true,
            },
        }
    }

    #[test]
    fn the_paragraph_reports_what_went_as_expected() {
        let text = paragraph(&figures());
        assert!(
            text.contains("Every 2 ms it noticed in 1.50 ms at the median, but made 2,500"),
            "{text}"
        );
        assert!(text.contains("moved 2.25× fewer bytes"), "{text}");
        assert!(
            text.contains("one per event, made by the provider"),
            "{text}"
        );
        assert!(
            text.contains("250× the requests (the goal of 100× is met)"),
            "{text}"
        );
        assert!(text.contains("none was missed"), "{text}");
        assert!(text.contains("without processing any twice"), "{text}");
        assert!(text.contains("none was processed"), "{text}");
    }

    #[test]
    fn contrary_figures_turn_every_sentence_around() {
        let mut f = figures();
        f.methods.rows[1].p50_ms = Some(900.0);
        f.methods.rows[2].bytes = 950_000;
        f.methods.rows[5].requests = 14;
        f.goals.short_poll_matched = false;
        f.outage.rows = vec![phase(2, 1, 1)];
        f.attacks.rows[0].status = 200;
        f.attacks.rows[0].processed = 1;
        let text = paragraph(&f);
        assert!(
            text.contains("noticed no sooner, 900 ms at the median, and made"),
            "{text}"
        );
        assert!(text.contains("the ETag saved nothing here"), "{text}");
        assert!(text.contains("14 attempts for 10 events"), "{text}");
        assert!(text.contains("Not even short polling every 2 ms"), "{text}");
        assert!(text.contains("2 never arrived"), "{text}");
        assert!(text.contains("1 events were processed twice"), "{text}");
        assert!(
            text.contains("1 of the 1 hostile deliveries were processed: forged"),
            "{text}"
        );
    }
}
