//! `db purge` and `db purge_images_table`: remove soft-deleted rows older than a given age,
//! along a delete plan generated from the schema's FK graph ([`graph`]), with the SQL of
//! [`sql`], in batches ([`exec`]).
//! The command line (Glance's argument checks, messages, progress bars) is `cli::purge`.
//!
//! Glance's rules (`../shared/glance-reference.md` §1.3, §4): a row is eligible when its
//! `deleted_at` is older than the cutoff (`now - age`, naive UTC, strict `<`; the `deleted` flag
//! is not examined); at most `max_rows` rows per table per run, oldest first (`-1`: no limit,
//! `0`: nothing); `db purge` never touches `images` (OSSN-0075) and `purge_images_table` touches
//! nothing else. Unlike Glance, a purge never fails on a foreign key: rows still referenced are
//! kept and reported, and `purge_images_table` refuses up front, naming the blocking tables.

pub mod exec;
pub mod graph;
pub mod lanes;
pub mod report;
pub mod sizer;
pub mod sql;
mod step;
mod walk;

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::types::chrono::DateTime;

pub use exec::{ConnSource, PurgeError, run};
pub use graph::Mode;
pub use report::{Event, Options, Report};

/// Glance's message when the purge fails on the database.
pub const PURGE_FAILED: &str = "Purge command failed, check glance-manage logs for more details.";

/// Microseconds since the epoch, now.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`, naive UTC: SQLAlchemy's storage format for SQLite DATETIME,
/// and a literal PostgreSQL and MySQL read as a timestamp.
pub fn format_utc_micros(micros: i64) -> String {
    match DateTime::from_timestamp_micros(micros) {
        Some(t) => t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        // Beyond chrono's range (±262,000 years): the cutoff of an age Glance's checks reject.
        None => "0001-01-01 00:00:00.000000".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_format() {
        assert_eq!(format_utc_micros(0), "1970-01-01 00:00:00.000000");
        assert_eq!(
            format_utc_micros(1_709_251_199_123_456),
            "2024-02-29 23:59:59.123456"
        );
        assert_eq!(format_utc_micros(-1), "1969-12-31 23:59:59.999999");
    }
}
