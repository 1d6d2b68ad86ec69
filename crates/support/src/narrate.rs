//! Narration: what a demo prints, recorded as it is printed.
//!
//! A demo talks through a [`Narrator`]: headings, paragraphs, transcripts and tables. Each goes to
//! standard output in one consistent look and into the [`Report`] the demo returns, so the printed
//! story and the data a chart would use can never disagree.

use std::io::Write;
use std::path::Path;

use crate::demo::DemoArgs;
use crate::report::{Block, Machine, Report, Section, Table};
use crate::services::{Service, Services};

/// Width paragraphs are wrapped to.
const WIDTH: usize = 100;

/// Prints a demo and records it as a [`Report`].
#[derive(Debug)]
pub struct Narrator {
    report: Report,
    /// When false (tests), nothing is printed; the report is still built.
    echo: bool,
}

impl Narrator {
    /// Starts a demo: prints its title and whether the numbers come from an optimised build.
    pub fn new(topic: &str, title: &str, args: &DemoArgs) -> Self {
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        let narrator = Self {
            report: Report {
                topic: topic.to_owned(),
                title: title.to_owned(),
                started_at: chrono::Utc::now().to_rfc3339(),
                profile: profile.to_owned(),
                quick: args.quick,
                machine: Machine::current(),
                services_used: Vec::new(),
                left_out: Vec::new(),
                sections: Vec::new(),
            },
            echo: !args.silent,
        };
        let mode = if args.quick { ", quick mode" } else { "" };
        narrator.print(&format!("\n{title}\n{}", "═".repeat(title.chars().count())));
        narrator.print(&format!("({topic}, {profile} build{mode})"));
        if profile == "debug" {
            narrator.print(
                "Numbers from a debug build are slower than production; `cargo demo` builds in release.",
            );
        }
        narrator
    }

    /// Records which services this run uses and prints one line for each one it runs without.
    /// `left_out` says, per service, what the demo skips or replaces when it is missing.
    pub fn services(&mut self, services: &Services, left_out: &[(Service, &str)]) {
        for (service, what) in left_out {
            match services.missing_line(*service, what) {
                None => self.report.services_used.push(service.name().to_owned()),
                Some(line) => {
                    self.print(&format!("note: {line}"));
                    self.report.left_out.push(line);
                }
            }
        }
        if !self.report.services_used.is_empty() {
            self.print(&format!("using: {}", self.report.services_used.join(", ")));
        }
    }

    /// Prints one `note:` line for something this run left out that is not a probed service (an
    /// installed program such as Memcached or nginx) and records it in the report's `left_out`,
    /// beside the services' lines, so the report page shows it too.
    pub fn left_out(&mut self, line: impl Into<String>) {
        let line = line.into();
        self.print(&textwrap::fill(&format!("note: {line}"), WIDTH));
        self.report.left_out.push(line);
    }

    /// Probes `wanted` (each with what the demo leaves out without it), prints one line per missing
    /// service and records the rest as used. Under `BF_REQUIRE_SERVICES=1` a missing one is an
    /// error naming it: CI must not pass on the fallbacks by accident.
    pub async fn probe(
        &mut self,
        settings: &crate::Settings,
        wanted: &[(Service, &str)],
    ) -> anyhow::Result<Services> {
        let services: Vec<Service> = wanted.iter().map(|(s, _)| *s).collect();
        let probed = Services::probe_only(settings, &services).await;
        self.services(&probed, wanted);
        let missing: Vec<&str> = services
            .iter()
            .filter(|s| !probed.is_up(**s))
            .map(|s| s.name())
            .collect();
        if settings.require_services && !missing.is_empty() {
            anyhow::bail!(
                "{}=1 and {} unreachable",
                crate::config::REQUIRE_SERVICES_VAR,
                missing.join(", ")
            );
        }
        Ok(probed)
    }

    /// Records a section's typed figures in the report (not printed: the table already was).
    pub fn figures(&mut self, figures: &impl serde::Serialize) -> anyhow::Result<()> {
        self.push(Block::Figures(serde_json::to_value(figures)?));
        Ok(())
    }

    /// Starts a new section with a heading.
    pub fn section(&mut self, title: &str) {
        self.print(&format!(
            "\n── {title} {}",
            "─".repeat(WIDTH.saturating_sub(title.chars().count() + 4))
        ));
        self.report.sections.push(Section {
            title: title.to_owned(),
            blocks: Vec::new(),
        });
    }

    /// A paragraph of prose, wrapped.
    pub fn say(&mut self, text: &str) {
        self.print(&textwrap::fill(text, WIDTH));
        self.push(Block::Paragraph(text.to_owned()));
    }

    /// Lines printed verbatim (a request/response transcript, a schedule), indented.
    pub fn transcript(&mut self, lines: Vec<String>) {
        for line in &lines {
            self.print(&format!("    {line}"));
        }
        self.push(Block::Transcript(lines));
    }

    /// A side-by-side table.
    pub fn table(&mut self, table: Table) {
        self.print(&table.render());
        self.push(Block::Table(table));
    }

    /// Ends the demo: writes the JSON report when asked and returns it.
    pub fn finish(self, json: Option<&Path>) -> anyhow::Result<Report> {
        if let Some(path) = json {
            self.report.write_json(path)?;
            self.print(&format!("\nreport written to {}", path.display()));
        }
        Ok(self.report)
    }

    /// The report so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    fn push(&mut self, block: Block) {
        if self.report.sections.is_empty() {
            self.report.sections.push(Section {
                title: String::new(),
                blocks: Vec::new(),
            });
        }
        if let Some(section) = self.report.sections.last_mut() {
            section.blocks.push(block);
        }
    }

    fn print(&self, text: &str) {
        if self.echo {
            // A closed stdout (piped into `head`) must not crash a demo.
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Unit;

    #[test]
    fn everything_narrated_lands_in_the_report_in_order() {
        let args = DemoArgs {
            silent: true,
            ..DemoArgs::default()
        };
        let mut n = Narrator::new("topic", "Title", &args);
        n.section("One");
        n.say("hello");
        let mut t = Table::new("x").column("n", Unit::Count);
        t.row("a", [1u64.into()]);
        n.table(t);
        let report = n.finish(None).unwrap();
        let section = report.section("One").unwrap();
        assert!(matches!(section.blocks[0], Block::Paragraph(ref p) if p == "hello"));
        assert_eq!(report.tables().count(), 1);
    }
}
