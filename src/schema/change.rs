//! The change IR: one typed [`Change`] per difference between two schemas (what `diff`
//! finds), how each reads in words, and replaying changes on a model ([`apply`]) — what the
//! database will look like after them.

use std::fmt;

use super::model::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    CreateEnum(EnumType),
    /// PostgreSQL `ALTER TYPE … ADD VALUE` for values appended at the end.
    AddEnumValues {
        name: String,
        values: Vec<String>,
    },
    DropEnum(EnumType),
    CreateTable(Table),
    DropTable(Table),
    RenameTable {
        from: String,
        to: String,
    },
    AddColumn {
        table: String,
        column: Column,
    },
    DropColumn {
        table: String,
        column: Column,
    },
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    AlterColumn {
        table: String,
        from: Column,
        to: Column,
    },
    SetPrimaryKey {
        table: String,
        from: Option<PrimaryKey>,
        to: Option<PrimaryKey>,
    },
    AddIndex {
        table: String,
        index: Index,
    },
    DropIndex {
        table: String,
        index: Index,
    },
    AddUnique {
        table: String,
        unique: Unique,
    },
    DropUnique {
        table: String,
        unique: Unique,
    },
    AddForeignKey {
        table: String,
        fk: ForeignKey,
    },
    DropForeignKey {
        table: String,
        fk: ForeignKey,
    },
    AddCheck {
        table: String,
        check: Check,
    },
    DropCheck {
        table: String,
        check: Check,
    },
    AlterTableOptions {
        table: String,
        from: MysqlOptions,
        to: MysqlOptions,
    },
    AddTrigger(Trigger),
    DropTrigger(Trigger),
    /// Same table and name, another timing, event or body: dropped and created again.
    AlterTrigger {
        from: Trigger,
        to: Trigger,
    },
}

impl Change {
    /// The table the change is about (None for enum changes).
    pub fn table(&self) -> Option<&str> {
        use Change::*;
        match self {
            CreateEnum(_) | AddEnumValues { .. } | DropEnum(_) => None,
            CreateTable(t) | DropTable(t) => Some(&t.name),
            RenameTable { to, .. } => Some(to),
            AddColumn { table, .. }
            | DropColumn { table, .. }
            | RenameColumn { table, .. }
            | AlterColumn { table, .. }
            | SetPrimaryKey { table, .. }
            | AddIndex { table, .. }
            | DropIndex { table, .. }
            | AddUnique { table, .. }
            | DropUnique { table, .. }
            | AddForeignKey { table, .. }
            | DropForeignKey { table, .. }
            | AddCheck { table, .. }
            | DropCheck { table, .. }
            | AlterTableOptions { table, .. } => Some(table),
            AddTrigger(t) | DropTrigger(t) | AlterTrigger { to: t, .. } => Some(&t.table),
        }
    }

    /// Whether the change can lose data or break code that still uses the old schema.
    pub fn is_destructive(&self) -> bool {
        use Change::*;
        match self {
            DropEnum(_)
            | DropTable(_)
            | DropColumn { .. }
            | DropIndex { .. }
            | DropUnique { .. } => true,
            DropForeignKey { .. } | DropCheck { .. } | DropTrigger(_) => true,
            RenameTable { .. }
            | RenameColumn { .. }
            | SetPrimaryKey { .. }
            | AlterTableOptions { .. } => true,
            AlterColumn { from, to, .. } => !is_relaxing(from, to),
            _ => false,
        }
    }

