//! Runs a purge plan: batched, keyset-walked, short-transaction deletes; or, for `--dry-run`,
//! the counts the same run would delete.
//!
//! ## How a step walks its table
//!
//! Glance picks, per table, the oldest `max_rows` eligible rows by `deleted_at`. Glance's tables
//! have no index on `deleted_at`, so a cursor on `(deleted_at, pk)` would cost a full scan and a
//! sort per batch. Instead:
//! 1. When capped, one query fixes the *window*: the key `(deleted_at, pk)` of the `max_rows`-th
//!    eligible row in Glance's order (`ORDER BY deleted_at, pk LIMIT m`, read back as its
//!    largest key only). Rows at or before that key are exactly the rows Glance would pick,
//!    ties broken by primary key. No window is needed with `-1` (every eligible row goes).
//! 2. The step then walks the table in primary-key order (the PK index), a batch at a time:
//!    `SELECT MAX(pk) FROM (SELECT pk … WHERE pk > :last AND <eligible> ORDER BY pk LIMIT n)`
//!    reads one key — the end of the next batch — and the DELETE removes the eligible,
//!    unreferenced rows with `:last < pk <= :batch_end`. Each batch starts where the last ended
//!    (no OFFSET, no rescans from the table start) and rows never travel to the client, so
//!    memory stays flat. Each DELETE is one statement in autocommit: a short transaction that
//!    holds its row locks for one batch only.
//! 3. A table with a self-referencing FK is walked again until a pass deletes nothing (each pass
//!    removes the current leaves; the guard keeps the rest).
//!
//! Counts come from the statements' `rows_affected`: a row another purge removed meanwhile just
//! counts zero, so two purges at once neither fail nor count a row twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine;
use crate::exec::connection::{Conn, DbError, Value};
use crate::observe::Observer;
use crate::revisions::RevisionSet;
use crate::schema::model::{Dialect, Schema};
use crate::snapshot::Branch;

use super::graph::{self, Mode, PlanError, Step};
use super::sql::{Key, Sql, Window};

/// What to purge and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub age_in_days: i64,
    /// `-1`: no limit.
    pub max_rows: i64,
    pub batch_size: u64,
    pub dry_run: bool,
    /// `purge_images_table`: purge the unreferenced images and keep the others, instead of
    /// refusing.
    pub skip_referenced: bool,
}

/// What a purge reports while it runs (not in a dry run, which deletes nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The purge starts deleting from `table`.
    TableStarted { table: String },
    /// A batch deleted `rows` rows of `table`.
    Deleted { table: String, rows: u64 },
    /// The purge is done with `table`, which lost `deleted` rows in all.
    TableFinished { table: String, deleted: u64 },
}

/// The statements of a step, as run (values shown as placeholders).
#[derive(Debug, Clone, Serialize)]
pub struct StepSql {
    /// Fixes the window when the step is capped.
    pub window_end: Option<String>,
    /// Reads the last key of the next batch.
    pub batch_end: String,
    pub delete: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub table: String,
    /// What makes a row eligible.
    pub rule: String,
    /// For a dependent step: the FK path up to the soft-deleted table.
    pub via: Vec<String>,
    /// Rows deleted (dry run: rows the run would delete).
    pub deleted: u64,
    /// Eligible rows in the window kept because other rows still reference them.
    pub skipped: u64,
    /// Tables whose rows reference the rows this step kept (empty when none were kept).
    pub referenced_by: Vec<String>,
    pub batches: u64,
    pub seconds: f64,
    pub sql: StepSql,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    pub table: String,
    pub deleted: u64,
    pub skipped: u64,
}

