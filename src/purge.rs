//! `db purge` and `db purge_images_table`: remove soft-deleted rows older than a given age,
//! along a delete plan generated from the schema's FK graph (`plan`), in batches (`exec`).
//!
//! Glance's rules (`../shared/glance-reference.md` §1.3, §4): a row is eligible when its
//! `deleted_at` is older than the cutoff (`now - age`, naive UTC, strict `<`; the `deleted` flag
//! is not examined); at most `max_rows` rows per table per run, oldest first (`-1`: no limit,
//! `0`: nothing); `db purge` never touches `images` (OSSN-0075) and `purge_images_table` touches
//! nothing else. Unlike Glance, a purge never fails on a foreign key: rows still referenced are
//! kept and reported, and `purge_images_table` refuses up front, naming the blocking tables.

pub mod exec;
pub mod plan;

use std::io::{IsTerminal, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::commands::{CmdResult, Context, Failure, Message, fail};
use crate::exec::connection::{Conn, OpenMode, redact};
use exec::{Observer, Options, PurgeError, Report};
use plan::Mode;

/// Glance's message when the purge fails on the database.
pub const PURGE_FAILED: &str = "Purge command failed, check glance-manage logs for more details.";

/// Arguments of `db purge` and `db purge_images_table`. Like Glance, the values are accepted as
/// options or positionally (`db purge 10 50`); positional values are validated as Glance does.
#[derive(Debug, Clone, Args)]
pub struct PurgeArgs {
    /// Age in days (positional form of --age_in_days).
    #[arg(value_name = "AGE_IN_DAYS", allow_negative_numbers = true)]
    pub age_in_days_pos: Option<String>,
    /// Maximal rows per table (positional form of --max_rows).
    #[arg(value_name = "MAX_ROWS", allow_negative_numbers = true)]
    pub max_rows_pos: Option<String>,
    /// Purge rows soft-deleted more than N days ago [default: 30; purge_images_table: 180].
    #[arg(
        long = "age_in_days",
        value_name = "N",
        value_parser = parse_int_option,
        allow_negative_numbers = true,
        conflicts_with = "age_in_days_pos"
    )]
    pub age_in_days: Option<i128>,
    /// At most M rows per table per run, oldest first; -1 for no limit [default: 100].
    #[arg(
        long = "max_rows",
        value_name = "M",
        value_parser = parse_int_option,
        allow_negative_numbers = true,
        conflicts_with = "max_rows_pos"
    )]
    pub max_rows: Option<i128>,
    /// Print the plan (tables in order, SQL, rows each step would delete); change nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Rows per DELETE statement (each batch is its own short transaction).
    #[arg(long = "batch-size", value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// purge_images_table only: purge the unreferenced images and keep the referenced ones,
    /// instead of refusing.
    #[arg(long = "skip-referenced")]
    pub skip_referenced: bool,
}

/// Python's `int(str)` for base 10: surrounding whitespace, a sign, digits with single
/// underscores between them. Values beyond i128 saturate (they fail the range checks anyway).
pub fn py_int(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let mut v: i128 = 0;
    for c in digits.chars().filter(|c| *c != '_') {
        v = v
            .saturating_mul(10)
            .saturating_add(i128::from(c as u8 - b'0'));
    }
    Some(if neg { -v } else { v })
}

fn parse_int_option(s: &str) -> Result<i128, String> {
    py_int(s).ok_or_else(|| format!("invalid int value: '{s}'"))
}

/// A value as given: from an option (already an integer) or positionally (a string).
#[derive(Debug, Clone)]
pub enum RawValue {
    Int(i128),
    Str(String),
}

/// Glance's `_purge` validation, in Glance's order and with its messages (`sys.exit(msg)`:
/// stderr, exit 1). `now_secs` is `int(time.time())`.
pub fn validate(age: &RawValue, max_rows: &RawValue, now_secs: u64) -> Result<(i64, i64), String> {
    let age = match age {
        RawValue::Int(v) => *v,
        RawValue::Str(s) => {
            py_int(s).ok_or_else(|| format!("Invalid int value for age_in_days: {s}"))?
        }
    };
    let max_rows = match max_rows {
        RawValue::Int(v) => *v,
        RawValue::Str(s) => {
            py_int(s).ok_or_else(|| format!("Invalid int value for max_rows: {s}"))?
        }
    };
    if age < 0 {
        return Err("Must supply a non-negative value for age.".into());
    }
    // Python: age_in_days >= int(time.time()) / 86400 (true division).
    if age as f64 >= now_secs as f64 / 86400.0 {
        return Err("Maximal age is count of days since epoch.".into());
    }
    if max_rows < -1 {
        return Err("Minimal rows limit is -1.".into());
    }
    if max_rows > i128::from(i32::MAX) {
        return Err("'max_rows' value out of range, must not exceed 2147483647.".into());
    }
    Ok((age as i64, max_rows as i64))
}

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

