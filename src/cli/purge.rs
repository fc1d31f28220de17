//! `db purge` and `db purge_images_table` on the command line: Glance's argument checks and
//! messages, log lines and progress bars from the purge's events, the summary, plan and JSON
//! report.

use super::args::{PurgeArgs, py_int};
use super::context::{CmdResult, Context, Failure, Message, fail};
use super::output::{json, note, out};
use super::progress::{Display, Progress};
use crate::exec::OpenMode;
use crate::exec::connection::redact;
use crate::observe::Observer;
use indicatif::MultiProgress;

use crate::purge::{
    self, ConnSource, Event, Mode, Options, PURGE_FAILED, PurgeError, Report, now_micros,
};

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

/// Glance's "Purging …" line per table and the progress of its batches, on stderr. The rows
/// deleted per table are results: they go to stdout once, in the summary, not here too.
struct CliObserver {
    age: i64,
    log: bool,
    display: Display,
    /// One per table being purged (several at once with --jobs).
    progress: Vec<Progress>,
    /// Where the bars are drawn together, on a terminal.
    multi: Option<MultiProgress>,
}

impl CliObserver {
    /// A line on stderr, above the bars when there are any.
    fn say(&self, line: &str) {
        match &self.multi {
            Some(m) => m.suspend(|| note(line)),
            None => note(line),
        }
    }

    fn progress_of(&mut self, table: &str) -> Option<&mut Progress> {
        self.progress.iter_mut().find(|p| p.label() == table)
    }
}

impl Observer<Event> for CliObserver {
    fn on(&mut self, event: &Event) {
        match event {
            Event::TableStarted { table } => {
                if self.log {
                    self.say(&format!(
                        "Purging deleted rows older than {} day(s) from table {table}",
                        self.age
                    ));
                }
                let p = Progress::start_in(self.multi.as_ref(), self.display, table.clone(), None);
                self.progress.push(p);
            }
            Event::Deleted { table, rows } => {
                if let Some(p) = self.progress_of(table) {
                    p.advance(*rows);
                }
            }
            Event::TableFinished { table, .. } => {
                if let Some(i) = self.progress.iter().position(|p| p.label() == table) {
                    self.progress.remove(i).finish();
                }
            }
            Event::Retried {
                table,
                code,
                attempt,
                wait_ms,
            } => {
                if self.log {
                    self.say(&format!(
                        "glance-manage: retrying a batch of table {table} after error {code} (attempt {attempt}, in {wait_ms} ms)"
                    ));
                }
            }
            Event::BatchShrunk { table, code, rows } => {
                if self.log {
                    self.say(&format!(
                        "glance-manage: a batch of table {table} exceeded the Galera write-set limit (error {code}): batches of at most {rows} row(s) from now on"
                    ));
                }
            }
        }
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
        "Purge plan ({}; dry run, nothing is deleted): rows with deleted_at < '{}' (UTC, {} day(s) ago), {cap}, batches of about {} s and at most {} row(s); schema of {}",
        report.command,
        report.cutoff,
        report.age_in_days,
        report.batch_seconds,
        report.batch_size,
        report.schema_from
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
        if let Some(end) = &s.sql.batch_end {
            out(&format!("   batch end: {end}"));
        }
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
        let live = t.rows - t.purgeable;
        let what = match (t.purgeable, live) {
            (_, 0) => "soft-deleted, `db purge` removes them".to_string(),
            (0, _) => "not soft-deleted".to_string(),
            (p, l) => format!("{p} soft-deleted (`db purge` removes them), {l} not"),
        };
        msg.push_str(&format!("\n  {}: {} row(s), {what}", t.table, t.rows));
    }
    msg.push_str("\nNothing was deleted.");
    msg
}

/// What to do about referenced images, matching the cause: soft-deleted children go with
/// `db purge`; live ones (e.g. members of a deleted image) do not.
fn blocked_help(report: &Report) -> String {
    let tables = report
        .blocked
        .as_ref()
        .map(|b| b.tables.as_slice())
        .unwrap_or_default();
    let mut help = Vec::new();
    if tables.iter().any(|t| t.purgeable > 0) {
        help.push(format!(
            "run `glance-manage db purge --age_in_days {} --max_rows -1` first to remove the soft-deleted rows",
            report.age_in_days
        ));
    }
    let live: Vec<&str> = tables
        .iter()
        .filter(|t| t.rows > t.purgeable)
        .map(|t| t.table.as_str())
        .collect();
    if !live.is_empty() {
        help.push(format!(
            "`db purge` does not remove rows that are not soft-deleted ({}): delete them (e.g. remove the members of the deleted images) first",
            live.join(", ")
        ));
    }
    help.push("or pass --skip-referenced to purge only the unreferenced images".into());
    help.join("; ")
}

/// `db purge` (`images_table` false) and `db purge_images_table` (true).
pub async fn purge(ctx: &Context, args: &PurgeArgs, images_table: bool) -> CmdResult {
    if args.skip_referenced && !images_table {
        return Err(fail(
            "--skip-referenced applies to `db purge_images_table` only",
            Some("`db purge` never fails on references: it keeps referenced rows and reports them"),
        )
        .with_code(2));
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
        batch_seconds: args.batch_seconds,
        jobs: args.jobs as usize,
        dry_run: args.dry_run,
        skip_referenced: args.skip_referenced,
    };
    let mut conn = ctx.connect(OpenMode::Existing).await?;
    let display = Display::for_stderr(ctx.json || args.dry_run);
    let mut obs = CliObserver {
        age,
        log: !ctx.json,
        display,
        progress: Vec::new(),
        multi: matches!(display, Display::Bar).then(MultiProgress::new),
    };
    let source = ConnSource {
        url: &ctx.url,
        options: &ctx.db_options,
    };
    let result = purge::run(&mut conn, source, &ctx.revisions, &opts, now, &mut obs).await;
    for p in obs.progress.drain(..) {
        p.finish();
    }
    conn.close().await;
    let report = match result {
        Ok(r) => r,
        Err(PurgeError::Plan(e)) => return Err(Failure::from(e)),
        Err(PurgeError::Blocked(report)) => {
            if ctx.json {
                json(&report);
            }
            return Err(fail(blocked_message(&report), Some(&blocked_help(&report))));
        }
        Err(PurgeError::Db { error, report }) => {
            if ctx.json {
                json(&report);
            } else if !report.dry_run {
                print_summary(&report);
            }
            // Each message names what failed: the table, or what was read before any step.
            let detail = redact(&error.message, &ctx.url);
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
        note(&format!("glance-manage: warning: {w}"));
    }
    if ctx.json {
        json(&report);
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
            Some(&blocked_help(&report)),
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
