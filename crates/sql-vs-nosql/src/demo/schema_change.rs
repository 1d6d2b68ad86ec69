//! "A schema change": every post gains a `lang` field defaulting to `"en"`, the way each engine
//! does it. Relational engines change the catalogue (`ALTER TABLE ... ADD COLUMN ... DEFAULT`,
//! metadata only on all three, proved in `relational::dialect`); the document store rewrites
//! every document so readers see one shape; Redis and the graph need no change at all, which
//! moves the work to every reader that must cope with records without the field.

use std::time::{Duration, Instant};

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit, format_number, format_ratio};

use crate::store::{Engine, SocialStore};

/// One engine's change.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub engine: Engine,
    /// Records rewritten to add the field.
    pub rewritten: u64,
    pub add: Duration,
    /// Undoing it, so the data set is reused unchanged.
    pub undo: Duration,
}

/// What the section measured.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaChanges {
    pub posts: i64,
    pub changes: Vec<Change>,
}

impl SchemaChanges {
    fn get(&self, engine: Engine) -> Option<&Change> {
        self.changes.iter().find(|c| c.engine == engine)
    }
}

pub async fn run(
    n: &mut Narrator,
    stores: &[&dyn SocialStore],
    posts: i64,
) -> anyhow::Result<SchemaChanges> {
    n.section("A schema change: a new field on every post");
    let mut changes = Vec::new();
    for &store in stores {
        let started = Instant::now();
        let change = store.add_post_field().await?;
        let add = started.elapsed();
        let started = Instant::now();
        store.drop_post_field().await?;
        changes.push(Change {
            engine: store.engine(),
            rewritten: change.rewritten,
            add,
            undo: started.elapsed(),
        });
    }
    let figures = SchemaChanges { posts, changes };
    let mut table = Table::new("engine")
        .column("records rewritten", Unit::Count)
        .column("add the field", Unit::Millis)
        .column("undo", Unit::Millis)
        .ratio_against("add the field", Engine::Postgres.label())
        .chart(
            Chart::bars()
                .of(&["add the field", "undo"])
                .titled("A new field on every post: the change and its undo"),
        );
    for c in &figures.changes {
        table.row(
            c.engine.label(),
            [
                c.rewritten.into(),
                (c.add.as_secs_f64() * 1e3).into(),
                (c.undo.as_secs_f64() * 1e3).into(),
            ],
        );
    }
    n.table(table);
    n.say(&verdict(&figures));
    n.figures(&figures)?;
    Ok(figures)
}

/// The section's sentence, from the figures alone.
pub fn verdict(f: &SchemaChanges) -> String {
    let metadata: Vec<&str> = f
        .changes
        .iter()
        .filter(|c| c.rewritten == 0)
        .map(|c| c.engine.label())
        .collect();
    let rewriters: Vec<&Change> = f.changes.iter().filter(|c| c.rewritten > 0).collect();
    let mut said = Vec::new();
    if !metadata.is_empty() {
        said.push(format!(
            "{} added the field without rewriting a record.",
            metadata.join(", ")
        ));
    }
    for c in &rewriters {
        let against = f
            .get(Engine::Postgres)
            .filter(|p| p.rewritten == 0)
            .map(|p| {
                format!(
                    ", {} PostgreSQL's ALTER TABLE",
                    format_ratio(c.add.as_secs_f64() / p.add.as_secs_f64().max(1e-9))
                )
            })
            .unwrap_or_default();
        said.push(format!(
            "{} rewrote {} of {} posts to add it, in {} ms{against}.",
            c.engine.label(),
            format_number(c.rewritten as f64),
            format_number(f.posts as f64),
            format_number(c.add.as_secs_f64() * 1e3)
        ));
    }
    if f.changes.iter().any(|c| {
        matches!(
            c.engine,
            Engine::RedisFanOutOnRead | Engine::RedisFanOutOnWrite
        )
    }) {
        said.push(
            "Redis has no schema to change: every reader must treat a missing field as the \
             default, forever, which is the cost a schema-less store moves from the migration \
             to the code."
                .to_owned(),
        );
    }
    said.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_follows_who_rewrote_what() {
        let change = |engine, rewritten, ms| Change {
            engine,
            rewritten,
            add: Duration::from_millis(ms),
            undo: Duration::ZERO,
        };
        let mut f = SchemaChanges {
            posts: 1000,
            changes: vec![
                change(Engine::Postgres, 0, 2),
                change(Engine::Documents, 1000, 200),
            ],
        };
        let said = verdict(&f);
        assert!(
            said.contains("PostgreSQL added the field without rewriting"),
            "{said}"
        );
        assert!(said.contains("rewrote 1,000 of 1,000 posts"), "{said}");
        f.changes = vec![change(Engine::Postgres, 1000, 50)];
        let said = verdict(&f);
        assert!(!said.contains("without rewriting"), "{said}");
        assert!(said.contains("PostgreSQL rewrote"), "{said}");
    }
}
