//! Runs a purge plan: batched, keyset-walked, short-transaction deletes; or, for `--dry-run`,
//! the counts the same run would delete.
//!
//! ## How a step walks its table
//!
//! Glance picks, per table, the oldest `max_rows` eligible rows by `deleted_at`. Glance's tables
//! have no index on `deleted_at`, so a cursor on `(deleted_at, pk)` would cost a full scan and a
//! sort per batch. Instead (`purge/step.rs`, `purge/walk.rs`; measurements in
//! `benches/PURGE-DESIGN.md`):
//! 1. A small cap (the cron case, `max_rows` ≤ `--batch-size`): one query reads the window's
//!    keys (`ORDER BY deleted_at, pk LIMIT m`: one scan), the DELETE takes those keys. A larger
//!    cap fixes the *window* instead: the key `(deleted_at, pk)` of the `max_rows`-th eligible
//!    row; rows at or before it are exactly the rows Glance would pick, ties broken by primary
//!    key. No window is needed with `-1` (every eligible row goes).
//! 2. Otherwise the step walks the table in primary-key order, one batch per short transaction,
//!    each starting after the previous batch's last key (no OFFSET, no rescans), sized by time
//!    ([`super::sizer`]: `--batch-seconds`, capped by `--batch-size` and Galera's write-set
//!    limits). One statement per batch where the backend allows it (PostgreSQL: a CTE deleting
//!    by `ctid`, no row locks of its own; MariaDB: `DELETE … ORDER BY pk LIMIT n RETURNING pk`);
//!    SQLite reads the batch end and deletes the range inside one `BEGIN IMMEDIATE`. Memory
//!    stays bounded by the batch cap.
//! 3. A table with a self-referencing FK is walked again until a pass deletes nothing (each pass
//!    removes the current leaves; the guard keeps the rest).
//!
//! Counts come from the statements' `rows_affected`: a row another purge removed meanwhile just
//! counts zero, so two purges at once neither fail nor count a row twice.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::config::{DatabaseOptions, DbUrl};
use crate::engine;
use crate::exec::connection::{Conn, DbError, OpenMode, Value};
use crate::observe::Observer;
use crate::revisions::RevisionSet;
use crate::schema::model::{Dialect, Schema};
use crate::snapshot::Branch;

use super::graph::{self, Mode, PlanError, Step};
use super::lanes::{self, Lane};
use super::report::{Blocked, Event, Options, Report, StepReport, WriteSetLimits};
use super::sizer::Sizer;
use super::sql::{Sql, Window};
use super::step::{Runner, StepError, StepPlan, by_keys, run_step, shown_sql, unguarded};
use super::walk::{self, Form};

#[derive(Debug)]
pub enum PurgeError {
    Plan(PlanError),
    /// A statement failed; `report` holds what was done before (committed).
    Db {
        error: DbError,
        report: Box<Report>,
    },
    /// `purge_images_table` refused: images in range are still referenced.
    Blocked(Box<Report>),
}

impl PurgeError {
    /// A statement failed before any step ran (reading the schema or the server's settings;
    /// `error` says which); the report says so and has deleted nothing.
    fn before_steps(mut report: Report, error: DbError) -> PurgeError {
        report.error = Some(error.message.clone());
        PurgeError::Db {
            error,
            report: Box::new(report),
        }
    }
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

/// Where `--jobs` opens its further connections: the database and session options of the
/// connection the purge was given.
#[derive(Clone, Copy)]
pub struct ConnSource<'a> {
    pub url: &'a DbUrl,
    pub options: &'a DatabaseOptions,
}

/// What every step of one run shares.
struct Env<'a> {
    sql: &'a Sql<'a>,
    steps: &'a [Step],
    live: &'a Schema,
    opts: &'a Options,
    dialect: Dialect,
    mariadb: bool,
    limits: Option<(u64, u64)>,
    /// Each step's window, by step (the dry run predicts a step from the windows before it).
    windows: RefCell<Vec<Window>>,
}

/// A finished step, with the connections it ran on.
struct StepDone<'c> {
    index: usize,
    lanes: Vec<Lane<'c>>,
    report: StepReport,
    blocked: Option<Blocked>,
    result: Result<(), StepError>,
}

