//! How big the tables a plan touches are, from the catalogs (never a scan of a big table), and
//! the rough duration class that follows for a step: what lets an operator see which statement
//! of a plan matters.
//!
//! - PostgreSQL: `pg_class.reltuples` (the planner's estimate) and `pg_total_relation_size`;
//!   a table never analyzed (`reltuples` < 0) is counted with `COUNT(*)` when it is under
//!   [`CHEAP_BYTES`], else its row count is unknown.
//! - MariaDB: `information_schema.TABLES` (`TABLE_ROWS` is InnoDB's estimate).
//! - SQLite: `COUNT(*)` when the database file is under [`CHEAP_BYTES`], else the row count
//!   `sqlite_stat1` recorded (`ANALYZE`), else unknown; no per-table byte size.

use std::collections::BTreeMap;

use serde::Serialize;

use super::hazard::Hazard;
use crate::exec::connection::{Conn, DbError};
use crate::schema::model::Dialect;
use crate::sql::quote;

/// Below this size a `COUNT(*)` is cheap enough to run for a preview.
pub const CHEAP_BYTES: i64 = 64 * 1024 * 1024;

/// One table's size as the catalogs tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TableSize {
    /// Rows, estimated or counted; None when the catalogs do not know.
    pub rows: Option<i64>,
    /// Table plus indexes, in bytes (None on SQLite).
    pub bytes: Option<i64>,
    /// Whether `rows` was counted rather than estimated.
    pub exact: bool,
}

/// How long a step will roughly take (and hold its lock): from whether it touches rows, and
/// how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DurationClass {
    /// Metadata only, or a small table.
    Instant,
    Seconds,
    Minutes,
}

impl DurationClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DurationClass::Instant => "instant",
            DurationClass::Seconds => "seconds",
            DurationClass::Minutes => "minutes",
        }
    }
}

/// Rows up to which a step that reads or copies every row still counts as instant.
pub const INSTANT_ROWS: i64 = 10_000;
/// Rows (or bytes) from which it counts in minutes.
pub const MINUTES_ROWS: i64 = 1_000_000;
pub const MINUTES_BYTES: i64 = 1024 * 1024 * 1024;

/// The duration class of a step with hazard `h` on a table of size `size` (None: unknown).
pub fn duration_class(h: &Hazard, size: Option<&TableSize>) -> DurationClass {
    if !h.touches_rows() {
        return DurationClass::Instant;
    }
    let Some(size) = size else {
        // Unknown: not instant, and no reason to shout "minutes".
        return DurationClass::Seconds;
    };
    let rows = size.rows.unwrap_or(INSTANT_ROWS);
    let bytes = size.bytes.unwrap_or(0);
    if rows >= MINUTES_ROWS || bytes >= MINUTES_BYTES {
        DurationClass::Minutes
    } else if rows > INSTANT_ROWS {
        DurationClass::Seconds
    } else {
        DurationClass::Instant
    }
}

/// Sizes of `tables` (those missing from the database are left out).
pub async fn table_sizes(
    conn: &mut Conn,
    tables: &[String],
) -> Result<BTreeMap<String, TableSize>, DbError> {
    let mut out = BTreeMap::new();
    if tables.is_empty() {
        return Ok(out);
    }
    let err = |e| DbError::statement("cannot read table sizes from the catalogs", e);
    match conn.dialect() {
        Dialect::Postgres => {
            let rows = conn
                .query(
                    "SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid), \
                     pg_relation_size(c.oid) \
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
                )
                .await
                .map_err(err)?;
            for r in rows {
                let Some(name) = r[0].text() else { continue };
                if !tables.contains(&name) {
                    continue;
                }
                let (est, total, heap) = (r[1].as_i64(), r[2].as_i64(), r[3].as_i64());
                let mut size = TableSize {
                    rows: est.filter(|n| *n >= 0),
                    bytes: total,
                    exact: false,
                };
                if size.rows.is_none() && heap.is_some_and(|b| b < CHEAP_BYTES) {
                    size.rows = count(conn, &name).await?;
                    size.exact = true;
                }
                out.insert(name, size);
            }
        }
        Dialect::Mysql => {
            let rows = conn
                .query(
                    "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH \
                     FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
                )
                .await
                .map_err(err)?;
            for r in rows {
                let Some(name) = r[0].text() else { continue };
                if tables.contains(&name) {
                    out.insert(
                        name,
                        TableSize {
                            rows: r[1].as_i64(),
                            bytes: r[2].as_i64(),
                            exact: false,
                        },
                    );
                }
            }
        }
        Dialect::Sqlite => {
            let pages = conn
                .query_i64("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size")
                .await
                .map_err(err)?
                .unwrap_or(0);
            let stat1 = sqlite_stat1(conn).await?;
            let existing: Vec<String> = conn
                .query("SELECT name FROM sqlite_master WHERE type = 'table'")
                .await
                .map_err(err)?
                .iter()
                .filter_map(|r| r[0].text())
                .collect();
            for t in tables.iter().filter(|t| existing.contains(t)) {
                let size = if pages < CHEAP_BYTES {
                    TableSize {
                        rows: count(conn, t).await?,
                        bytes: None,
                        exact: true,
                    }
                } else {
                    TableSize {
                        rows: stat1.get(t).copied(),
                        bytes: None,
                        exact: false,
                    }
                };
                out.insert(t.clone(), size);
            }
        }
    }
    Ok(out)
}

async fn count(conn: &mut Conn, table: &str) -> Result<Option<i64>, DbError> {
    let sql = format!("SELECT COUNT(*) FROM {}", quote(conn.dialect(), table));
    conn.query_i64(&sql)
        .await
        .map_err(|e| DbError::statement(&format!("cannot count the rows of {table}"), e))
}

/// Row counts `ANALYZE` left in `sqlite_stat1` (the first number of a table's `stat`).
async fn sqlite_stat1(conn: &mut Conn) -> Result<BTreeMap<String, i64>, DbError> {
    let mut out = BTreeMap::new();
    let has = conn
        .query_i64("SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        .await
        .map_err(|e| DbError::statement("cannot read sqlite_master", e))?
        .unwrap_or(0);
    if has == 0 {
        return Ok(out);
    }
    let rows = conn
        .query("SELECT tbl, stat FROM sqlite_stat1")
        .await
        .map_err(|e| DbError::statement("cannot read sqlite_stat1", e))?;
    for r in rows {
        let (Some(t), Some(stat)) = (r[0].text(), r[1].text()) else {
            continue;
        };
        if let Some(n) = stat.split_whitespace().next().and_then(|n| n.parse().ok()) {
            out.entry(t).or_insert(n);
        }
    }
    Ok(out)
}

/// Bytes in a short human form (`12 kB`, `3.4 MB`).
pub fn human_bytes(b: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 || v >= 10.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
