//! Drift: the live schema against the schema its version rows say it has.

use serde::Serialize;

use super::upgrade::KnownObjects;
use super::{EngineError, Live, applied_set, expected};
use crate::diff::{self, Change};
use crate::plan::{self, PlannedStep};
use crate::revisions::RevisionSet;
use crate::schema::model::Schema;

/// What `db drift` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub heads: Vec<String>,
    /// Differences from the snapshot that the repair fixes.
    pub changes: Vec<String>,
    /// Objects in the live schema that no revision declares (another application's, or added
    /// by hand): reported, never dropped by the repair (nor by `db sync`).
    pub unmanaged: Vec<String>,
    /// The repair, as steps.
    pub repair: Vec<PlannedStep>,
    pub unsupported: Vec<String>,
    /// Normalized schemas as TOML, for the unified diff.
    #[serde(skip)]
    pub live_toml: String,
    #[serde(skip)]
    pub expected_toml: String,
}

pub fn drift(revs: &RevisionSet, live: &Live) -> Result<Drift, EngineError> {
    let heads = live.heads();
    let applied = applied_set(revs, &heads)?;
    let target = expected(revs, &applied, live.dialect);
    let d = diff::diff(&live.schema, &target);
    let known = KnownObjects::collect(revs, live.dialect);
    let (managed, unmanaged): (Vec<Change>, Vec<Change>) =
        d.changes.into_iter().partition(|c| known.declared(c));
    let repair = plan::plan(live.dialect, &live.schema, &live.raw, &managed)?;
    let mut unsupported = live.unsupported.clone();
    unsupported.extend(d.unsupported);
    Ok(Drift {
        heads,
        changes: managed.iter().map(|c| c.to_string()).collect(),
        unmanaged: unmanaged.iter().map(unmanaged_object).collect(),
        repair,
        unsupported,
        live_toml: crate::snapshot::schema_to_toml(&sorted(&live.schema)),
        expected_toml: crate::snapshot::schema_to_toml(&sorted(&target)),
    })
}

/// The object an unmanaged drop would have removed, as an operator names it.
fn unmanaged_object(c: &Change) -> String {
    let constraint = |kind: &str, table: &str, name: &Option<String>| match name {
        Some(n) => format!("{kind} {n} on table {table}"),
        None => format!("an unnamed {kind} on table {table}"),
    };
    match c {
        Change::DropTable(t) => format!("table {}", t.name),
        Change::DropColumn { table, column } => format!("column {table}.{}", column.name),
        Change::DropIndex { table, index } => format!("index {} on table {table}", index.name),
        Change::DropForeignKey { table, fk } => constraint("foreign key", table, &fk.name),
        Change::DropUnique { table, unique } => {
            constraint("unique constraint", table, &unique.name)
        }
        Change::DropCheck { table, check } => constraint("check constraint", table, &check.name),
        Change::DropEnum(e) => format!("enum type {}", e.name),
        Change::DropTrigger(t) => format!("trigger {} on table {}", t.name, t.table),
        other => other.to_string(),
    }
}

/// Tables (and enum types) in name order, so a unified diff shows real differences only.
fn sorted(schema: &Schema) -> Schema {
    let mut s = schema.clone();
    s.tables.sort_keys();
    s.enums.sort_keys();
    s
}

/// Checks that the live schema is the schema of `revision` before it is stamped or adopted.
/// Unless `strict`, what legacy databases and stamping may legitimately differ in is
/// tolerated: constraint and index names and extra indexes. Returns the differences, one
/// `  - change` line each, when tables or columns differ.
pub fn schema_matches(
    revs: &RevisionSet,
    live: &Live,
    revision: &str,
    strict: bool,
) -> Result<(), String> {
    use crate::diff::Change;
    let expected = expected(revs, &revs.closure(revision), live.dialect);
    let d = diff::diff(&live.schema, &expected);
    let serious: Vec<String> = d
        .changes
        .iter()
        .filter(|c| {
            strict
                || matches!(
                    c,
                    Change::CreateTable(_)
                        | Change::DropTable(_)
                        | Change::AddColumn { .. }
                        | Change::DropColumn { .. }
                        | Change::AlterColumn { .. }
                        | Change::RenameTable { .. }
                        | Change::RenameColumn { .. }
                )
        })
        .map(|c| format!("  - {c}"))
        .collect();
    if serious.is_empty() {
        Ok(())
    } else {
        Err(serious.join("\n"))
    }
}