/// Soft-deleted images `purge_images_table` cannot remove yet.
#[derive(Debug, Clone, Serialize)]
pub struct Blocked {
    /// Images in range still referenced.
    pub images: u64,
    /// Referencing table → rows pointing at those images.
    pub tables: Vec<BlockingTable>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlockingTable {
    pub table: String,
    pub rows: u64,
    /// Of `rows`, those soft-deleted before the cutoff: `db purge` (same age or less) removes
    /// them. The others are live (or deleted more recently) and stay until removed otherwise.
    pub purgeable: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub command: &'static str,
    pub dialect: Dialect,
    pub dry_run: bool,
    pub age_in_days: i64,
    pub max_rows: i64,
    pub batch_size: u64,
    /// `deleted_at < cutoff` (naive UTC), taken once at start.
    pub cutoff: String,
    /// The revision(s) whose snapshot the plan was generated from.
    pub schema_from: String,
    pub steps: Vec<StepReport>,
    pub tables: Vec<TableSummary>,
    pub total_deleted: u64,
    pub blocked: Option<Blocked>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

impl Report {
    fn summarize(&mut self) {
        let mut tables: Vec<TableSummary> = Vec::new();
        for s in &self.steps {
            match tables.iter_mut().find(|t| t.table == s.table) {
                Some(t) => {
                    t.deleted += s.deleted;
                    t.skipped += s.skipped;
                }
                None => tables.push(TableSummary {
                    table: s.table.clone(),
                    deleted: s.deleted,
                    skipped: s.skipped,
                }),
            }
        }
        self.total_deleted = tables.iter().map(|t| t.deleted).sum();
        self.tables = tables;
    }
}

#[derive(Debug)]
pub enum PurgeError {
    Plan(PlanError),
    /// A statement failed; `report` holds what was done before (committed).
    Db {
        table: Option<String>,
        error: DbError,
        report: Box<Report>,
    },
    /// `purge_images_table` refused: images in range are still referenced.
    Blocked(Box<Report>),
}

/// The cutoff `now - age` as Glance binds it: naive UTC with microseconds.
pub fn cutoff(now_micros: i64, age_in_days: i64) -> String {
    super::format_utc_micros(now_micros - age_in_days * 86_400 * 1_000_000)
}

/// The snapshot the plan is generated from: the schema of the database's recorded revision(s),
/// or the head's when the database records none or revisions this history does not know.
pub fn target_schema(
    revs: &RevisionSet,
    heads: &[String],
    dialect: Dialect,
) -> (Schema, String, Option<String>) {
    if !heads.is_empty() && heads.iter().all(|h| revs.contains(h)) {
        let applied = revs.applied_from_heads(heads.iter().map(String::as_str));
        return (
            revs.expected_schema(&applied, dialect),
            heads.join(", "),
            None,
        );
    }
    let head = revs
        .branch_head(Branch::Contract)
        .map(str::to_string)
        .or_else(|| revs.heads().first().map(|h| h.to_string()))
        .unwrap_or_default();
    let schema = revs
        .get(&head)
        .map(|s| s.schema.resolve(dialect))
        .unwrap_or_default();
    let warning = if heads.is_empty() {
        None
    } else {
        Some(format!(
            "the database is at revision(s) {}, which this tool does not know; the purge plan \
             follows the schema of {head}",
            heads.join(", ")
        ))
    };
    (schema, head, warning)
}

fn sql_value(dialect: Dialect, v: &Value, numeric: bool) -> String {
    match v {
        Value::Int(i) if numeric => i.to_string(),
        Value::Int(i) => crate::sql::literal(dialect, &i.to_string()),
        Value::Text(s) if numeric && s.parse::<i64>().is_ok() => s.clone(),
        Value::Text(s) => crate::sql::literal(dialect, s),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Value::Null => "NULL".to_string(),
    }
}

fn placeholders(names: &[String], prefix: &str) -> Key {
    names
        .iter()
        .map(|n| format!(":{prefix}{}", n.replace('.', "_")))
        .collect()
}

/// Whether a failed batch is worth running again (deadlock, serialization failure, busy).
fn retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.to_string()).unwrap_or_default();
            matches!(
                code.as_str(),
                "40001" | "40P01" | "1213" | "1205" | "5" | "6" | "517"
            ) || d.message().contains("Deadlock found")
        }
        _ => false,
    }
}

struct Runner<'a> {
    conn: &'a mut Conn,
    dialect: Dialect,
}

impl Runner<'_> {
    async fn row(&mut self, sql: &str, table: &str) -> Result<Option<Vec<Value>>, DbError> {
        self.conn
            .query(sql)
            .await
            .map(|rows| rows.into_iter().next())
            .map_err(|e| DbError::statement(&format!("reading table {table}"), e))
    }

    async fn count(&mut self, sql: &str, table: &str) -> Result<u64, DbError> {
        self.conn
            .query_i64(sql)
            .await
            .map(|n| n.unwrap_or(0).max(0) as u64)
            .map_err(|e| DbError::statement(&format!("counting rows of table {table}"), e))
    }

    async fn delete(&mut self, sql: &str, table: &str) -> Result<u64, DbError> {
        let mut attempt = 0;
        loop {
            match self.conn.execute(sql).await {
                Ok(n) => return Ok(n),
                Err(e) if retryable(&e) && attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                Err(e) => {
                    return Err(DbError::statement(
                        &format!("deleting from table {table}"),
                        e,
                    ));
                }
            }
        }
    }

    fn key(&self, row: &[Value], numeric: &[bool]) -> Key {
        row.iter()
            .zip(numeric)
            .map(|(v, n)| sql_value(self.dialect, v, *n))
            .collect()
    }
}

