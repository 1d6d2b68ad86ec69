//! "What you just saw": the closing paragraph, written from the sections' typed figures alone.
//!
//! Every sentence reads a figure, and each has wording for the case where the figure goes the
//! other way (a loaded machine can make enqueueing slower than the email, a reliable backend can
//! lose a job, the idempotency key can fail to stop a duplicate). `paragraph` is a pure function so
//! a unit test can feed it contrary figures.

use serde::Serialize;
use support::narrate::Narrator;

use super::crash_matrix::{CrashMatrix, Scenario};
use super::throughput::headroom_sentence;
use super::{Ceiling, ResponseTime, Retries, StreamReplay, Throughput, Thumbnails};
use crate::config::BackendKind;
use crate::status::Status;

/// Everything the sections measured, as the closing paragraph and the report read it.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub workers: usize,
    pub response: ResponseTime,
    pub thumbnails: Thumbnails,
    pub throughput: Throughput,
    pub crashes: CrashMatrix,
    /// `None` when Redis was not reachable.
    pub stream: Option<StreamReplay>,
    pub retries: Retries,
    /// `None` when RabbitMQ was not reachable.
    pub ceiling: Option<Ceiling>,
}

pub fn run(n: &mut Narrator, figures: &Figures) -> anyhow::Result<()> {
    n.section("What you just saw");
    n.say(&paragraph(figures));
    Ok(())
}

/// The backends that keep a job outside the worker's process.
const RELIABLE: [BackendKind; 3] = [
    BackendKind::Redis,
    BackendKind::RedisStream,
    BackendKind::RabbitMq,
];

/// How a backend is named in prose.
fn title(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::InProcess => "the in-process queue",
        BackendKind::Redis => "the Redis list",
        BackendKind::RedisStream => "the Redis Stream",
        BackendKind::RabbitMq => "RabbitMQ",
    }
}

/// `a`, `a and b`, `a, b and c`, with the first letter capitalised (it starts a sentence).
fn names(kinds: &[BackendKind]) -> String {
    let labels: Vec<&str> = kinds.iter().map(|k| title(*k)).collect();
    let joined = names_joined(&labels);
    let mut chars = joined.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_uppercase().collect::<String>() + chars.as_str()
    })
}