/// Runs step `index` on `lanes` (more than one: its walk is split across them).
async fn execute_step<'c>(
    env: &Env<'_>,
    index: usize,
    mut lanes: Vec<Lane<'c>>,
    cap: Option<u64>,
    obs: &RefCell<&mut dyn Observer<Event>>,
) -> StepDone<'c> {
    let step = &env.steps[index];
    let opts = env.opts;
    let mut notify = |e: &Event| obs.borrow_mut().on(e);
    let started = Instant::now();
    let plan = StepPlan {
        cap,
        form: Form::of(env.dialect, env.mariadb, step),
        by_keys: by_keys(step, cap, opts),
        unguarded: unguarded(step, env.live),
    };
    let mut sr = StepReport {
        table: step.table.clone(),
        rule: step.describe(),
        via: step.path.iter().map(|h| h.fk.describe()).collect(),
        deleted: 0,
        skipped: 0,
        referenced_by: Vec::new(),
        batches: 0,
        parts: 1,
        largest_batch: 0,
        slowest_batch_seconds: 0.0,
        batch_cap: None,
        retries: 0,
        guard_fallbacks: 0,
        seconds: 0.0,
        sql: shown_sql(env.sql, step, &plan, opts.batch_size),
    };
    let mut blocked = None;
    let mut sizer = Sizer::new(opts.batch_seconds, opts.batch_size);
    let (first, rest) = lanes
        .split_first_mut()
        .expect("a step runs on a connection");
    let mut runner = Runner {
        conn: first.conn(),
        dialect: env.dialect,
    };
    let mut result = Ok(());
    if let (Some(l), false) = (env.limits, opts.dry_run) {
        match walk::galera_step_cap(runner.conn, &step.table, l).await {
            Ok(Some(c)) => {
                sizer.limit(c);
                if sizer.cap() < opts.batch_size {
                    sr.batch_cap = Some(sizer.cap());
                }
            }
            Ok(None) => {}
            Err(error) => result = Err(StepError::Db(error)),
        }
    }
    if result.is_ok() {
        result = run_step(
            &mut runner,
            rest,
            env.sql,
            step,
            index,
            &plan,
            &mut sizer,
            opts,
            &env.windows,
            &mut sr,
            &mut blocked,
            &mut notify,
        )
        .await;
    }
    sr.seconds = started.elapsed().as_secs_f64();
    StepDone {
        index,
        lanes,
        report: sr,
        blocked,
        result,
    }
}

