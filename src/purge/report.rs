//! What a purge is asked to do ([`Options`]), reports while it runs ([`Event`]) and reports at
//! the end ([`Report`], the JSON document of docs/json-output.md).

use serde::Serialize;

use crate::schema::model::Dialect;

use super::graph::Mode;

/// What to purge and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub age_in_days: i64,
    /// `-1`: no limit.
    pub max_rows: i64,
    /// The largest batch, in rows.
    pub batch_size: u64,
    /// The target duration of one batch; sizes move towards it (see [`super::sizer`]).
    pub batch_seconds: f64,
    pub dry_run: bool,
    /// Connections the purge may use at once (`--jobs`; see [`super::lanes`]).
    pub jobs: usize,
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
    /// A batch of `table` failed with a transient error (`code`: deadlock, lock-wait timeout,
    /// busy) and runs again after `wait_ms`.
    Retried {
        table: String,
        code: String,
        attempt: u32,
        wait_ms: u64,
    },
    /// A batch of `table` was too large for a Galera write set (`code` 1180 or 1105): it runs
    /// again with `rows`, and no later batch of the step is larger.
    BatchShrunk {
        table: String,
        code: String,
        rows: u64,
    },
}

/// The statements of a step, as run (values shown as placeholders).
#[derive(Debug, Clone, Serialize)]
pub struct StepSql {
    /// Fixes the window when the step is capped.
    pub window_end: Option<String>,
    /// Reads the last key of the next batch (backends whose DELETE does not return it).
    pub batch_end: Option<String>,
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
    /// Primary-key spans walked at once, each on its own connection (1: not split).
    pub parts: usize,
    /// The largest batch asked for, in rows.
    pub largest_batch: u64,
    /// The longest batch, in seconds (statement and commit).
    pub slowest_batch_seconds: f64,
    /// The batch cap in force when a Galera write-set limit lowered it below `batch_size`.
    pub batch_cap: Option<u64>,
    /// Batches run again after a transient error.
    pub retries: u64,
    /// Batches run again with the guards after failing on a foreign key without them.
    pub guard_fallbacks: u64,
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

#[derive(Debug, Clone, Copy, Serialize)]
pub struct WriteSetLimits {
    pub max_ws_rows: u64,
    pub max_ws_size: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub command: &'static str,
    pub dialect: Dialect,
    pub dry_run: bool,
    pub age_in_days: i64,
    pub max_rows: i64,
    pub batch_size: u64,
    pub batch_seconds: f64,
    /// Connections used at once: `--jobs`, or 1 where steps cannot run at once (SQLite, one
    /// writer at a time; a dry run).
    pub jobs: usize,
    /// Galera's `wsrep_max_ws_rows` and `wsrep_max_ws_size` when set (MySQL/MariaDB).
    pub write_set_limits: Option<WriteSetLimits>,
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
    pub(super) fn summarize(&mut self) {
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
