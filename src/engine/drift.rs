//! Drift: the live schema against the schema its version rows say it has.

use serde::Serialize;

use super::{EngineError, Live, applied_set, expected};
use crate::diff;
use crate::plan::{self, PlannedStep};
use crate::revisions::RevisionSet;
use crate::schema::model::Schema;

/// What `db drift` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub heads: Vec<String>,
    pub changes: Vec<String>,
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
    let repair = plan::plan(live.dialect, &live.schema, &live.raw, &d.changes)?;
    let mut unsupported = live.unsupported.clone();
    unsupported.extend(d.unsupported);
    Ok(Drift {
        heads,
        changes: d.changes.iter().map(|c| c.to_string()).collect(),
        repair,
        unsupported,
        live_toml: crate::snapshot::schema_to_toml(&sorted(&live.schema)),
        expected_toml: crate::snapshot::schema_to_toml(&sorted(&target)),
    })
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