/// Runs the purge on `conn` (or, with `dry_run`, counts what it would do).
pub async fn run(
    conn: &mut Conn,
    revs: &RevisionSet,
    opts: &Options,
    now_micros: i64,
    obs: &mut dyn Observer<Event>,
) -> Result<Report, PurgeError> {
    let dialect = conn.dialect();
    let cutoff_text = cutoff(now_micros, opts.age_in_days);
    let mut report = Report {
        command: match opts.mode {
            Mode::Purge => "purge",
            Mode::ImagesTable => "purge_images_table",
        },
        dialect,
        dry_run: opts.dry_run,
        age_in_days: opts.age_in_days,
        max_rows: opts.max_rows,
        batch_size: opts.batch_size,
        cutoff: cutoff_text.clone(),
        schema_from: String::new(),
        steps: vec![],
        tables: vec![],
        total_deleted: 0,
        blocked: None,
        error: None,
        warnings: vec![],
    };
    let live = match engine::read_live(conn).await {
        Ok(l) => l,
        Err(error) => {
            report.error = Some(error.message.clone());
            return Err(PurgeError::Db {
                table: None,
                error,
                report: Box::new(report),
            });
        }
    };
    let (target, from, warning) = target_schema(revs, &live.heads(), dialect);
    report.schema_from = from;
    report.warnings.extend(warning);
    let steps = graph::build(&live.raw, &target, opts.mode).map_err(PurgeError::Plan)?;
    if steps.is_empty() {
        report.warnings.push(
            "no soft-deleted table (one with a deleted_at column) in this database: nothing to purge"
                .into(),
        );
    }
    let sql = Sql {
        dialect,
        cutoff: crate::sql::literal(dialect, &cutoff_text),
        steps: &steps,
    };
    let mut runner = Runner { conn, dialect };
    let mut windows: Vec<Window> = Vec::new();
    let mut remaining: HashMap<String, Option<u64>> = HashMap::new();

    for (i, step) in steps.iter().enumerate() {
        let first_of_table = i == 0 || steps[i - 1].table != step.table;
        let last_of_table = i + 1 == steps.len() || steps[i + 1].table != step.table;
        if first_of_table && !opts.dry_run {
            obs.on(&Event::TableStarted {
                table: step.table.clone(),
            });
        }
        let cap = *remaining
            .entry(step.table.clone())
            .or_insert(if opts.max_rows < 0 {
                None
            } else {
                Some(opts.max_rows as u64)
            });
        let started = Instant::now();
        let mut sr = StepReport {
            table: step.table.clone(),
            rule: step.describe(),
            via: step.path.iter().map(|h| h.fk.describe()).collect(),
            deleted: 0,
            skipped: 0,
            referenced_by: Vec::new(),
            batches: 0,
            seconds: 0.0,
            sql: StepSql {
                window_end: cap.map(|m| sql.window_end(step, m as i64)),
                batch_end: String::new(),
                delete: String::new(),
            },
        };
        let wph = placeholders(&step.window_key_names(), "window_end_");
        let shown_window = cap.map(|_| wph.clone());
        let pk_names: Vec<String> = step.pk.clone();
        sr.sql.batch_end = sql.batch_end(
            step,
            shown_window.as_ref(),
            Some(&placeholders(&pk_names, "last_")),
            opts.batch_size,
        );
        sr.sql.delete = sql.delete(
            step,
            shown_window.as_ref(),
            Some(&placeholders(&pk_names, "last_")),
            &placeholders(&pk_names, "batch_end_"),
            opts.batch_size,
        );

        let result = run_step(
            &mut runner,
            &sql,
            step,
            i,
            cap,
            opts,
            &mut windows,
            &mut sr,
            &mut report,
            obs,
        )
        .await;
        sr.seconds = started.elapsed().as_secs_f64();
        if let Some(Some(left)) = remaining.get_mut(&step.table) {
            *left = left.saturating_sub(sr.deleted + sr.skipped);
        }
        report.steps.push(sr);
        match result {
            Ok(()) => {}
            Err(StepError::Db(error)) => {
                report.summarize();
                report.error = Some(error.message.clone());
                return Err(PurgeError::Db {
                    table: Some(step.table.clone()),
                    error,
                    report: Box::new(report),
                });
            }
            Err(StepError::Blocked) => {
                report.summarize();
                return Err(PurgeError::Blocked(Box::new(report)));
            }
        }
        if last_of_table && !opts.dry_run {
            let total: u64 = report
                .steps
                .iter()
                .filter(|s| s.table == step.table)
                .map(|s| s.deleted)
                .sum();
            obs.on(&Event::TableFinished {
                table: step.table.clone(),
                deleted: total,
            });
        }
    }
    report.summarize();
    Ok(report)
}

