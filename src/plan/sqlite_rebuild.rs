//! SQLite's table rebuild, planned: which changes need one, and the table a rebuild creates
//! (the live table after all of the table's changes; the checks it keeps carry the database's
//! own spelling in `Check::written`), and the statements that do it.

use super::render;
use super::step::{Op, Phase, PlannedStep};
use crate::diff::{self, Change};
use crate::schema::model::{Dialect, Schema, Table};
use crate::sql::quote;

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

/// The name of the temporary table a SQLite rebuild creates.
pub fn rebuild_temp_name(table: &str) -> String {
    format!("_gm_rebuild_{table}")
}

/// SQLite's table rebuild (its documented 12-step procedure, minus the parts the executor does
/// around it: `PRAGMA foreign_keys=OFF` before the transaction and `PRAGMA foreign_key_check`
/// before COMMIT). Creates the target table under a temporary name, copies the columns both
/// definitions share (following rename hints), drops the old table, renames the new one, and
/// recreates the target's indexes.
pub fn statements(from: &Table, to: &Table) -> Vec<String> {
    let d = Dialect::Sqlite;
    let tmp = rebuild_temp_name(&to.name);
    let mut out = vec![render::create_table_as(d, to, &tmp, &to.foreign_keys)];
    let mut dst = Vec::new();
    let mut src = Vec::new();
    for c in &to.columns {
        let source = if from.has_column(&c.name) {
            Some(c.name.clone())
        } else {
            c.renamed_from.clone().filter(|r| from.has_column(r))
        };
        if let Some(s) = source {
            dst.push(quote(d, &c.name));
            src.push(quote(d, &s));
        }
    }
    if !dst.is_empty() {
        out.push(format!(
            "INSERT INTO {} ({}) SELECT {} FROM {}",
            quote(d, &tmp),
            dst.join(", "),
            src.join(", "),
            quote(d, &from.name)
        ));
    }
    out.push(render::drop_table(d, &from.name));
    out.push(render::rename_table(d, &tmp, &to.name));
    for ix in &to.indexes {
        out.push(render::create_index(d, &to.name, ix));
    }
    out
}