    /// Snapshot path of the element that caused the change, e.g. `tables.images.columns.visibility`.
    pub fn source(&self) -> String {
        use Change::*;
        match self {
            CreateEnum(e) | DropEnum(e) => format!("enums.{}", e.name),
            AddEnumValues { name, .. } => format!("enums.{name}"),
            CreateTable(t) | DropTable(t) => format!("tables.{}", t.name),
            RenameTable { to, .. } => format!("tables.{to}"),
            AddColumn { table, column } | DropColumn { table, column } => {
                format!("tables.{table}.columns.{}", column.name)
            }
            AlterColumn { table, to, .. } => format!("tables.{table}.columns.{}", to.name),
            RenameColumn { table, to, .. } => format!("tables.{table}.columns.{to}"),
            SetPrimaryKey { table, .. } => format!("tables.{table}.primary_key"),
            AddIndex { table, index } | DropIndex { table, index } => {
                format!("tables.{table}.indexes.{}", index.name)
            }
            AddUnique { table, unique } | DropUnique { table, unique } => {
                format!(
                    "tables.{table}.unique.{}",
                    unique
                        .name
                        .clone()
                        .unwrap_or_else(|| unique.columns.join("+"))
                )
            }
            AddForeignKey { table, fk } | DropForeignKey { table, fk } => {
                format!(
                    "tables.{table}.foreign_keys.{}",
                    fk.name.clone().unwrap_or_else(|| fk.columns.join("+"))
                )
            }
            AddCheck { table, check } | DropCheck { table, check } => {
                format!(
                    "tables.{table}.checks.{}",
                    check.name.clone().unwrap_or_else(|| check.expr.clone())
                )
            }
            AlterTableOptions { table, .. } => format!("tables.{table}.mysql"),
            AddTrigger(t) | DropTrigger(t) | AlterTrigger { to: t, .. } => {
                format!("triggers.{}", t.name)
            }
        }
    }
}

/// An ALTER that only widens what is accepted: NOT NULL → NULL, a longer VARCHAR, a new
/// default, integer → bigint. Old code keeps working, so it belongs to the expand phase.
pub fn is_relaxing(from: &Column, to: &Column) -> bool {
    let type_ok = match (&from.ty, &to.ty) {
        (a, b) if a == b => true,
        (ColumnType::String(a), ColumnType::String(b)) => b >= a,
        (ColumnType::SmallInt, ColumnType::Integer | ColumnType::BigInt)
        | (ColumnType::Integer, ColumnType::BigInt) => true,
        (ColumnType::String(_), ColumnType::Text) => true,
        (ColumnType::Enum { values: a, .. }, ColumnType::Enum { values: b, .. }) => {
            a.iter().all(|v| b.contains(v))
        }
        _ => false,
    };
    let null_ok = to.nullable || !from.nullable;
    type_ok && null_ok && from.autoincrement == to.autoincrement
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Change::*;
        match self {
            CreateEnum(e) => write!(f, "create enum type {} ({})", e.name, e.values.join(", ")),
            AddEnumValues { name, values } => {
                write!(f, "add values {} to enum type {name}", values.join(", "))
            }
            DropEnum(e) => write!(f, "drop enum type {}", e.name),
            CreateTable(t) => write!(f, "create table {}", t.name),
            DropTable(t) => write!(f, "drop table {}", t.name),
            RenameTable { from, to } => write!(f, "rename table {from} to {to}"),
            AddColumn { table, column } => {
                write!(f, "add column {table}.{} {}", column.name, column.ty)
            }
            DropColumn { table, column } => write!(f, "drop column {table}.{}", column.name),
            RenameColumn { table, from, to } => write!(f, "rename column {table}.{from} to {to}"),
            AlterColumn { table, from, to } => {
                let mut parts = Vec::new();
                if from.ty != to.ty {
                    parts.push(format!("type {} -> {}", from.ty, to.ty));
                }
                if from.nullable != to.nullable {
                    parts.push(if to.nullable {
                        "nullable".to_string()
                    } else {
                        "not null".to_string()
                    });
                }
                if from.default != to.default {
                    parts.push(match &to.default {
                        Some(d) => format!("default {d}"),
                        None => "no default".to_string(),
                    });
                }
                if from.autoincrement != to.autoincrement {
                    parts.push(format!("autoincrement {}", to.autoincrement));
                }
                write!(f, "alter column {table}.{}: {}", to.name, parts.join(", "))
            }
            SetPrimaryKey { table, to, .. } => match to {
                Some(pk) => write!(
                    f,
                    "set primary key of {table} to ({})",
                    pk.columns.join(", ")
                ),
                None => write!(f, "drop primary key of {table}"),
            },
            AddIndex { table, index } => write!(
                f,
                "add {}index {} on {table} ({})",
                if index.unique { "unique " } else { "" },
                index.name,
                index.columns.join(", ")
            ),
            DropIndex { table, index } => write!(f, "drop index {} on {table}", index.name),
            AddUnique { table, unique } => write!(f, "add {}", describe_unique(table, unique)),
            DropUnique { table, unique } => write!(f, "drop {}", describe_unique(table, unique)),
            AddForeignKey { table, fk } => write!(f, "add {}", describe_fk(table, fk)),
            DropForeignKey { table, fk } => write!(f, "drop {}", describe_fk(table, fk)),
            AddCheck { table, check } => write!(f, "add check on {table}: {}", check.expr),
            DropCheck { table, check } => write!(f, "drop check on {table}: {}", check.expr),
            AlterTableOptions { table, to, .. } => write!(
                f,
                "alter table options of {table}: engine {}, charset {}",
                to.engine.as_deref().unwrap_or("-"),
                to.charset.as_deref().unwrap_or("-")
            ),
            AddTrigger(t) => {
                write!(
                    f,
                    "add trigger {} on {}: {} {}",
                    t.name, t.table, t.timing, t.event
                )?;
                if let Some(only) = &t.dialects {
                    let keys: Vec<&str> = only.iter().map(|d| d.key()).collect();
                    write!(f, " ({} only)", keys.join(", "))?;
                }
                Ok(())
            }
            DropTrigger(t) => write!(f, "drop trigger {} on {}", t.name, t.table),
            AlterTrigger { from, to } => {
                let mut parts = Vec::new();
                if from.timing != to.timing || from.event != to.event {
                    parts.push(format!(
                        "{} {} -> {} {}",
                        from.timing, from.event, to.timing, to.event
                    ));
                }
                if from.compared_body() != to.compared_body() || from.bodies != to.bodies {
                    parts.push("body".to_string());
                }
                if from.dialects != to.dialects {
                    parts.push("dialects".to_string());
                }
                if from.function != to.function {
                    parts.push(format!("function {}", from.function_name()));
                }
                write!(
                    f,
                    "change trigger {} on {}: {}",
                    to.name,
                    to.table,
                    parts.join(", ")
                )
            }
        }
    }
}

