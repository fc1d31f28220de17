//! One step of a purge: fix the window (capped runs), refuse for `purge_images_table` while
//! images in range are referenced, count (dry run) or delete — by the window's keys when the cap
//! is small (the cron case: one scan of the table), otherwise by the batched walk of
//! [`super::walk`] — and count the rows the guard kept.

use std::cell::RefCell;

use futures_util::future::join_all;

use crate::exec::connection::{Conn, DbError, Value};
use crate::observe::Observer;
use crate::schema::model::{Dialect, Schema};

use super::graph::{Fk, Mode, Step};
use super::lanes::Lane;
use super::report::{Blocked, BlockingTable, Event, Options, StepReport, StepSql};
use super::sizer::Sizer;
use super::sql::{Key, Span, Sql, Window, sql_value};
use super::walk::{Form, Part, Walker};

/// Rows per statement when counting a window's leftover keys.
const COUNT_CHUNK: usize = 10_000;

pub(super) struct Runner<'a> {
    pub conn: &'a mut Conn,
    pub dialect: Dialect,
}

impl Runner<'_> {
    async fn rows(&mut self, sql: &str, table: &str) -> Result<Vec<Vec<Value>>, DbError> {
        self.conn
            .query(sql)
            .await
            .map_err(|e| DbError::statement(&format!("reading table {table}"), e))
    }

    async fn row(&mut self, sql: &str, table: &str) -> Result<Option<Vec<Value>>, DbError> {
        Ok(self.rows(sql, table).await?.into_iter().next())
    }

    async fn count(&mut self, sql: &str, table: &str) -> Result<u64, DbError> {
        self.conn
            .query_i64(sql)
            .await
            .map(|n| n.unwrap_or(0).max(0) as u64)
            .map_err(|e| DbError::statement(&format!("counting rows of table {table}"), e))
    }

    fn key(&self, row: &[Value], numeric: &[bool]) -> Key {
        row.iter()
            .zip(numeric)
            .map(|(v, n)| sql_value(self.dialect, v, *n))
            .collect()
    }
}

/// How a step runs, decided before it starts.
pub(super) struct StepPlan {
    /// Rows of the table this step may still take (`None`: no limit).
    pub cap: Option<u64>,
    pub form: Form,
    /// Delete by the window's keys, read once (cron: a small cap).
    pub by_keys: bool,
    /// The step without the guards the live database enforces itself, when it has any.
    pub unguarded: Option<Step>,
}

/// The step without the guards that duplicate a foreign key the live database enforces (our
/// SQLite connection runs with `foreign_keys=ON`; PostgreSQL and MariaDB always check them):
/// such a guard does the FK check's probes a second time for every row. A batch that then
/// hits a referenced row fails whole on the FK and is run again with the guards, which the
/// step keeps from then on (see [`Walker::walk`]). Guards for FKs only the snapshot declares
/// stay: nothing else protects those rows. `None` when nothing can be left out, and for a
/// self-referencing table, whose passes rely on the guard to take the leaves first.
pub(super) fn unguarded(step: &Step, live: &Schema) -> Option<Step> {
    if step.guards.is_empty() || step.self_referencing {
        return None;
    }
    let enforced = |g: &Fk| {
        live.table(&g.table).is_some_and(|t| {
            t.foreign_keys.iter().any(|fk| {
                fk.ref_table == g.ref_table
                    && fk.columns == g.columns
                    && fk.ref_columns == g.ref_columns
            })
        })
    };
    let kept: Vec<Fk> = step
        .guards
        .iter()
        .filter(|g| !enforced(g))
        .cloned()
        .collect();
    (kept.len() < step.guards.len()).then(|| Step {
        guards: kept,
        ..step.clone()
    })
}

/// Whether a capped step reads its window as keys and deletes those: when the cap fits in one
/// batch's worth of keys (memory stays bounded by `--batch-size`), for `db purge` (whose
/// refusal-free steps need no window key) on tables without a self-reference (whose passes
/// need the window as a range).
pub(super) fn by_keys(step: &Step, cap: Option<u64>, opts: &Options) -> bool {
    matches!(cap, Some(m) if m > 0 && m <= opts.batch_size)
        && !opts.dry_run
        && opts.mode == Mode::Purge
        && !step.self_referencing
}