/// Log lines (Glance's, on stderr) and, on a terminal, a progress bar per table.
struct CliObserver {
    age: i64,
    log: bool,
    bars: bool,
    bar: Option<ProgressBar>,
}

impl Observer for CliObserver {
    fn table_start(&mut self, table: &str) {
        if self.log {
            crate::commands::note(&format!(
                "Purging deleted rows older than {} day(s) from table {table}",
                self.age
            ));
        }
        if self.bars {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix} {spinner} {human_pos} row(s) deleted, {per_sec}, {elapsed}",
            ) {
                bar.set_style(style);
            }
            bar.set_prefix(table.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            self.bar = Some(bar);
        }
    }

    fn deleted(&mut self, _table: &str, rows: u64) {
        if let Some(b) = &self.bar {
            b.inc(rows);
        }
    }

    fn table_done(&mut self, table: &str, deleted: u64) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if self.log {
            crate::commands::note(&format!("Deleted {deleted} row(s) from table {table}"));
        }
    }
}

fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{text}");
}

fn print_json(report: &Report) {
    match serde_json::to_string_pretty(report) {
        Ok(s) => out(&s),
        Err(e) => crate::commands::note(&format!("glance-manage: cannot encode the report: {e}")),
    }
}

fn print_summary(report: &Report) {
    let verb = if report.dry_run {
        "Would delete"
    } else {
        "Deleted"
    };
    for t in &report.tables {
        out(&format!(
            "{verb} {} row(s) from table {}",
            t.deleted, t.table
        ));
        if t.skipped > 0 {
            let by: Vec<String> = report
                .steps
                .iter()
                .filter(|s| s.table == t.table)
                .flat_map(|s| s.referenced_by.iter().cloned())
                .collect();
            let mut by = by;
            by.sort();
            by.dedup();
            out(&format!(
                "Kept {} row(s) of table {} that rows of {} still reference",
                t.skipped,
                t.table,
                by.join(", ")
            ));
        }
    }
}

fn print_plan(report: &Report) {
    let cap = if report.max_rows < 0 {
        "no row limit".to_string()
    } else {
        format!("at most {} row(s) per table", report.max_rows)
    };
    out(&format!(
        "Purge plan ({}; dry run, nothing is deleted): rows with deleted_at < '{}' (UTC, {} day(s) ago), {cap}, batches of {}; schema of {}",
        report.command, report.cutoff, report.age_in_days, report.batch_size, report.schema_from
    ));
    for (i, s) in report.steps.iter().enumerate() {
        out(&format!("{}. {}: {}", i + 1, s.table, s.rule));
        let mut line = format!("   would delete {} row(s)", s.deleted);
        if s.skipped > 0 {
            line.push_str(&format!(
                ", keep {} still referenced by {}",
                s.skipped,
                s.referenced_by.join(", ")
            ));
        }
        out(&line);
        if let Some(w) = &s.sql.window_end {
            out(&format!("   window:    {w}"));
        }
        out(&format!("   batch end: {}", s.sql.batch_end));
        out(&format!("   delete:    {}", s.sql.delete));
    }
}

fn blocked_message(report: &Report) -> String {
    let b = report.blocked.as_ref();
    let images = b.map(|b| b.images).unwrap_or(0);
    let mut msg = format!(
        "Cannot purge the images table: {images} soft-deleted image(s) older than {} day(s) are still referenced by rows in other tables:",
        report.age_in_days
    );
    for t in b.map(|b| b.tables.as_slice()).unwrap_or_default() {
        msg.push_str(&format!("\n  {}: {} row(s)", t.table, t.rows));
    }
    msg.push_str("\nNothing was deleted.");
    msg
}

