//! What the database touched to answer a page: `EXPLAIN (ANALYZE, FORMAT JSON)` of the SQL each
//! scheme sends. PostgreSQL only (SQLite's `EXPLAIN QUERY PLAN` counts no rows), so this is one
//! of the few places that match on the connection's variant.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::LIMIT;
use crate::cursor::Position;
use crate::db::AnyConnection;

#[derive(QueryableByName)]
struct PlanRow {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    plan: String,
}

/// Rows the busiest plan node produced or filtered away: what the database had to touch to
/// answer. `None` on SQLite.
pub fn rows_touched(conn: &mut AnyConnection, sql: &str) -> QueryResult<Option<f64>> {
    let AnyConnection::Postgresql(pg) = conn else {
        return Ok(None);
    };
    let rows: Vec<PlanRow> =
        diesel::sql_query(format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}")).load(pg)?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let json: serde_json::Value = serde_json::from_str(&row.plan).unwrap_or_default();
    // A node's own work is the rows it emitted plus those it read and threw away, times the
    // loops it ran. The maximum over the tree, not the sum: a parent re-counts its child's rows
    // (the Limit above an index scan emits what the scan emitted), so a sum would double them.
    fn walk(node: &serde_json::Value) -> f64 {
        let num = |key: &str| {
            node.get(key)
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0)
        };
        let own =
            (num("Actual Rows") + num("Rows Removed by Filter")) * num("Actual Loops").max(1.0);
        let children = node
            .get("Plans")
            .and_then(serde_json::Value::as_array)
            .map_or(0.0, |plans| plans.iter().map(walk).fold(0.0, f64::max));
        own.max(children)
    }
    Ok(json.get(0).and_then(|v| v.get("Plan")).map(walk))
}

/// The SQL diesel sends for each scheme, spelled out for EXPLAIN (the same shape as
/// `offset::fetch` and `cursor::fetch`). The values are our own numbers and a timestamp we
/// formatted, never client input, so formatting them into SQL is safe.
pub fn sql(offset: i64, at: Option<Position>) -> (String, String) {
    let order = "ORDER BY created_at DESC, id DESC";
    let probe = LIMIT + 1;
    let offset_sql =
        format!("SELECT * FROM pagination_posts {order} LIMIT {probe} OFFSET {offset}");
    let cursor_sql = match at {
        None => format!("SELECT * FROM pagination_posts {order} LIMIT {probe}"),
        Some(at) => {
            let ts = at.created_at.format("%Y-%m-%d %H:%M:%S%.f");
            format!(
                "SELECT * FROM pagination_posts WHERE created_at <= '{ts}' \
                 AND (created_at < '{ts}' OR id < {}) {order} LIMIT {probe}",
                at.id
            )
        }
    };
    (offset_sql, cursor_sql)
}
