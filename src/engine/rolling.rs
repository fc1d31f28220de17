//! Where a database stands in the rolling upgrade, without changing it: what `db check`
//! answers, the rows data migrations still owe, and the plan `db plan` shows (legacy databases
//! planned from the revision `db sync` would adopt them at).

use std::collections::BTreeSet;

use super::refusal::{Refusal, legacy_revision};
use super::target::{Target, current_id};
use super::{
    EngineError, Live, UpgradePlan, active_migrations, applied_set, plan_upgrade_to, read_live,
};
use crate::exec::connection::{Conn, DbError};
use crate::exec::version_table;
use crate::revisions::RevisionSet;
use crate::schema::model::Dialect;
use crate::snapshot::Branch;

use super::upgrade::DataStep;

/// The next step of the rolling upgrade (`db check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    UpToDate,
    NeedsExpand,
    NeedsMigrate,
    NeedsContract,
}

/// A data migration that still has rows to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMigration {
    pub revision: String,
    pub name: String,
    pub rows: i64,
}

/// Where the database stands: `db check`'s answer and what lies behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub status: Status,
    /// Revisions not applied yet, in walk order, with their branch.
    pub unapplied: Vec<(String, Option<Branch>)>,
    /// Active data migrations with rows still to change.
    pub migrations: Vec<PendingMigration>,
}

/// What `db check` answers for a database with these version rows. `conn` is None for a
/// SQLite file that does not exist yet (nothing applied, nothing pending).
pub async fn status(
    conn: Option<&mut Conn>,
    revs: &RevisionSet,
    heads: &[String],
    dialect: Dialect,
) -> Result<Status, DbError> {
    Ok(report(conn, revs, heads, dialect).await?.status)
}

/// [`status`] with the unapplied revisions and the pending data migrations behind it.
pub async fn report(
    conn: Option<&mut Conn>,
    revs: &RevisionSet,
    heads: &[String],
    dialect: Dialect,
) -> Result<Report, DbError> {
    // Unknown (newer) revisions: like Glance, the expand step is what is missing.
    let known: Vec<String> = heads
        .iter()
        .map(|h| current_id(h).to_string())
        .filter(|h| revs.contains(h))
        .collect();
    let applied = revs.applied_from_heads(known.iter().map(String::as_str));
    let unapplied: Vec<(String, Option<Branch>)> = revs
        .walk_order()
        .into_iter()
        .filter(|r| !applied.contains(*r))
        .map(|r| (r.to_string(), revs.meta(r).and_then(|m| m.branch)))
        .collect();
    // Every head counts, not only the contract head: a new expand head is work to do even
    // when the contract head is applied (for Glance's history, where the contract head
    // depends on the expand head, this is Glance's own answer).
    let expand_pending = unapplied.iter().any(|(_, b)| *b != Some(Branch::Contract));
    let mut migrations = Vec::new();
    if let Some(conn) = conn
        && !expand_pending
        && !unapplied.is_empty()
    {
        for step in active_migrations(revs, &applied, dialect) {
            let rows = pending_of(conn, &step).await?;
            if rows > 0 {
                migrations.push(PendingMigration {
                    revision: step.revision.clone(),
                    name: step.name.clone(),
                    rows,
                });
            }
        }
    }
    let status = if unapplied.is_empty() {
        Status::UpToDate
    } else if expand_pending {
        Status::NeedsExpand
    } else if !migrations.is_empty() {
        Status::NeedsMigrate
    } else {
        Status::NeedsContract
    };
    Ok(Report {
        status,
        unapplied,
        migrations,
    })
}

/// Rows still waiting for a data migration among `steps` (steps without a `pending` query
/// count as nothing pending).
pub async fn pending_rows(conn: &mut Conn, steps: &[DataStep]) -> Result<i64, DbError> {
    let mut total = 0;
    for s in steps {
        total += pending_of(conn, s).await?;
    }
    Ok(total)
}

/// Rows one data step still has to migrate (0 without a `pending` query).
pub async fn pending_of(conn: &mut Conn, step: &DataStep) -> Result<i64, DbError> {
    let Some(q) = &step.pending else {
        return Ok(0);
    };
    let n = conn.query_i64(q).await.map_err(|e| {
        DbError::statement(
            &format!("pending-row check of data migration {} failed", step.name),
            e,
        )
    })?;
    Ok(n.unwrap_or(0))
}

/// Why a preview could not be made.
#[derive(Debug)]
pub enum PreviewError {
    Refused(Refusal),
    Engine(EngineError),
}

impl From<EngineError> for PreviewError {
    fn from(e: EngineError) -> Self {
        PreviewError::Engine(e)
    }
}

impl From<DbError> for PreviewError {
    fn from(e: DbError) -> Self {
        PreviewError::Engine(EngineError::Db(e))
    }
}

/// The plan `db upgrade target` would run, for display (`db plan`). `conn` is None for a
/// SQLite file that does not exist yet. Data migrations of revisions already applied are only
/// listed while rows still need them.
pub async fn preview(
    conn: Option<&mut Conn>,
    revs: &RevisionSet,
    target: &Target,
) -> Result<UpgradePlan, PreviewError> {
    let Some(conn) = conn else {
        let live = Live::empty(Dialect::Sqlite);
        return Ok(plan_upgrade_to(revs, &live, &target.revisions)?);
    };
    let mut live = read_live(conn).await?;
    // A legacy database is planned from the revision `db sync` would adopt it at.
    if live.heads().is_empty()
        && live.has_legacy_table
        && let Some(v) = version_table::legacy_version(conn).await?
    {
        let rev = legacy_revision(v).map_err(PreviewError::Refused)?;
        live.version_rows = Some(vec![rev.to_string()]);
    }
    let mut p = plan_upgrade_to(revs, &live, &target.revisions)?;
    if !p.migrate.is_empty() || !p.deferred.is_empty() {
        let applied: BTreeSet<String> = applied_set(revs, &live.heads())?;
        p.migrate = still_owed(conn, &applied, std::mem::take(&mut p.migrate)).await?;
        p.deferred = still_owed(conn, &applied, std::mem::take(&mut p.deferred)).await?;
    }
    Ok(p)
}

/// The steps of revisions not applied yet, and those of applied ones that still find rows.
async fn still_owed(
    conn: &mut Conn,
    applied: &BTreeSet<String>,
    steps: Vec<DataStep>,
) -> Result<Vec<DataStep>, DbError> {
    let mut keep = Vec::new();
    for step in steps {
        if !applied.contains(&step.revision) || pending_of(conn, &step).await? > 0 {
            keep.push(step);
        }
    }
    Ok(keep)
}
