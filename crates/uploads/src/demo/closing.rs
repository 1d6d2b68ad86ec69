//! "What you just saw": the closing paragraph, built only from the figures the sections returned.
//!
//! Every sentence has wording for figures that go the other way: a slow disk or a loaded machine
//! can put the backend path under half the disk's speed, a platform without `/proc` has no
//! resident-set figure, and a regression could leave a file behind. The paragraph says what this
//! run measured.

use serde::Serialize;
use support::narrate::Narrator;
use support::report::format_number;

use super::hostile::Hostile;
use super::resume::Resume;
use super::throughput::{Throughput, label};

/// The goals the issue set: streaming reaches half the raw disk, and the backend's peak RSS
/// grows by at most 64 MiB whatever the file's size.
pub const SHARE_GOAL: f64 = 0.5;
pub const RSS_GOAL_BYTES: u64 = 64 * 1024 * 1024;

/// Everything the paragraph reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub throughput: Throughput,
    pub resume: Resume,
    pub hostile: Hostile,
}

fn mb(b: u64) -> String {
    format!("{} MB", format_number(b as f64 / 1e6))
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

/// The paragraph, from the figures alone.
pub fn paragraph(f: &Figures) -> String {
    let mut out = Vec::new();
    if let Some(l) = f.throughput.largest() {
        let size = label(l.bytes);
        let disk = l.disk.mb_per_s(l.bytes);
        let backend = l.backend.mb_per_s(l.bytes);
        let share = backend / disk;
        out.push(format!(
            "Streaming {size} through the backend ran at {} MB/s, {:.0}% of the {} MB/s that an \
             fsynced write of the same size reached on the same disk in this run, {} the goal of \
             {:.0}%.",
            format_number(backend),
            share * 100.0,
            format_number(disk),
            if share >= SHARE_GOAL {
                "meeting"
            } else {
                "missing"
            },
            SHARE_GOAL * 100.0
        ));
        out.push(match l.backend.backend_rss_growth {
            Some(g) if g <= RSS_GOAL_BYTES => format!(
                "Its resident set rose by {} while the {size} went through: memory is bounded by \
                 the buffers, not by the file.",
                mib(g)
            ),
            Some(g) => format!(
                "Its resident set rose by {} while the {size} went through, over the {} goal: \
                 something held more of the file than its buffers.",
                mib(g),
                mib(RSS_GOAL_BYTES)
            ),
            None => "Its resident set could not be read on this platform (no /proc), so memory \
                     was not measured."
                .to_owned(),
        });
        // `/proc` counts CPU time in 10 ms ticks: zero ticks is "under 10 ms".
        let cpu = |c: Option<f64>| match c {
            None => "an unmeasured amount".to_owned(),
            Some(s) if s < 0.01 => "under 10 ms".to_owned(),
            Some(s) => format!("{} ms", format_number(s * 1e3)),
        };
        out.push(format!(
            "The direct path sent the backend {} bytes of claims for the same file ({} went to \
             storage instead), and cost the backend {} of CPU against {} for streaming it.",
            l.direct.to_backend,
            size,
            cpu(l.direct.backend_cpu_seconds),
            cpu(l.backend.backend_cpu_seconds),
        ));
    }
    let r = &f.resume;
    out.push(format!(
        "When the connection dropped after {}, starting again sent {} of the file a second time; \
         tus resumed from offset {} and sent {} twice{}.",
        label(r.cut_after),
        mb(r.restart_resent()),
        r.tus_offset,
        if r.tus_resent() == 0 {
            "nothing".to_owned()
        } else {
            mb(r.tus_resent())
        },
        if r.tus_sha256_matches {
            ", and the server's SHA-256 of the result matched the source"
        } else {
            ", but the server's SHA-256 of the result did not match the source"
        }
    ));
    let h = &f.hostile;
    let unclean = h.unclean();
    out.push(if unclean.is_empty() {
        format!(
            "Of {} hostile inputs, {} were refused with a 4xx and left nothing behind, and {} \
             (the names) were stored under generated keys with nothing written outside the \
             storage directory.",
            h.rows.len(),
            h.refused(),
            h.rows.len() - h.refused()
        )
    } else {
        format!(
            "Of {} hostile inputs, {} left something behind: {}.",
            h.rows.len(),
            unclean.len(),
            unclean
                .iter()
                .map(|r| format!("{} ({})", r.case, r.left))
                .collect::<Vec<_>>()
                .join("; ")
        )
    });
    out.join(" ")
}

pub fn run(n: &mut Narrator, figures: &Figures) -> anyhow::Result<()> {
    n.section("What you just saw");
    n.say(&paragraph(figures));
    n.figures(figures)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::hostile::Row;
    use super::super::throughput::{PathRun, SizeRun};
    use super::*;

    fn run(seconds: f64, to_backend: u64, rss: Option<u64>) -> PathRun {
        PathRun {
            seconds,
            to_backend,
            to_storage: 0,
            backend_cpu_seconds: Some(0.5),
            backend_rss_growth: rss,
        }
    }

    fn figures(backend_seconds: f64, rss: Option<u64>, clean: bool, tus_resent: u64) -> Figures {
        Figures {
            throughput: Throughput {
                sizes: vec![SizeRun {
                    bytes: 1_000_000_000,
                    disk: run(1.0, 0, None),
                    backend: run(backend_seconds, 1_000_000_000, rss),
                    direct: run(1.5, 180, Some(1 << 20)),
                }],
            },
            resume: Resume {
                bytes: 100_000_000,
                cut_after: 50_000_000,
                tus_offset: 50_000_000 - tus_resent,
                tus_sent: 100_000_000 + tus_resent,
                restart_sent: 150_000_000,
                tus_sha256_matches: true,
                partial_files_after_cut: 0,
            },
            hostile: Hostile {
                rows: vec![Row {
                    case: "oversize".into(),
                    path: "backend",
                    status: 413,
                    reason: "too large".into(),
                    accepted: false,
                    left: if clean {
                        "nothing".into()
                    } else {
                        "1 file(s)".into()
                    },
                    clean,
                }],
            },
        }
    }

    #[test]
    fn a_fast_bounded_run_says_the_goals_were_met() {
        let text = paragraph(&figures(1.5, Some(8 << 20), true, 0));
        assert!(text.contains("67% of the 1,000 MB/s"), "{text}");
        assert!(text.contains("meeting the goal"), "{text}");
        assert!(text.contains("bounded by the buffers"), "{text}");
        assert!(text.contains("sent nothing twice"), "{text}");
        assert!(text.contains("left nothing behind"), "{text}");
    }

    #[test]
    fn a_cpu_time_below_one_tick_reads_as_under_10_ms() {
        let mut f = figures(1.5, Some(8 << 20), true, 0);
        f.throughput.sizes[0].direct.backend_cpu_seconds = Some(0.0);
        assert!(paragraph(&f).contains("cost the backend under 10 ms of CPU against 500 ms"));
    }

    #[test]
    fn contrary_figures_change_every_sentence() {
        let text = paragraph(&figures(4.0, Some(900 << 20), false, 1 << 20));
        assert!(text.contains("missing the goal"), "{text}");
        assert!(text.contains("over the 64.0 MiB goal"), "{text}");
        assert!(text.contains("sent 1.05 MB twice"), "{text}");
        assert!(
            text.contains("1 left something behind: oversize (1 file(s))"),
            "{text}"
        );
        let no_proc = paragraph(&figures(1.5, None, true, 0));
        assert!(
            no_proc.contains("could not be read on this platform"),
            "{no_proc}"
        );
    }
}
