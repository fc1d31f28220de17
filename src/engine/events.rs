//! What the runner reports: [`Milestone`]s (the lines Glance prints) and finer [`Event`]s
//! (phases, steps, data-migration batches, retries) for progress and JSON output.

use std::time::Duration;

use serde::Serialize;

use crate::exec::retry::Retried;
use crate::plan::Phase;

/// Something Glance reports to the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "milestone", rename_all = "snake_case")]
pub enum Milestone {
    /// Nothing to do: the contract head (or the named target) is applied.
    UpToDate,
    /// `db expand` or the expand part of `db sync` had nothing to do.
    ExpansionUpToDate,
    /// No data migration had rows to migrate.
    MigrationUpToDate,
    /// Version rows moved to `heads`; `revision` is what was asked for, when Glance names it.
    Upgraded {
        revision: Option<String>,
        heads: Vec<String>,
    },
    /// Data migrations changed this many rows.
    Migrated { rows: u64 },
    /// `db sync` finished.
    Synced,
    /// A legacy (sqlalchemy-migrate) database was found.
    NotUnderAlembic,
    /// The legacy database is being adopted at `revision`.
    PlacingUnderControl { revision: String },
    /// `db version_control` recorded `revision`.
    PlacedUnderControl { revision: String },
}

/// Everything the runner reports, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Milestone(Milestone),
    /// A drop the engine refused to plan: the object is not any revision's.
    LeftAlone {
        object: String,
    },
    PhaseStarted {
        phase: Phase,
    },
    StepApplied {
        phase: Phase,
        summary: String,
        statements: usize,
        elapsed: Duration,
    },
    DataMigrated {
        revision: String,
        name: String,
        rows: u64,
        elapsed: Duration,
    },
    VersionsWritten {
        from: Vec<String>,
        to: Vec<String>,
    },
    /// One batch of a data migration: `rows` changed, `done` so far (of `pending`, when the
    /// step can count what it owes).
    DataBatch {
        revision: String,
        name: String,
        rows: u64,
        done: u64,
        pending: Option<u64>,
        batch_size: u64,
    },
    /// A statement or read was run again after a deadlock, a Galera certification conflict or
    /// a lock wait time-out (`code`: the server's error code).
    Retried {
        what: String,
        code: String,
        attempt: u32,
        delay: Duration,
    },
}

pub(super) fn retried(r: Retried) -> Event {
    Event::Retried {
        what: r.what,
        code: r.code,
        attempt: r.attempt,
        delay: r.delay,
    }
}