fn placeholders(names: &[String], prefix: &str) -> Key {
    names
        .iter()
        .map(|n| format!(":{prefix}{}", n.replace('.', "_")))
        .collect()
}

/// The step's statements as the report and the dry run show them (values as placeholders).
pub(super) fn shown_sql(sql: &Sql<'_>, step: &Step, plan: &StepPlan, batch: u64) -> StepSql {
    if plan.by_keys {
        let m = plan.cap.unwrap_or(0);
        let key = placeholders(&step.pk, "key_");
        return StepSql {
            window_end: Some(sql.window_keys(step, m)),
            batch_end: None,
            delete: sql.delete_keys(step, std::slice::from_ref(&key)).replace(
                &format!("IN ({})", key.join(", ")),
                &format!("IN ({}, …)", key.join(", ")),
            ),
        };
    }
    let window = plan
        .cap
        .map(|_| placeholders(&step.window_key_names(), "window_end_"));
    let last = placeholders(&step.pk, "last_");
    let span = Span {
        after: Some(&last),
        until: None,
    };
    let n = batch;
    let (batch_end, delete) = match plan.form {
        Form::Postgres => (None, sql.pg_batch(step, window.as_ref(), span, n)),
        Form::MariaDb => (
            None,
            sql.mariadb_batch(step, window.as_ref(), span, n)
                .unwrap_or_default(),
        ),
        Form::SqliteTx | Form::Pair => (
            Some(sql.batch_end(step, window.as_ref(), span, n)),
            sql.delete(
                step,
                window.as_ref(),
                Some(&last),
                &placeholders(&step.pk, "batch_end_"),
                n,
            ),
        ),
    };
    StepSql {
        window_end: plan.cap.map(|m| sql.window_end(step, m as i64)),
        batch_end,
        delete,
    }
}

pub(super) enum StepError {
    Db(DbError),
    Blocked,
}

impl From<DbError> for StepError {
    fn from(e: DbError) -> StepError {
        StepError::Db(e)
    }
}