/// `unique constraint NAME on T (cols)`, as add and drop changes print it.
fn describe_unique(table: &str, u: &Unique) -> String {
    let name = u.name.as_ref().map(|n| format!("{n} ")).unwrap_or_default();
    format!(
        "unique constraint {name}on {table} ({})",
        u.columns.join(", ")
    )
}

/// `foreign key T(cols) -> R(cols)`, as add and drop changes print it.
fn describe_fk(table: &str, fk: &ForeignKey) -> String {
    format!(
        "foreign key {table}({}) -> {}({})",
        fk.columns.join(", "),
        fk.ref_table,
        fk.ref_columns.join(", ")
    )
}

/// Applies one change to a schema model (what the database will look like after the change).
pub fn apply(schema: &mut Schema, change: &Change) {
    use Change::*;
    match change {
        CreateEnum(e) => {
            schema.enums.insert(e.name.clone(), e.clone());
        }
        AddEnumValues { name, values } => {
            if let Some(e) = schema.enums.get_mut(name) {
                e.values.extend(values.iter().cloned());
            }
        }
        DropEnum(e) => {
            schema.enums.shift_remove(&e.name);
        }
        CreateTable(t) => {
            let mut t = t.clone();
            t.renamed_from = None;
            for c in &mut t.columns {
                c.renamed_from = None;
            }
            schema.tables.insert(t.name.clone(), t);
        }
        DropTable(t) => {
            schema.tables.shift_remove(&t.name);
            // The database drops a table's triggers with it.
            schema.triggers.retain(|tr| tr.table != t.name);
        }
        RenameTable { from, to } => {
            if let Some(idx) = schema.tables.get_index_of(from) {
                let (_, mut t) = schema.tables.shift_remove_index(idx).expect("index exists");
                t.name = to.clone();
                schema.tables.shift_insert(idx, to.clone(), t);
                for other in schema.tables.values_mut() {
                    for fk in &mut other.foreign_keys {
                        if &fk.ref_table == from {
                            fk.ref_table = to.clone();
                        }
                    }
                }
                // Triggers move with their table.
                for tr in &mut schema.triggers {
                    if &tr.table == from {
                        tr.table = to.clone();
                    }
                }
            }
        }
        AddTrigger(t) => schema.triggers.push(t.clone()),
        DropTrigger(t) => schema.triggers.retain(|x| !x.is(&t.table, &t.name)),
        AlterTrigger { from, to } => {
            schema.triggers.retain(|x| !x.is(&from.table, &from.name));
            schema.triggers.push(to.clone());
        }
        _ => {
            let Some(tname) = change.table().map(str::to_string) else {
                return;
            };
            if let RenameColumn { from, to, .. } = change {
                for other in schema.tables.values_mut() {
                    for fk in &mut other.foreign_keys {
                        if fk.ref_table == tname {
                            for c in &mut fk.ref_columns {
                                if c == from {
                                    *c = to.clone();
                                }
                            }
                        }
                    }
                }
            }
            let Some(t) = schema.tables.get_mut(&tname) else {
                return;
            };
            apply_to_table(t, change);
        }
    }
}