enum StepError {
    Db(DbError),
    Blocked,
}

impl From<DbError> for StepError {
    fn from(e: DbError) -> StepError {
        StepError::Db(e)
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_step(
    runner: &mut Runner<'_>,
    sql: &Sql<'_>,
    step: &Step,
    index: usize,
    cap: Option<u64>,
    opts: &Options,
    windows: &mut Vec<Window>,
    sr: &mut StepReport,
    report: &mut Report,
    obs: &mut dyn Observer<Event>,
) -> Result<(), StepError> {
    let table = step.table.as_str();
    // 1. The window: which eligible rows this run may take.
    let window = match cap {
        Some(0) => Window::Nothing,
        None => Window::All,
        Some(m) => {
            // A large cap is usually above the eligible count: one COUNT is cheaper than
            // sorting every eligible row to find the m-th.
            let uncapped =
                m > 10_000 && runner.count(&sql.count_eligible(step, None), table).await? <= m;
            if uncapped {
                Window::All
            } else {
                match runner.row(&sql.window_end(step, m as i64), table).await? {
                    None => Window::Nothing,
                    Some(row) => Window::UpTo(runner.key(&row, &step.window_key_numeric())),
                }
            }
        }
    };
    windows.push(window.clone());
    if window == Window::Nothing {
        return Ok(());
    }
    let w = window.key();

    // 2. purge_images_table: refuse while images in range are still referenced.
    if opts.mode == Mode::ImagesTable {
        let mut blocking = Vec::new();
        for b in sql.blocking_rows(step, w) {
            let rows = runner.count(&b.rows, &b.fk.table).await?;
            if rows == 0 {
                continue;
            }
            let purgeable = match &b.purgeable {
                Some(q) => runner.count(q, &b.fk.table).await?,
                None => 0,
            };
            match blocking
                .iter_mut()
                .find(|t: &&mut BlockingTable| t.table == b.fk.table)
            {
                Some(t) => {
                    t.rows += rows;
                    t.purgeable += purgeable;
                }
                None => blocking.push(BlockingTable {
                    table: b.fk.table.clone(),
                    rows,
                    purgeable,
                }),
            }
        }
        let referenced = match sql.count_referenced(step, w) {
            Some(q) => runner.count(&q, table).await?,
            None => 0,
        };
        if referenced > 0 {
            sr.referenced_by = blocking.iter().map(|t| t.table.clone()).collect();
            report.blocked = Some(Blocked {
                images: referenced,
                tables: blocking,
            });
            if !opts.skip_referenced {
                sr.skipped = referenced;
                if opts.dry_run {
                    // The real run would refuse and delete nothing.
                    *windows.last_mut().expect("pushed") = Window::Nothing;
                    return Ok(());
                }
                return Err(StepError::Blocked);
            }
        }
    }

    // 3. Dry run: count what the run would delete.
    if opts.dry_run {
        let would = runner
            .count(&sql.count_predicted(index, windows), table)
            .await?;
        let eligible = runner.count(&sql.count_eligible(step, w), table).await?;
        sr.deleted = would;
        sr.skipped = eligible.saturating_sub(would);
        return Ok(());
    }

    // 4. Walk the table by primary key, one batch per short transaction.
    loop {
        let mut after: Option<Key> = None;
        let mut pass_deleted = 0u64;
        loop {
            let end = sql.batch_end(step, w, after.as_ref(), opts.batch_size);
            let Some(row) = runner.row(&end, table).await? else {
                break;
            };
            let upto = runner.key(&row, &step.pk_numeric);
            let del = sql.delete(step, w, after.as_ref(), &upto, opts.batch_size);
            let n = runner.delete(&del, table).await?;
            sr.batches += 1;
            pass_deleted += n;
            sr.deleted += n;
            if n > 0 {
                obs.on(&Event::Deleted {
                    table: table.to_string(),
                    rows: n,
                });
            }
            after = Some(upto);
        }
        // Self-referencing rows: each pass removes the current leaves.
        if !step.self_referencing || pass_deleted == 0 {
            break;
        }
    }
    // 5. Rows of the window still there were kept by the guard: name the tables that really
    //    reference them.
    if !step.guards.is_empty() {
        sr.skipped = runner.count(&sql.count_eligible(step, w), table).await?;
        if sr.skipped > 0 && opts.mode != Mode::ImagesTable {
            let mut by = Vec::new();
            for b in sql.blocking_rows(step, w) {
                if !by.contains(&b.fk.table) && runner.count(&b.rows, &b.fk.table).await? > 0 {
                    by.push(b.fk.table.clone());
                }
            }
            if step.self_referencing {
                by.push(table.to_string());
            }
            sr.referenced_by = by;
        }
    }
    Ok(())
}