/// Runs one step on `runner`'s connection; `rest` are further connections its walk may be
/// split across (empty: one walk).
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_step(
    runner: &mut Runner<'_>,
    rest: &mut [Lane<'_>],
    sql: &Sql<'_>,
    step: &Step,
    index: usize,
    plan: &StepPlan,
    sizer: &mut Sizer,
    opts: &Options,
    windows: &RefCell<Vec<Window>>,
    sr: &mut StepReport,
    blocked: &mut Option<Blocked>,
    obs: &mut dyn Observer<Event>,
) -> Result<(), StepError> {
    let table = step.table.as_str();
    if plan.by_keys {
        windows.borrow_mut()[index] = Window::All;
        return by_keys_step(runner, sql, step, plan, sizer, sr, obs).await;
    }
    // 1. The window: which eligible rows this run may take.
    let window = match plan.cap {
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
    windows.borrow_mut()[index] = window.clone();
    if window == Window::Nothing {
        return Ok(());
    }
    let w = window.key();

    // 2. purge_images_table: refuse while images in range are still referenced. The cheap
    //    question first (one referenced row?); the per-table counts only for the message.
    if opts.mode == Mode::ImagesTable {
        let probe = match sql.any_referenced(step, w) {
            Some(q) => runner.row(&q, table).await?.is_some(),
            None => false,
        };
        if probe {
            refuse_or_note(runner, sql, step, w, opts, sr, blocked).await?;
            if !opts.skip_referenced {
                // The real run refuses and deletes nothing: so does the dry run's prediction.
                windows.borrow_mut()[index] = Window::Nothing;
                return if opts.dry_run {
                    Ok(())
                } else {
                    Err(StepError::Blocked)
                };
            }
        }
    }

    // 3. Dry run: count what the run would delete.
    if opts.dry_run {
        let predicted = sql.count_predicted(index, &windows.borrow());
        let would = runner.count(&predicted, table).await?;
        let eligible = runner.count(&sql.count_eligible(step, w), table).await?;
        sr.deleted = would;
        sr.skipped = eligible.saturating_sub(would);
        return Ok(());
    }

    // 4. Walk the table by primary key, one batch per short transaction; split into spans
    //    walked at once when the step has further connections.
    let guarded = if rest.is_empty() {
        let mut walker = Walker {
            conn: &mut *runner.conn,
            sql,
            form: plan.form,
            part: Part::default(),
        };
        let g = walker
            .walk(step, plan.unguarded.as_ref(), w, sizer, sr, obs)
            .await?;
        !g.guards.is_empty()
    } else {
        walk_parts(runner, rest, sql, step, plan, w, sizer, sr, obs).await?
    };

    // 5. Rows of the window still there were kept by the guard: name the tables that really
    //    reference them. A walk that never needed the live-enforced guards deleted every row it
    //    met, so only the guards it kept can have held rows back.
    if guarded {
        sr.skipped = runner.count(&sql.count_eligible(step, w), table).await?;
        name_referencing(runner, sql, step, w, opts.mode, sr).await?;
    }
    Ok(())
}

/// The tables whose rows reference the rows the step kept.
async fn name_referencing(
    runner: &mut Runner<'_>,
    sql: &Sql<'_>,
    step: &Step,
    w: Option<&Key>,
    mode: Mode,
    sr: &mut StepReport,
) -> Result<(), DbError> {
    if sr.skipped == 0 || mode == Mode::ImagesTable {
        return Ok(());
    }
    let mut by = Vec::new();
    for b in sql.blocking_rows(step, w) {
        if !by.contains(&b.fk.table) && runner.count(&b.rows, &b.fk.table).await? > 0 {
            by.push(b.fk.table.clone());
        }
    }
    if step.self_referencing {
        by.push(step.table.clone());
    }
    sr.referenced_by = by;
    Ok(())
}

/// Counts what blocks `purge_images_table` (per referencing table) into the report; without
/// `--skip-referenced` the step then deletes nothing.
async fn refuse_or_note(
    runner: &mut Runner<'_>,
    sql: &Sql<'_>,
    step: &Step,
    w: Option<&Key>,
    opts: &Options,
    sr: &mut StepReport,
    blocked: &mut Option<Blocked>,
) -> Result<(), DbError> {
    let mut blocking: Vec<BlockingTable> = Vec::new();
    for b in sql.blocking_rows(step, w) {
        let rows = runner.count(&b.rows, &b.fk.table).await?;
        if rows == 0 {
            continue;
        }
        let purgeable = match &b.purgeable {
            Some(q) => runner.count(q, &b.fk.table).await?,
            None => 0,
        };
        match blocking.iter_mut().find(|t| t.table == b.fk.table) {
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
        Some(q) => runner.count(&q, &step.table).await?,
        None => 0,
    };
    sr.referenced_by = blocking.iter().map(|t| t.table.clone()).collect();
    *blocked = Some(Blocked {
        images: referenced,
        tables: blocking,
    });
    if !opts.skip_referenced {
        sr.skipped = referenced;
    }
    Ok(())
}

/// The cron case: read the window's keys once (one scan, a top-m sort), delete those keys in
/// batches of the controller's size, then count the keys the guard kept (key probes; exact even
/// when another purge took some of the window meanwhile).
async fn by_keys_step(
    runner: &mut Runner<'_>,
    sql: &Sql<'_>,
    step: &Step,
    plan: &StepPlan,
    sizer: &mut Sizer,
    sr: &mut StepReport,
    obs: &mut dyn Observer<Event>,
) -> Result<(), StepError> {
    let table = step.table.as_str();
    let m = plan.cap.unwrap_or(0);
    let rows = runner.rows(&sql.window_keys(step, m), table).await?;
    let keys: Vec<Key> = rows
        .iter()
        .map(|r| runner.key(r, &step.pk_numeric))
        .collect();
    drop(rows);
    if keys.is_empty() {
        return Ok(());
    }
    let mut walker = Walker {
        conn: &mut *runner.conn,
        sql,
        form: plan.form,
        part: Part::default(),
    };
    walker.delete_keys(step, &keys, sizer, sr, obs).await?;
    if !step.guards.is_empty() {
        let mut kept = 0;
        for chunk in keys.chunks(COUNT_CHUNK) {
            kept += runner.count(&sql.count_keys(step, chunk), table).await?;
        }
        sr.skipped = kept;
        // The window as a range, for naming the referencing tables: its last key in Glance's
        // order is the m-th row's, which window_end reads (only when rows were kept).
        if kept > 0 {
            let w = runner
                .row(&sql.window_end(step, m as i64), table)
                .await?
                .map(|row| runner.key(&row, &step.window_key_numeric()));
            name_referencing(runner, sql, step, w.as_ref(), Mode::Purge, sr).await?;
        }
    }
    Ok(())
}

/// The walk split into spans of about equal eligible rows ([`Sql::split_keys`]), one per
/// connection, walked at once; each span has its own batch sizer (each connection its own
/// time target). Returns whether any span ended with the guards in force.
#[allow(clippy::too_many_arguments)]
async fn walk_parts(
    runner: &mut Runner<'_>,
    rest: &mut [Lane<'_>],
    sql: &Sql<'_>,
    step: &Step,
    plan: &StepPlan,
    w: Option<&Key>,
    sizer: &Sizer,
    sr: &mut StepReport,
    obs: &mut dyn Observer<Event>,
) -> Result<bool, DbError> {
    let parts = rest.len() as u64 + 1;
    let cuts: Vec<Key> = match sql.split_keys(step, w, parts) {
        Some(q) => runner
            .rows(&q, &step.table)
            .await?
            .iter()
            .take(parts as usize - 1)
            .filter(|r| r.first().is_some_and(|v| !v.is_null()))
            .map(|r| runner.key(r, &step.pk_numeric))
            .collect(),
        None => Vec::new(),
    };
    let mut spans = Vec::with_capacity(cuts.len() + 1);
    let mut after = None;
    for cut in &cuts {
        spans.push(Part {
            after: after.clone(),
            until: Some(cut.clone()),
        });
        after = Some(cut.clone());
    }
    spans.push(Part { after, until: None });

    let shared = RefCell::new(obs);
    let conns = std::iter::once(&mut *runner.conn).chain(rest.iter_mut().map(Lane::conn));
    let walks = spans.into_iter().zip(conns).map(|(part, conn)| {
        let shared = &shared;
        let mut psr = StepReport {
            deleted: 0,
            batches: 0,
            retries: 0,
            guard_fallbacks: 0,
            ..sr.clone()
        };
        let mut psizer = sizer.clone();
        async move {
            let mut notify = |e: &Event| shared.borrow_mut().on(e);
            let mut walker = Walker {
                conn,
                sql,
                form: plan.form,
                part,
            };
            let guarded = walker
                .walk(
                    step,
                    plan.unguarded.as_ref(),
                    w,
                    &mut psizer,
                    &mut psr,
                    &mut notify,
                )
                .await
                .map(|g| !g.guards.is_empty());
            (guarded, psr)
        }
    });
    let results = join_all(walks).await;
    sr.parts = results.len();
    let mut guarded = false;
    let mut first_error = None;
    for (g, psr) in results {
        sr.deleted += psr.deleted;
        sr.batches += psr.batches;
        sr.retries += psr.retries;
        sr.guard_fallbacks += psr.guard_fallbacks;
        sr.largest_batch = sr.largest_batch.max(psr.largest_batch);
        sr.slowest_batch_seconds = sr.slowest_batch_seconds.max(psr.slowest_batch_seconds);
        sr.batch_cap = match (sr.batch_cap, psr.batch_cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match g {
            Ok(g) => guarded |= g,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(guarded),
    }
}