fn apply_to_table(t: &mut Table, change: &Change) {
    use Change::*;
    let rename_in = |cols: &mut Vec<String>, from: &str, to: &str| {
        for c in cols.iter_mut() {
            if c == from {
                *c = to.to_string();
            }
        }
    };
    match change {
        AddColumn { column, .. } => {
            let mut c = column.clone();
            c.renamed_from = None;
            t.columns.push(c);
        }
        DropColumn { column, .. } => {
            t.columns.retain(|c| c.name != column.name);
            // The database drops indexes and constraints that only covered the column.
            t.indexes.retain(|i| !i.columns.contains(&column.name));
            t.uniques.retain(|u| !u.columns.contains(&column.name));
            t.checks.retain(|c| !expr_mentions(&c.expr, &column.name));
        }
        RenameColumn { from, to, .. } => {
            if let Some(c) = t.column_mut(from) {
                c.name = to.clone();
            }
            if let Some(pk) = &mut t.primary_key {
                rename_in(&mut pk.columns, from, to);
            }
            for i in &mut t.indexes {
                rename_in(&mut i.columns, from, to);
            }
            for u in &mut t.uniques {
                rename_in(&mut u.columns, from, to);
            }
            for f in &mut t.foreign_keys {
                rename_in(&mut f.columns, from, to);
            }
        }
        AlterColumn { from, to, .. } => {
            // Only what the change changes: replayed on another branch's view of the table
            // (a rolling-upgrade state), the column keeps the attributes this change leaves
            // alone.
            if let Some(c) = t.column_mut(&to.name) {
                if from.ty != to.ty {
                    c.ty = to.ty.clone();
                }
                if from.nullable != to.nullable {
                    c.nullable = to.nullable;
                }
                if from.default != to.default {
                    c.default = to.default.clone();
                }
                if from.autoincrement != to.autoincrement {
                    c.autoincrement = to.autoincrement;
                }
                if from.overrides != to.overrides {
                    c.overrides = to.overrides.clone();
                }
                c.renamed_from = None;
            }
        }
        SetPrimaryKey { to, .. } => t.primary_key = to.clone(),
        AddIndex { index, .. } => t.indexes.push(index.clone()),
        DropIndex { index, .. } => t.indexes.retain(|i| i.name != index.name),
        AddUnique { unique, .. } => t.uniques.push(unique.clone()),
        DropUnique { unique, .. } => t.uniques.retain(|u| u != unique),
        AddForeignKey { fk, .. } => t.foreign_keys.push(fk.clone()),
        DropForeignKey { fk, .. } => t.foreign_keys.retain(|f| f != fk),
        AddCheck { check, .. } => t.checks.push(check.clone()),
        DropCheck { check, .. } => t.checks.retain(|c| c != check),
        AlterTableOptions { to, .. } => t.mysql = to.clone(),
        _ => {}
    }
}

/// Whether an SQL expression refers to `column` (identifier tokens, quotes stripped).
pub fn expr_mentions(expr: &str, column: &str) -> bool {
    expr.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|tok| !tok.is_empty() && tok.eq_ignore_ascii_case(column))
}

/// Applies a list of changes in order.
pub fn apply_all(schema: &Schema, changes: &[Change]) -> Schema {
    let mut s = schema.clone();
    for c in changes {
        apply(&mut s, c);
    }
    s
}
