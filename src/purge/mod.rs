//! `db purge` and `db purge_images_table`: remove soft-deleted rows older than a given age,
//! along a delete plan generated from the schema's FK graph (`plan`), in batches (`exec`).
//! The command line (Glance's argument checks, messages, progress bars) is `cli::purge`.
//!
//! Glance's rules (`../shared/glance-reference.md` §1.3, §4): a row is eligible when its
//! `deleted_at` is older than the cutoff (`now - age`, naive UTC, strict `<`; the `deleted` flag
//! is not examined); at most `max_rows` rows per table per run, oldest first (`-1`: no limit,
//! `0`: nothing); `db purge` never touches `images` (OSSN-0075) and `purge_images_table` touches
//! nothing else. Unlike Glance, a purge never fails on a foreign key: rows still referenced are
//! kept and reported, and `purge_images_table` refuses up front, naming the blocking tables.

pub mod exec;
pub mod plan;

use std::time::{SystemTime, UNIX_EPOCH};

pub use exec::{Event, Options, PurgeError, Report, run};
pub use plan::Mode;

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
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{frac:06}",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
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
