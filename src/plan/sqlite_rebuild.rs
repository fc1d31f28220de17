//! SQLite's table rebuild, planned: which changes need one, and the table a rebuild creates
//! (the live table after all of the table's changes; the checks it keeps carry the database's
//! own spelling in `Check::written`). The statements are `render::rebuild_table`'s.

use super::step::{Op, Phase, PlannedStep};
use crate::diff::{self, Change};
use crate::schema::model::{Schema, Table};

/// Whether SQLite's `ALTER TABLE` cannot make `c`, so the table must be rebuilt.
pub fn needed(c: &Change) -> bool {
    match c {
        Change::AlterColumn { .. }
        | Change::DropColumn { .. }
        | Change::SetPrimaryKey { .. }
        | Change::AddUnique { .. }
        | Change::DropUnique { .. }
        | Change::AddForeignKey { .. }
        | Change::DropForeignKey { .. }
        | Change::AddCheck { .. }
        | Change::DropCheck { .. } => true,
        // ADD COLUMN cannot add a NOT NULL column without a default, or a key column.
        Change::AddColumn { column, .. } => {
            (!column.nullable && column.default.is_none()) || column.autoincrement
        }
        _ => false,
    }
}

/// The rebuild of live table `from` absorbing `changes` (all of the table's changes).
pub fn step(from: &Table, changes: &[&Change]) -> PlannedStep {
    let table = from.name.clone();
    let absorbed: Vec<Change> = changes
        .iter()
        .filter(|c| {
            !matches!(
                c,
                Change::RenameTable { .. } | Change::CreateTable(_) | Change::DropTable(_)
            )
        })
        .map(|c| (*c).clone())
        .collect();
    let mut scratch = Schema::default();
    scratch.tables.insert(table.clone(), from.clone());
    let mut to = diff::apply_all(&scratch, &absorbed)
        .tables
        .shift_remove(&table)
        .expect("table kept");
    // Column copies follow renames made in this rebuild.
    for c in &absorbed {
        if let Change::RenameColumn {
            from: old, to: new, ..
        } = c
            && let Some(col) = to.column_mut(new)
        {
            col.renamed_from = Some(old.clone());
        }
    }
    let destructive = absorbed.iter().any(Change::is_destructive);
    let descr: Vec<String> = absorbed.iter().map(|c| c.to_string()).collect();
    PlannedStep {
        phase: if destructive {
            Phase::Contract
        } else {
            Phase::Expand
        },
        summary: format!("rebuild table {table} ({})", descr.join("; ")),
        source: format!("tables.{table}"),
        op: Op::RebuildTable {
            from: Box::new(from.clone()),
            to: Box::new(to),
        },
    }
}