/// `db purge` (`images_table` false) and `db purge_images_table` (true).
pub async fn purge_command(ctx: &Context, args: &PurgeArgs, images_table: bool) -> CmdResult {
    if args.skip_referenced && !images_table {
        return Err(Failure {
            code: 2,
            ..fail(
                "--skip-referenced applies to `db purge_images_table` only",
                Some(
                    "`db purge` never fails on references: it keeps referenced rows and reports them",
                ),
            )
        });
    }
    let default_age = if images_table { 180 } else { 30 };
    let age = match (&args.age_in_days, &args.age_in_days_pos) {
        (Some(v), _) => RawValue::Int(*v),
        (None, Some(s)) => RawValue::Str(s.clone()),
        (None, None) => RawValue::Int(default_age),
    };
    let max_rows = match (&args.max_rows, &args.max_rows_pos) {
        (Some(v), _) => RawValue::Int(*v),
        (None, Some(s)) => RawValue::Str(s.clone()),
        (None, None) => RawValue::Int(100),
    };
    let now = now_micros();
    let (age, max_rows) =
        validate(&age, &max_rows, (now / 1_000_000).max(0) as u64).map_err(|m| fail(m, None))?;
    let opts = Options {
        mode: if images_table {
            Mode::ImagesTable
        } else {
            Mode::Purge
        },
        age_in_days: age,
        max_rows,
        batch_size: args.batch_size,
        dry_run: args.dry_run,
        skip_referenced: args.skip_referenced,
    };
    let mut conn = Conn::connect(&ctx.url, OpenMode::Existing).await?;
    let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let mut obs = CliObserver {
        age,
        log: !ctx.json,
        bars: terminal && !ctx.json,
        bar: None,
    };
    let result = exec::run(&mut conn, &ctx.revisions, &opts, now, &mut obs).await;
    if let Some(bar) = obs.bar.take() {
        bar.finish_and_clear();
    }
    conn.close().await;
    let report = match result {
        Ok(r) => r,
        Err(PurgeError::Plan(e)) => return Err(Failure::from(e)),
        Err(PurgeError::Blocked(report)) => {
            if ctx.json {
                print_json(&report);
            }
            return Err(fail(
                blocked_message(&report),
                Some(
                    "run `glance-manage db purge` first (with the same --age_in_days or less, and --max_rows -1) \
                     to remove the soft-deleted child rows, or pass --skip-referenced to purge only the unreferenced images",
                ),
            ));
        }
        Err(PurgeError::Db {
            table,
            error,
            report,
        }) => {
            if ctx.json {
                print_json(&report);
            } else if !report.dry_run {
                print_summary(&report);
            }
            let detail = match table {
                Some(_) => redact(&error.message, &ctx.url),
                None => redact(&format!("reading the schema: {}", error.message), &ctx.url),
            };
            return Err(Failure::from(Message {
                message: format!("{PURGE_FAILED}\n{detail}"),
                help: Some(
                    "the rows counted above were deleted and committed (one transaction per batch); run the command again once the cause is fixed"
                        .into(),
                ),
            }));
        }
    };
    for w in &report.warnings {
        crate::commands::note(&format!("glance-manage: warning: {w}"));
    }
    if ctx.json {
        print_json(&report);
    } else if report.dry_run {
        print_plan(&report);
        print_summary(&report);
    } else {
        print_summary(&report);
    }
    if report.dry_run && report.blocked.is_some() && !opts.skip_referenced {
        return Err(fail(
            blocked_message(&report).replace(
                "Nothing was deleted.",
                "A real run would refuse and delete nothing.",
            ),
            Some("run `glance-manage db purge` first, or pass --skip-referenced"),
        ));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int() {
        assert_eq!(py_int("10"), Some(10));
        assert_eq!(py_int(" -3 "), Some(-3));
        assert_eq!(py_int("+007"), Some(7));
        assert_eq!(py_int("1_000"), Some(1000));
        for bad in ["", "abc", "1.5", "1__0", "_1", "1_", "-", "0x10", "1e3"] {
            assert_eq!(py_int(bad), None, "{bad}");
        }
        assert_eq!(py_int("9".repeat(60).as_str()), Some(i128::MAX));
    }

    #[test]
    fn utc_format() {
        assert_eq!(format_utc_micros(0), "1970-01-01 00:00:00.000000");
        assert_eq!(
            format_utc_micros(1_709_251_199_123_456),
            "2024-02-29 23:59:59.123456"
        );
        assert_eq!(format_utc_micros(-1), "1969-12-31 23:59:59.999999");
    }

    #[test]
    fn glance_validation_order() {
        let now = 1_700_000_000;
        let s = |v: &str| RawValue::Str(v.into());
        let i = RawValue::Int;
        assert_eq!(
            validate(&s("abcd"), &s("x"), now).unwrap_err(),
            "Invalid int value for age_in_days: abcd"
        );
        assert_eq!(
            validate(&i(1), &s("abcd"), now).unwrap_err(),
            "Invalid int value for max_rows: abcd"
        );
        assert_eq!(
            validate(&s("-1"), &i(-5), now).unwrap_err(),
            "Must supply a non-negative value for age."
        );
        assert_eq!(
            validate(&i(19676), &i(1), now).unwrap_err(),
            "Maximal age is count of days since epoch."
        );
        assert!(validate(&i(19675), &i(1), now).is_ok());
        assert_eq!(
            validate(&i(1), &i(-2), now).unwrap_err(),
            "Minimal rows limit is -1."
        );
        assert_eq!(
            validate(&i(1), &i(1 << 31), now).unwrap_err(),
            "'max_rows' value out of range, must not exceed 2147483647."
        );
        assert_eq!(validate(&i(1), &i((1 << 31) - 1), now), Ok((1, 2147483647)));
        assert_eq!(validate(&i(0), &i(-1), now), Ok((0, -1)));
    }
}