/// Runs the purge on `conn` (or, with `dry_run`, counts what it would do). With
/// `opts.jobs` > 1, steps that touch no common table run at once, and a step that runs alone
/// splits its walk, on further connections opened from `source` ([`lanes`]).
pub async fn run(
    conn: &mut Conn,
    source: ConnSource<'_>,
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
        batch_seconds: opts.batch_seconds,
        jobs: 1,
        write_set_limits: None,
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
        Err(mut error) => {
            // The schema read's own errors do not say what was being read.
            error.message = format!("reading the schema: {}", error.message);
            return Err(PurgeError::before_steps(report, error));
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
    let mut mariadb = false;
    let mut limits = None;
    if dialect == Dialect::Mysql {
        let version = conn
            .query("SELECT VERSION()")
            .await
            .ok()
            .and_then(|r| r.first().and_then(|r| r.first()).and_then(Value::text))
            .unwrap_or_default();
        mariadb = version.contains("MariaDB");
        match walk::write_set_limits(conn).await {
            Ok(l) => limits = l,
            Err(error) => return Err(PurgeError::before_steps(report, error)),
        }
        report.write_set_limits = limits.map(|(max_ws_rows, max_ws_size)| WriteSetLimits {
            max_ws_rows,
            max_ws_size,
        });
    }
    if let Err(error) = walk::prepare_session(conn).await {
        return Err(PurgeError::before_steps(report, error));
    }
    let jobs = lanes::effective_jobs(opts, dialect);
    report.jobs = jobs;
    let env = Env {
        sql: &sql,
        steps: &steps,
        live: &live.raw,
        opts,
        dialect,
        mariadb,
        limits,
        windows: RefCell::new(vec![Window::All; steps.len()]),
    };
    let waits = lanes::waits_for(&steps);
    let alone = lanes::runs_alone(&waits);
    let shared: RefCell<&mut dyn Observer<Event>> = RefCell::new(obs);
    let notify = |e: &Event| shared.borrow_mut().on(e);

    let mut idle: Vec<Lane> = vec![Lane::Given(conn)];
    let mut opened = 1usize;
    let mut remaining: HashMap<String, Option<u64>> = HashMap::new();
    let mut done: Vec<Option<StepReport>> = vec![None; steps.len()];
    let mut failure: Option<StepError> = None;
    let mut running = FuturesUnordered::new();
    let mut next = 0usize;
    loop {
        // Start steps in the plan's order (Glance's log order), as many at once as lanes allow.
        while failure.is_none()
            && next < steps.len()
            && waits[next].iter().all(|&i| done[i].is_some())
        {
            let cap = *remaining
                .entry(steps[next].table.clone())
                .or_insert(if opts.max_rows < 0 {
                    None
                } else {
                    Some(opts.max_rows as u64)
                });
            // Split only a walk of several batches: a cron-sized cap (at most one batch) would
            // pay a second connection and the split's scan for nothing.
            let want = if alone[next] && cap.is_none_or(|m| m > opts.batch_size) {
                jobs
            } else {
                1
            };
            while idle.len() < want && opened < jobs {
                let mut lane = Conn::connect_with(source.url, OpenMode::Existing, source.options)
                    .await
                    .map(Lane::Opened);
                if let Ok(l) = &mut lane
                    && let Err(e) = walk::prepare_session(l.conn()).await
                {
                    lane = Err(e);
                }
                match lane {
                    Ok(l) => idle.push(l),
                    Err(e) => {
                        // Fewer lanes, same result: go on with the connections there are.
                        report.warnings.push(format!(
                            "could not open connection {} of --jobs {jobs}, going on with {}: {}",
                            opened + 1,
                            opened,
                            e.message
                        ));
                        opened = jobs;
                        break;
                    }
                }
                opened += 1;
            }
            if idle.is_empty() {
                break;
            }
            let take = want.min(idle.len());
            let lanes: Vec<Lane> = idle.drain(idle.len() - take..).collect();
            let step = &steps[next];
            if (next == 0 || steps[next - 1].table != step.table) && !opts.dry_run {
                notify(&Event::TableStarted {
                    table: step.table.clone(),
                });
            }
            running.push(execute_step(&env, next, lanes, cap, &shared));
            next += 1;
        }
        let Some(finished) = running.next().await else {
            break;
        };
        let StepDone {
            index,
            lanes,
            report: sr,
            blocked,
            result,
        } = finished;
        idle.extend(lanes);
        let step = &steps[index];
        if let Some(Some(left)) = remaining.get_mut(&step.table) {
            *left = left.saturating_sub(sr.deleted + sr.skipped);
        }
        if blocked.is_some() {
            report.blocked = blocked;
        }
        done[index] = Some(sr);
        match result {
            Ok(()) => {
                let last_of_table =
                    index + 1 == steps.len() || steps[index + 1].table != step.table;
                if last_of_table && !opts.dry_run {
                    let total: u64 = done
                        .iter()
                        .flatten()
                        .filter(|s| s.table == step.table)
                        .map(|s| s.deleted)
                        .sum();
                    notify(&Event::TableFinished {
                        table: step.table.clone(),
                        deleted: total,
                    });
                }
            }
            // The first failure stops new steps; the running ones finish theirs (each batch
            // is its own transaction, so stopping them halfway would gain nothing).
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    drop(running);
    for lane in idle {
        if let Lane::Opened(c) = lane {
            c.close().await;
        }
    }
    report.steps = done.into_iter().flatten().collect();
    match failure {
        None => {}
        Some(StepError::Db(error)) => {
            report.summarize();
            report.error = Some(error.message.clone());
            return Err(PurgeError::Db {
                error,
                report: Box::new(report),
            });
        }
        Some(StepError::Blocked) => {
            report.summarize();
            return Err(PurgeError::Blocked(Box::new(report)));
        }
    }
    report.summarize();
    Ok(report)
}