fn names_joined(labels: &[&str]) -> String {
    match labels {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The closing paragraph for `f`.
pub fn paragraph(f: &Figures) -> String {
    let mut text = String::from("How do background jobs improve app performance? ");
    text.push_str(&response_sentence(&f.response));
    if let Some(headroom) = headroom_sentence(&f.throughput, f.response.mail_latency_ms) {
        text.push(' ');
        text.push_str(&headroom);
    }
    if let Some(fastest) = f.throughput.fastest()
        && f.throughput.rows.len() > 1
    {
        text.push_str(&format!(
            " The fastest backend here ({}) moved {:.0} no-op jobs/s.",
            fastest.backend.label(),
            fastest.jobs_per_s
        ));
    }
    text.push_str(&crash_sentences(&f.crashes));
    if let Some(stream) = &f.stream {
        text.push_str(&format!(
            " The Redis Stream kept {} it ran: {} of {} entries were still in the log and a new \
             consumer group replayed {}{}; the list kept {}.",
            if stream.stream.stored >= stream.stream.ran {
                "all"
            } else {
                "only part of what"
            },
            stream.stream.stored,
            stream.stream.ran,
            stream.stream.replayed,
            if stream.stream.workers_offset_kept {
                " without moving the workers' offset"
            } else {
                ", but the workers' offset moved"
            },
            stream.list.stored
        ));
    }
    text.push_str(&retry_sentence(&f.retries));
    if let Some(c) = &f.ceiling
        && let (Some(best), Some(share)) = (c.best(), c.backend_share())
    {
        if share < super::bare_ceiling::KEPT_UP {
            text.push_str(&format!(
                " The RabbitMQ backend ran at {:.0}% of the bare broker's best configuration ({}, \
                 {:.0} msgs/s).",
                100.0 * share,
                best.label,
                best.messages_per_s
            ));
        } else {
            text.push_str(&format!(
                " The RabbitMQ backend kept up with the bare broker's best configuration this run \
                 ({:.0}% of {}, {:.0} msgs/s): the broker set the pace, not the job framework.",
                100.0 * share,
                best.label,
                best.messages_per_s
            ));
        }
    }
    text.push_str(
        " Pick the in-process queue for work you can afford to lose (cache warming, metrics); \
         Redis (Sidekiq, BullMQ, RQ) when you already run Redis and want retries, delays and \
         reclaim of stalled jobs; RabbitMQ (Celery's default broker) when you want the broker to \
         own delivery: confirms, acks, priorities, dead-letter exchanges. A log such as Kafka, or \
         a Redis Stream, when consumers need to replay history. Whatever the queue, make the \
         handler idempotent by job id.",
    );
    text
}

fn response_sentence(r: &ResponseTime) -> String {
    let sync = r.synchronous.p50_ms;
    let Some((kind, fastest)) = r.fastest_queue() else {
        return format!(
            "With a {:.0} ms mail service, a synchronous sign-up answered in {sync:.1} ms at the \
             median; no queue backend ran to compare.",
            r.mail_latency_ms
        );
    };
    let queued = fastest.p50_ms;
    let lead = format!(
        "With a {:.0} ms mail service, a synchronous sign-up answered in {sync:.1} ms at the \
         median; enqueueing the email ({}) answered in {queued:.2} ms",
        r.mail_latency_ms,
        kind.label()
    );
    if queued < sync {
        format!(
            "They take slow work off the request path. {lead}, {:.0}× faster, and the email \
             still went out a moment later.",
            sync / queued.max(1e-9)
        )
    } else {
        format!(
            "They are meant to take slow work off the request path, but not this run: {lead}, \
             no faster than sending it (a loaded machine, or a mail service faster than the \
             hand-over)."
        )
    }
}

fn crash_sentences(c: &CrashMatrix) -> String {
    let mut text = String::new();
    if let Some(row) = c.row(BackendKind::InProcess, Scenario::WithBacklog) {
        if row.lost > 0 {
            text.push_str(&format!(
                " But a queue in memory is a promise that ends with the process: killing it lost \
                 {} of {} jobs.",
                row.lost, row.jobs
            ));
        } else {
            text.push_str(&format!(
                " Killing the in-process worker lost none of its {} jobs this run, which is \
                 luck, not a promise: its queue lives only in the process.",
                row.jobs
            ));
        }
    }
    let reliable: Vec<BackendKind> = RELIABLE
        .into_iter()
        .filter(|k| c.rows.iter().any(|r| r.backend == *k))
        .collect();
    if reliable.is_empty() {
        return text;
    }
    let (lost, jobs): (u64, u64) = c
        .rows
        .iter()
        .filter(|r| reliable.contains(&r.backend))
        .fold((0, 0), |(l, j), r| (l + r.lost, j + r.jobs));
    let losers: Vec<BackendKind> = c
        .losers()
        .into_iter()
        .filter(|k| reliable.contains(k))
        .collect();
    if lost == 0 {
        text.push_str(&format!(
            " {} lost none of their {jobs} jobs",
            names(&reliable)
        ));
    } else {
        text.push_str(&format!(
            " {} lost {lost} of {jobs} jobs (a reclaim slower than this run's deadline)",
            names(&losers)
        ));
    }
    let twice: u64 = reliable
        .iter()
        .filter_map(|k| c.row(*k, Scenario::AfterEffect))
        .map(|r| r.twice)
        .sum();
    let twice_idempotent: u64 = reliable
        .iter()
        .filter_map(|k| c.row(*k, Scenario::AfterEffectIdempotent))
        .map(|r| r.twice)
        .sum();
    if twice > 0 {
        text.push_str(&format!(
            ", at the price of at-least-once delivery ({twice} email{} sent twice after a kill \
             between the email and the ack)",
            if twice == 1 { "" } else { "s" }
        ));
    } else {
        text.push_str(
            "; no email went out twice after a kill between the email and the ack, though \
             at-least-once delivery allows it",
        );
    }
    if twice_idempotent == 0 {
        text.push_str("; with the job id as an idempotency key, none was sent twice.");
    } else {
        text.push_str(&format!(
            "; even with the job id as an idempotency key, {twice_idempotent} went out twice, \
             so the key did not hold."
        ));
    }
    text
}

fn retry_sentence(r: &Retries) -> String {
    let all = r.rows.len();
    let walked = r
        .rows
        .iter()
        .filter(|row| row.attempts == u64::from(r.max_attempts) && row.dead_letters == 1)
        .count();
    let replayed = r
        .rows
        .iter()
        .filter(|row| row.after_replay == Some(Status::Succeeded))
        .count();
    if all == 0 {
        return String::new();
    }
    let walk = if walked == all {
        format!(
            " The always-failing job made its {} attempts on every backend and landed in the \
             dead-letter queue",
            r.max_attempts
        )
    } else {
        format!(
            " The always-failing job made its {} attempts and landed in the dead-letter queue on \
             only {walked} of {all} backends",
            r.max_attempts
        )
    };
    let replay = if replayed == all {
        "; replayed, it succeeded everywhere.".to_owned()
    } else {
        format!("; replayed, it succeeded on {replayed} of {all}.")
    };
    walk + &replay
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{
        CeilingRow, CrashRow, ListHeld, ResponseRow, RetryRow, StreamHeld, ThroughputRow,
    };
    use support::measure::Measurement;

    fn measured(p50_ms: f64) -> Measurement {
        let d = std::time::Duration::from_secs_f64(p50_ms / 1e3);
        Measurement {
            ok: 10,
            errors: 0,
            elapsed: d * 10,
            mean: d,
            p50: d,
            p90: d,
            p99: d,
            max: d,
            throughput: 1e3 / p50_ms,
        }
    }

    fn response(p50_ms: f64) -> ResponseRow {
        ResponseRow {
            status: 202,
            p50_ms,
            measured: measured(p50_ms),
        }
    }

    fn crash(
        backend: BackendKind,
        scenario: Scenario,
        jobs: u64,
        lost: u64,
        twice: u64,
    ) -> CrashRow {
        CrashRow {
            backend,
            scenario,
            jobs,
            lost,
            once: jobs - lost - twice,
            twice,
        }
    }

    /// Figures as a healthy run produces them: queues fast, in-process loses, Redis and
    /// RabbitMQ redeliver, the stream replays, retries walk the schedule.
    fn usual() -> Figures {
        let mut rows = Vec::new();
        for kind in [
            BackendKind::InProcess,
            BackendKind::Redis,
            BackendKind::RabbitMq,
        ] {
            let lossy = kind == BackendKind::InProcess;
            rows.push(crash(kind, Scenario::BeforeEffect, 1, u64::from(lossy), 0));
            rows.push(crash(kind, Scenario::AfterEffect, 1, 0, u64::from(!lossy)));
            rows.push(crash(kind, Scenario::AfterEffectIdempotent, 1, 0, 0));
            rows.push(crash(
                kind,
                Scenario::WithBacklog,
                5,
                if lossy { 5 } else { 0 },
                0,
            ));
        }
        Figures {
            workers: 4,
            response: ResponseTime {
                mail_latency_ms: 200.0,
                synchronous: response(203.0),
                queued: vec![
                    (BackendKind::InProcess, response(0.2)),
                    (BackendKind::Redis, response(0.6)),
                ],
            },
            thumbnails: Thumbnails {
                width: 480,
                height: 360,
                max_side: 100,
                synchronous_p50_ms: 40.0,
                in_process_p50_ms: 0.2,
                synchronous: measured(40.0),
                in_process: measured(0.2),
            },
            throughput: Throughput {
                workers: 4,
                batch: 500,
                rows: vec![
                    ThroughputRow {
                        backend: BackendKind::InProcess,
                        e2e_p50_us: 160.0,
                        e2e_p99_us: 330.0,
                        jobs_per_s: 60_000.0,
                    },
                    ThroughputRow {
                        backend: BackendKind::Redis,
                        e2e_p50_us: 4_500.0,
                        e2e_p99_us: 8_400.0,
                        jobs_per_s: 4_300.0,
                    },
                ],
            },
            crashes: CrashMatrix {
                visibility_timeout_ms: 300.0,
                rows,
            },
            stream: Some(StreamReplay {
                batch: 100,
                list: ListHeld {
                    ran: 100,
                    stored: 0,
                },
                stream: StreamHeld {
                    ran: 100,
                    stored: 100,
                    replayed: 100,
                    replay_us: 650.0,
                    workers_offset_kept: true,
                },
            }),
            retries: Retries {
                max_attempts: 4,
                schedule_ms: vec![17.0, 35.0, 66.0],
                rows: vec![RetryRow {
                    backend: BackendKind::Redis,
                    attempts: 4,
                    scheduled_ms: 118.0,
                    observed_ms: 235.0,
                    dead_letters: 1,
                    after_replay: Some(Status::Succeeded),
                }],
            },
            ceiling: Some(Ceiling {
                bare: vec![CeilingRow {
                    label: "bare: ack each, awaited".to_owned(),
                    messages_per_s: 9_000.0,
                    time_ms: 110.0,
                }],
                backend: CeilingRow {
                    label: "job backend".to_owned(),
                    messages_per_s: 7_200.0,
                    time_ms: 137.0,
                },
                workers: 4,
            }),
        }
    }

    #[test]
    fn the_usual_figures_read_as_the_usual_story() {
        let text = paragraph(&usual());
        assert!(text.contains("1015× faster"), "{text}");
        assert!(text.contains("lost 5 of 5 jobs"), "{text}");
        assert!(
            text.contains("The Redis list and RabbitMQ lost none of their 16 jobs"),
            "{text}"
        );
        assert!(text.contains("2 emails sent twice"), "{text}");
        assert!(text.contains("none was sent twice"), "{text}");
        assert!(text.contains("is 215× the 20 emails/s"), "{text}");
        assert!(text.contains("100 of 100 entries"), "{text}");
        assert!(text.contains("80% of the bare broker's best"), "{text}");
        assert!(text.contains("succeeded everywhere"), "{text}");
    }

    #[test]
    fn contrary_figures_change_every_sentence_that_reads_them() {
        let mut f = usual();
        // Enqueueing slower than the email, a slow queue, a reliable backend that lost a job,
        // an in-process run that lost nothing, an idempotency key that did not hold, a short
        // replay, a retry that did not dead-letter.
        f.response.queued = vec![(BackendKind::Redis, response(250.0))];
        f.throughput.rows[1].jobs_per_s = 12.0;
        for row in &mut f.crashes.rows {
            match (row.backend, row.scenario) {
                (BackendKind::InProcess, Scenario::WithBacklog) => {
                    row.lost = 0;
                    row.once = 5;
                }
                (BackendKind::Redis, Scenario::BeforeEffect) => {
                    row.lost = 1;
                    row.once = 0;
                }
                (BackendKind::RabbitMq, Scenario::AfterEffectIdempotent) => {
                    row.twice = 1;
                    row.once = 0;
                }
                _ => {}
            }
        }
        if let Some(stream) = &mut f.stream {
            stream.stream.replayed = 40;
            stream.stream.workers_offset_kept = false;
        }
        f.retries.rows[0].dead_letters = 0;
        f.retries.rows[0].after_replay = None;
        if let Some(c) = &mut f.ceiling {
            c.backend.messages_per_s = 18_000.0;
        }

        let text = paragraph(&f);
        assert!(!text.contains("× faster"), "{text}");
        assert!(text.contains("but not this run"), "{text}");
        assert!(text.contains("below the 20 emails/s"), "{text}");
        assert!(text.contains("lost none of its 5 jobs this run"), "{text}");
        assert!(text.contains("The Redis list lost 1 of 16 jobs"), "{text}");
        assert!(!text.contains("lost none of their"), "{text}");
        assert!(
            text.contains("1 went out twice, so the key did not hold"),
            "{text}"
        );
        assert!(
            text.contains("replayed 40, but the workers' offset moved"),
            "{text}"
        );
        assert!(text.contains("kept all it ran"), "{text}");
        assert!(text.contains("on only 0 of 1 backends"), "{text}");
        assert!(text.contains("succeeded on 0 of 1"), "{text}");
        assert!(
            text.contains("kept up with the bare broker's best"),
            "{text}"
        );
        assert_ne!(text, paragraph(&usual()));
    }

    #[test]
    fn missing_services_leave_their_sentences_out() {
        let mut f = usual();
        f.stream = None;
        f.ceiling = None;
        f.crashes
            .rows
            .retain(|r| r.backend == BackendKind::InProcess);
        let text = paragraph(&f);
        assert!(!text.contains("Redis Stream kept"), "{text}");
        assert!(!text.contains("bare broker"), "{text}");
        assert!(!text.contains("lost none of their"), "{text}");
        assert!(text.contains("lost 5 of 5 jobs"), "{text}");
    }
}
