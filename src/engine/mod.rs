//! Puts the pieces together: reads the live database (schema + version rows), works out what
//! a target revision needs ([`upgrade`]), compares a database with its recorded revision
//! ([`drift`](mod@drift)), and runs the expand → migrate → contract phases ([`runner`]).
//!
//! Drops are only planned for objects that some revision declared: a table or column no
//! snapshot ever knew (another application's, an operator's) is left alone and reported.

mod data_run;
pub mod drift;
mod events;
pub mod policy;
pub mod refusal;
pub mod rolling;
pub mod runner;
pub mod target;
pub mod upgrade;
pub mod verify;

use std::collections::BTreeSet;

use crate::exec::connection::{Conn, DbError};
use crate::exec::retry::{Retried, RetryPolicy};
use crate::exec::version_table::{self, ALEMBIC_VERSION, MIGRATE_VERSION};
use crate::introspect;
use crate::normalize::normalize;
use crate::plan::PlanError;
use crate::revisions::RevisionSet;
use crate::schema::model::{Dialect, Schema};
use crate::sql::quote;

pub use crate::exec::version_table::is_bookkeeping;
pub use drift::{Drift, drift};
pub use target::current_id;
pub use upgrade::{
    DataStep, ScriptView, UpgradePlan, active_migrations, all_steps, needs_contract, plan_upgrade,
    plan_upgrade_to,
};

/// The live database as the engine sees it.
#[derive(Debug, Clone)]
pub struct Live {
    pub dialect: Dialect,
    /// As introspected (real constraint names), bookkeeping tables removed.
    pub raw: Schema,
    /// Normalized for comparison.
    pub schema: Schema,
    /// Rows of `alembic_version`; None when the table does not exist.
    pub version_rows: Option<Vec<String>>,
    /// Whether a legacy `migrate_version` table exists.
    pub has_legacy_table: bool,
    pub unsupported: Vec<String>,
    /// Introspection queries issued.
    pub queries: usize,
    /// Whether any table holds a row. Only read when there are no version rows: it decides
    /// whether an unversioned database can be planned straight to the target (no rows, nothing
    /// to migrate — a fresh database, or one whose first sync was interrupted).
    pub has_rows: bool,
}

impl Live {
    /// A database with nothing in it (a SQLite file not created yet).
    pub fn empty(dialect: Dialect) -> Live {
        Live {
            dialect,
            raw: Schema::default(),
            schema: Schema::default(),
            version_rows: None,
            has_legacy_table: false,
            unsupported: vec![],
            queries: 0,
            has_rows: false,
        }
    }

    pub fn heads(&self) -> Vec<String> {
        self.version_rows.clone().unwrap_or_default()
    }
}

/// Reads the live database in one consistent snapshot where the backend has one
/// ([`Conn::begin_snapshot`]), so a schema changing under a reader cannot be seen half-built;
/// a read aborted by a deadlock or a Galera conflict is read again.
pub async fn read_live(conn: &mut Conn) -> Result<Live, DbError> {
    read_live_reporting(conn, &mut |_| {}).await
}

/// [`read_live`], telling `on_retry` about each retry.
pub async fn read_live_reporting(
    conn: &mut Conn,
    on_retry: &mut dyn FnMut(&Retried),
) -> Result<Live, DbError> {
    RetryPolicy::default()
        .run("reading the schema", on_retry, async || {
            let opened = conn
                .begin_snapshot()
                .await
                .map_err(|e| DbError::statement("cannot start a consistent read", e))?;
            let live = read_live_once(conn).await;
            conn.end_snapshot(opened).await;
            live
        })
        .await
}

async fn read_live_once(conn: &mut Conn) -> Result<Live, DbError> {
    let dialect = conn.dialect();
    let intro = introspect::introspect(conn).await?;
    let mut raw = intro.schema;
    let has_version = raw.tables.contains_key(ALEMBIC_VERSION);
    let has_legacy_table = raw.tables.contains_key(MIGRATE_VERSION);
    raw.tables.retain(|name, _| !is_bookkeeping(name));
    let mut queries = intro.queries;
    let version_rows = if has_version {
        queries += 1;
        Some(version_table::rows(conn).await?)
    } else {
        None
    };
    let has_rows = if version_rows.as_ref().is_none_or(Vec::is_empty) && !raw.tables.is_empty() {
        queries += 1;
        any_rows(conn, raw.tables.keys()).await?
    } else {
        false
    };
    let schema = normalize(&raw, dialect);
    Ok(Live {
        dialect,
        raw,
        schema,
        version_rows,
        has_legacy_table,
        unsupported: intro.unsupported,
        queries,
        has_rows,
    })
}

/// One query: does any of `tables` hold at least one row? (LIMIT 1 per table: no scans.)
async fn any_rows<'a>(
    conn: &mut Conn,
    tables: impl Iterator<Item = &'a String>,
) -> Result<bool, DbError> {
    let d = conn.dialect();
    let probes: Vec<String> = tables
        .enumerate()
        .map(|(i, t)| {
            format!(
                "SELECT 1 AS x FROM (SELECT 1 AS y FROM {} LIMIT 1) p{i}",
                quote(d, t)
            )
        })
        .collect();
    let sql = format!(
        "SELECT COUNT(*) FROM ({}) probes",
        probes.join(" UNION ALL ")
    );
    let n = conn
        .query_i64(&sql)
        .await
        .map_err(|e| DbError::statement("cannot check the tables for rows", e))?;
    Ok(n.unwrap_or(0) > 0)
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EngineError {
    #[error("unknown revision `{name}`")]
    #[diagnostic(help("{suggestions}"))]
    UnknownRevision { name: String, suggestions: String },
    #[error("the database is at revision(s) {heads}, which this tool does not know")]
    #[diagnostic(help(
        "the database was upgraded by a newer release, or --revisions points at the wrong history"
    ))]
    UnknownHeads { heads: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Db(#[from] DbError),
}

/// The applied set implied by version rows; errors when a row names an unknown revision.
pub fn applied_set(revs: &RevisionSet, heads: &[String]) -> Result<BTreeSet<String>, EngineError> {
    let heads: Vec<String> = heads.iter().map(|h| current_id(h).to_string()).collect();
    let unknown: Vec<&String> = heads.iter().filter(|h| !revs.contains(h)).collect();
    if !unknown.is_empty() {
        return Err(EngineError::UnknownHeads {
            heads: unknown
                .iter()
                .map(|h| format!("`{h}`"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(revs.applied_from_heads(heads.iter().map(String::as_str)))
}

/// The normalized schema expected after exactly `applied`.
pub fn expected(revs: &RevisionSet, applied: &BTreeSet<String>, dialect: Dialect) -> Schema {
    normalize(&revs.expected_schema(applied, dialect), dialect)
}
