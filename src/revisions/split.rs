//! Splitting a schema change into its expand and contract halves (`revision new`).
//!
//! The changes from the schema of the heads to the working schema are sorted by what running
//! code can live with:
//! - *expand* (additive, safe while old code runs): new enum types and values, new tables,
//!   nullable columns or columns with a default, relaxed or widened columns, non-unique
//!   indexes, new or changed triggers. A new NOT NULL column without a default on an existing
//!   table is added nullable here (old code does not write it), and a column renamed with
//!   `renamed_from` is added here under its new name, with a data migration copying the old
//!   column into it (add, copy, drop);
//! - *contract* (what breaks old code or needs every row to comply): drops, renames of tables,
//!   NOT NULL on an existing column, narrowed types, new unique, foreign-key and check
//!   constraints on existing tables, primary-key and table-option changes.
//!
//! The expand revision's snapshot is its parent's (the expand head's) plus the expand changes.
//! The contract revision's snapshot is the working schema itself. Whatever the expand state
//! does not reach is the contract revision's work; when it includes NOT NULL on a column that
//! existing rows may leave empty, a data-migration skeleton is added to the expand revision's
//! migrate phase (a `pending` query and a `todo` the loader refuses until someone writes it).

use std::collections::BTreeMap;

use crate::diff::{self, Change};
use crate::schema::model::{Column, Schema};
use crate::snapshot::{DataMigration, DataPhase};

/// A column renamed with `renamed_from` in the working schema: done as add, copy, drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRename {
    pub table: String,
    pub from: String,
    pub to: String,
}

/// Column renames (`renamed_from` hints that name a column the heads have), and the working
/// schema with those hints removed (the revisions carry the rename instead). Table rename
/// hints are kept: the contract revision renames the table.
pub fn take_column_renames(heads: &Schema, want: &Schema) -> (Schema, Vec<ColumnRename>) {
    let mut out = want.clone();
    let mut renames = Vec::new();
    for t in out.tables.values_mut() {
        let Some(old_table) = heads.table(&t.name) else {
            continue;
        };
        let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        for c in &mut t.columns {
            let Some(old) = c.renamed_from.take() else {
                continue;
            };
            if old_table.has_column(&old) && !old_table.has_column(&c.name) && !names.contains(&old)
            {
                renames.push(ColumnRename {
                    table: t.name.clone(),
                    from: old,
                    to: c.name.clone(),
                });
            }
        }
    }
    (out, renames)
}

/// Why a change cannot go into an expand revision, or None when it can.
pub fn contract_reason(change: &Change, heads: &Schema) -> Option<&'static str> {
    let existing = |t: &str| heads.table(t).is_some();
    match change {
        Change::CreateEnum(_)
        | Change::AddEnumValues { .. }
        | Change::CreateTable(_)
        | Change::AddColumn { .. }
        | Change::AddTrigger(_)
        | Change::AlterTrigger { .. } => None,
        Change::AddIndex { index, .. } if !index.unique => None,
        Change::AddIndex { table, .. } | Change::AddUnique { table, .. } if existing(table) => {
            Some("a new unique key refuses rows that running code may still write")
        }
        Change::AddForeignKey { table, .. } if existing(table) => {
            Some("a new foreign key refuses rows that running code may still write")
        }
        Change::AddCheck { table, .. } if existing(table) => {
            Some("a new check refuses rows that running code may still write")
        }
        Change::AddIndex { .. }
        | Change::AddUnique { .. }
        | Change::AddForeignKey { .. }
        | Change::AddCheck { .. } => None,
        Change::AlterColumn { from, to, .. } if diff::is_relaxing(from, to) => None,
        Change::AlterColumn { from, to, .. } if from.nullable && !to.nullable => {
            Some("NOT NULL refuses the rows running code writes without it")
        }
        Change::AlterColumn { .. } => {
            Some("a narrowed or changed type can refuse or alter what running code writes")
        }
        Change::RenameTable { .. } | Change::RenameColumn { .. } => {
            Some("running code still uses the old name")
        }
        Change::SetPrimaryKey { .. } | Change::AlterTableOptions { .. } => {
            Some("running code relies on the table as it is")
        }
        Change::DropEnum(_)
        | Change::DropTable(_)
        | Change::DropColumn { .. }
        | Change::DropIndex { .. }
        | Change::DropUnique { .. }
        | Change::DropForeignKey { .. }
        | Change::DropCheck { .. }
        | Change::DropTrigger(_) => Some("it removes what running code may still use"),
    }
}

/// The changes the expand revision makes, from the changes between the heads and the working
/// schema: the additive ones, with a new NOT NULL column without default on an existing table
/// (and every renamed column) added nullable and without default for now.
pub fn expand_changes(changes: &[Change], heads: &Schema, renames: &[ColumnRename]) -> Vec<Change> {
    let mut out = Vec::new();
    for c in changes {
        if contract_reason(c, heads).is_some() {
            continue;
        }
        match c {
            Change::AddColumn { table, column } if heads.table(table).is_some() => {
                let renamed = renames
                    .iter()
                    .any(|r| r.table == *table && r.to == column.name);
                let mut col = column.clone();
                if renamed {
                    col.nullable = true;
                    col.default = None;
                    for ov in col.overrides.values_mut() {
                        ov.nullable = None;
                        ov.default = None;
                    }
                } else if !col.nullable && col.default.is_none() {
                    col.nullable = true;
                    for ov in col.overrides.values_mut() {
                        ov.nullable = None;
                    }
                }
                out.push(Change::AddColumn {
                    table: table.clone(),
                    column: col,
                });
            }
            other => out.push(other.clone()),
        }
    }
    out
}

/// The data migrations the expand revision carries: a copy per column rename, and a skeleton
/// per column the contract revision makes NOT NULL on a table that already has rows.
/// `leftover` is what the contract revision changes after the expand state; `release` and
/// `number` name the steps (`<release>_migrate<NN>_…`, as Glance's `ocata_migrate01_…`).
pub fn data_migrations(
    leftover: &[Change],
    heads: &Schema,
    want: &Schema,
    renames: &[ColumnRename],
    release: &str,
    number: &str,
    contract_name: &str,
) -> Vec<DataMigration> {
    let step = |what: &str| format!("{release}_migrate{number}_{what}");
    let mut out = Vec::new();
    for r in renames {
        let (t, old, new) = (&r.table, &r.from, &r.to);
        let cond = format!("{new} IS NULL AND {old} IS NOT NULL");
        out.push(DataMigration {
            name: step(&format!("copy_{t}_{old}_to_{new}")),
            phase: DataPhase::Migrate,
            description: Some(format!(
                "Copy {t}.{old} into {t}.{new}: the rename is done as add, copy, drop \
                 ({contract_name} drops {old})"
            )),
            pending: Some(format!("SELECT COUNT(*) FROM {t} WHERE {cond}")),
            sql: vec![format!("UPDATE {t} SET {new} = {old} WHERE {cond}")],
            sql_by_dialect: BTreeMap::new(),
            todo: None,
        });
    }
    for c in leftover {
        let Change::AlterColumn { table, from, to } = c else {
            continue;
        };
        if !from.nullable || to.nullable || heads.table(table).is_none() {
            continue;
        }
        // A rename copies every value of a NOT NULL column: nothing is left empty.
        let copied_from_not_null = renames.iter().any(|r| {
            r.table == *table
                && r.to == to.name
                && heads
                    .table(table)
                    .and_then(|t| t.column(&r.from))
                    .is_some_and(|c| !c.nullable)
        });
        if copied_from_not_null {
            continue;
        }
        out.push(not_null_skeleton(table, to, want, &step, contract_name));
    }
    out
}

/// The skeleton of the data migration that fills a column before it becomes NOT NULL.
fn not_null_skeleton(
    table: &str,
    col: &Column,
    want: &Schema,
    step: &dyn Fn(&str) -> String,
    contract_name: &str,
) -> DataMigration {
    let c = &col.name;
    let value = want
        .table(table)
        .and_then(|t| t.column(c))
        .and_then(|c| c.default.as_ref())
        .map_or_else(|| FILL_IN.to_string(), |d| d.to_string());
    DataMigration {
        name: step(&format!("{table}_{c}_not_null")),
        phase: DataPhase::Migrate,
        description: Some(format!(
            "Give {table}.{c} a value in every row before {contract_name} makes it NOT NULL"
        )),
        pending: Some(format!("SELECT COUNT(*) FROM {table} WHERE {c} IS NULL")),
        sql: vec![format!(
            "UPDATE {table} SET {c} = {value} WHERE {c} IS NULL"
        )],
        sql_by_dialect: BTreeMap::new(),
        todo: Some(format!(
            "decide what {table}.{c} holds in the rows where it is NULL and write it in `sql`, \
             then delete this line"
        )),
    }
}

/// The placeholder a skeleton's SQL holds where only its author knows the value.
pub const FILL_IN: &str = "<fill in>";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::{ColumnType, Table};

    fn schema(cols: &[(&str, bool)]) -> Schema {
        let mut t = Table::new("items");
        for (n, nullable) in cols {
            let mut c = Column::new(n, ColumnType::String(20));
            c.nullable = *nullable;
            t.columns.push(c);
        }
        let mut s = Schema::default();
        s.tables.insert("items".into(), t);
        s
    }

    #[test]
    fn a_not_null_column_without_default_is_added_nullable_then_tightened() {
        let heads = schema(&[("id", false)]);
        let want = schema(&[("id", false), ("sku", false)]);
        let changes = diff::diff(&heads, &want).changes;
        let expand = expand_changes(&changes, &heads, &[]);
        let Change::AddColumn { column, .. } = &expand[0] else {
            panic!("{expand:?}")
        };
        assert!(column.nullable);
        let after = diff::apply_all(&heads, &expand);
        let leftover = diff::diff(&after, &want).changes;
        assert_eq!(leftover.len(), 1);
        assert!(contract_reason(&leftover[0], &heads).is_some());
        let dms = data_migrations(&leftover, &heads, &want, &[], "r", "01", "r_contract01");
        assert_eq!(dms[0].name, "r_migrate01_items_sku_not_null");
        assert!(dms[0].todo.is_some());
        assert!(dms[0].sql[0].contains(FILL_IN));
    }

    #[test]
    fn drops_and_narrowing_are_contract_changes() {
        let heads = schema(&[("id", false), ("old", true)]);
        let mut want = schema(&[("id", false)]);
        want.tables["items"].columns[0].ty = ColumnType::String(10);
        let changes = diff::diff(&heads, &want).changes;
        assert!(expand_changes(&changes, &heads, &[]).is_empty());
        assert!(changes.iter().all(|c| contract_reason(c, &heads).is_some()));
    }
}
