//! Compares two schemas of the same dialect (both normalized) and lists the typed changes that
//! turn the first into the second. The list is unordered; `plan` orders it.
//!
//! Matching rules:
//! - tables and columns by name, following `renamed_from` hints (a rename is never drop + add);
//! - indexes by name (same name, other definition ⇒ drop + add);
//! - unique constraints by name when both sides name them, else by columns;
//! - foreign keys by what they enforce (columns, referenced table and columns, actions); a name
//!   only matters when the target gives one, so legacy names such as `metadef_objects_fk_1`
//!   are not drift;
//! - checks by (canonical) expression, likewise.

use std::fmt;

use crate::model::*;

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
            DropForeignKey { .. } | DropCheck { .. } => true,
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

/// The result of a comparison: what to change, and what cannot be compared safely.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub changes: Vec<Change>,
    /// Objects the engine cannot plan for (unsupported types), reported instead of altered.
    pub unsupported: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

fn unique_matches(a: &Unique, b: &Unique) -> bool {
    match (&a.name, &b.name) {
        (Some(x), Some(y)) => x == y && a.columns == b.columns,
        _ => a.columns == b.columns,
    }
}

fn fk_matches(live: &ForeignKey, target: &ForeignKey) -> bool {
    live.same_shape(target) && (target.name.is_none() || target.name == live.name)
}

fn check_matches(live: &Check, target: &Check) -> bool {
    live.expr == target.expr && (target.name.is_none() || target.name == live.name)
}

/// Lists the changes that turn `from` into `to`.
pub fn diff(from: &Schema, to: &Schema) -> Diff {
    let mut out = Diff::default();

    // Enum types (PostgreSQL).
    for e in to.enums.values() {
        match from.enums.get(&e.name) {
            None => out.changes.push(Change::CreateEnum(e.clone())),
            Some(old) if old.values != e.values => {
                if e.values.starts_with(&old.values) {
                    out.changes.push(Change::AddEnumValues {
                        name: e.name.clone(),
                        values: e.values[old.values.len()..].to_vec(),
                    });
                } else {
                    out.unsupported.push(format!(
                        "enum type `{}`: values change from {:?} to {:?} (only appending values is supported)",
                        e.name, old.values, e.values
                    ));
                }
            }
            _ => {}
        }
    }

    // Tables: renames first, so the renamed table is compared as a whole.
    let mut matched_from: Vec<&str> = Vec::new();
    for t in to.tables.values() {
        let source = match from.tables.get(&t.name) {
            Some(f) => Some(f),
            None => match &t.renamed_from {
                Some(old) if from.tables.contains_key(old) && !to.tables.contains_key(old) => {
                    out.changes.push(Change::RenameTable {
                        from: old.clone(),
                        to: t.name.clone(),
                    });
                    from.tables.get(old)
                }
                _ => None,
            },
        };
        match source {
            None => out.changes.push(Change::CreateTable(t.clone())),
            Some(f) => {
                matched_from.push(&f.name);
                diff_table(f, t, &mut out);
            }
        }
    }
    for f in from.tables.values() {
        if !matched_from.contains(&f.name.as_str()) {
            out.changes.push(Change::DropTable(f.clone()));
        }
    }
    for e in from.enums.values() {
        if !to.enums.contains_key(&e.name) {
            out.changes.push(Change::DropEnum(e.clone()));
        }
    }
    out
}

fn diff_table(from: &Table, to: &Table, out: &mut Diff) {
    let table = to.name.clone();
    let mut matched: Vec<&str> = Vec::new();
    for c in &to.columns {
        let source = match from.column(&c.name) {
            Some(fc) => Some(fc),
            None => match &c.renamed_from {
                Some(old) if from.has_column(old) && !to.has_column(old) => {
                    out.changes.push(Change::RenameColumn {
                        table: table.clone(),
                        from: old.clone(),
                        to: c.name.clone(),
                    });
                    from.column(old)
                }
                _ => None,
            },
        };
        match source {
            None => out.changes.push(Change::AddColumn {
                table: table.clone(),
                column: c.clone(),
            }),
            Some(fc) => {
                matched.push(&fc.name);
                if let ColumnType::Unsupported(native) = &fc.ty {
                    if fc.ty != c.ty {
                        out.unsupported.push(format!(
                            "column `{table}.{}` has type `{native}`, which the engine cannot compare with `{}`",
                            c.name, c.ty
                        ));
                    }
                    continue;
                }
                if !fc.same_definition(c) {
                    let mut from_col = fc.clone();
                    from_col.name = c.name.clone();
                    let mut to_col = c.clone();
                    to_col.renamed_from = None;
                    from_col.renamed_from = None;
                    out.changes.push(Change::AlterColumn {
                        table: table.clone(),
                        from: from_col,
                        to: to_col,
                    });
                }
            }
        }
    }
    for fc in &from.columns {
        if !matched.contains(&fc.name.as_str()) {
            out.changes.push(Change::DropColumn {
                table: table.clone(),
                column: fc.clone(),
            });
        }
    }

    let pk_cols = |pk: &Option<PrimaryKey>| pk.as_ref().map(|p| p.columns.clone());
    // A column rename carries over into the key: compare against the renamed key.
    let renamed_pk = from.primary_key.as_ref().map(|pk| PrimaryKey {
        name: pk.name.clone(),
        columns: pk.columns.iter().map(|c| renamed(to, c)).collect(),
    });
    if pk_cols(&renamed_pk) != pk_cols(&to.primary_key) {
        out.changes.push(Change::SetPrimaryKey {
            table: table.clone(),
            from: from.primary_key.clone(),
            to: to.primary_key.clone(),
        });
    }

    let ren = |cols: &[String]| cols.iter().map(|c| renamed(to, c)).collect::<Vec<_>>();

    for ix in &to.indexes {
        match from.index(&ix.name) {
            Some(old) if ren(&old.columns) == ix.columns && old.unique == ix.unique => {}
            Some(old) => {
                out.changes.push(Change::DropIndex {
                    table: table.clone(),
                    index: old.clone(),
                });
                out.changes.push(Change::AddIndex {
                    table: table.clone(),
                    index: ix.clone(),
                });
            }
            None => out.changes.push(Change::AddIndex {
                table: table.clone(),
                index: ix.clone(),
            }),
        }
    }
    for ix in &from.indexes {
        if to.index(&ix.name).is_none() {
            out.changes.push(Change::DropIndex {
                table: table.clone(),
                index: ix.clone(),
            });
        }
    }

    let from_uniques: Vec<Unique> = from
        .uniques
        .iter()
        .map(|u| Unique {
            name: u.name.clone(),
            columns: ren(&u.columns),
        })
        .collect();
    let (added, dropped) = unmatched(&from_uniques, &to.uniques, unique_matches);
    for u in added {
        out.changes.push(Change::AddUnique {
            table: table.clone(),
            unique: u.clone(),
        });
    }
    for i in dropped {
        out.changes.push(Change::DropUnique {
            table: table.clone(),
            unique: from.uniques[i].clone(),
        });
    }

    let from_fks: Vec<ForeignKey> = from
        .foreign_keys
        .iter()
        .map(|f| ForeignKey {
            columns: ren(&f.columns),
            ..f.clone()
        })
        .collect();
    let (added, dropped) = unmatched(&from_fks, &to.foreign_keys, fk_matches);
    for fk in added {
        out.changes.push(Change::AddForeignKey {
            table: table.clone(),
            fk: fk.clone(),
        });
    }
    for i in dropped {
        out.changes.push(Change::DropForeignKey {
            table: table.clone(),
            fk: from.foreign_keys[i].clone(),
        });
    }

    let (added, dropped) = unmatched(&from.checks, &to.checks, check_matches);
    for ck in added {
        out.changes.push(Change::AddCheck {
            table: table.clone(),
            check: ck.clone(),
        });
    }
    for i in dropped {
        out.changes.push(Change::DropCheck {
            table: table.clone(),
            check: from.checks[i].clone(),
        });
    }

    if from.mysql != to.mysql {
        out.changes.push(Change::AlterTableOptions {
            table,
            from: from.mysql.clone(),
            to: to.mysql.clone(),
        });
    }
}

/// Pairs two lists by `matches(live, target)`: the targets no live item matches (to add) and
/// the indexes of the live items no target matches (to drop).
fn unmatched<'a, L, T>(
    live: &'a [L],
    target: &'a [T],
    matches: fn(&L, &T) -> bool,
) -> (Vec<&'a T>, Vec<usize>) {
    let added = target
        .iter()
        .filter(|t| !live.iter().any(|l| matches(l, t)))
        .collect();
    let dropped = (0..live.len())
        .filter(|&i| !target.iter().any(|t| matches(&live[i], t)))
        .collect();
    (added, dropped)
}

/// The name a column of the old table has in the new one (following rename hints).
fn renamed(to: &Table, old: &str) -> String {
    to.columns
        .iter()
        .find(|c| c.renamed_from.as_deref() == Some(old) && !to.has_column(old))
        .map(|c| c.name.clone())
        .unwrap_or_else(|| old.to_string())
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
            }
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
        AlterColumn { to, .. } => {
            if let Some(c) = t.column_mut(&to.name) {
                let mut n = to.clone();
                n.renamed_from = None;
                *c = n;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, cols: &[(&str, ColumnType, bool)]) -> Table {
        let mut t = Table::new(name);
        for (n, ty, nullable) in cols {
            let mut c = Column::new(n, ty.clone());
            c.nullable = *nullable;
            t.columns.push(c);
        }
        t
    }

    fn schema(tables: Vec<Table>) -> Schema {
        let mut s = Schema::default();
        for t in tables {
            s.tables.insert(t.name.clone(), t);
        }
        s
    }

    #[test]
    fn identical_schemas_diff_to_nothing() {
        let s = schema(vec![table("a", &[("id", ColumnType::Integer, false)])]);
        assert!(diff(&s, &s).is_empty());
    }

    #[test]
    fn rename_hint_becomes_rename_not_drop_add() {
        let from = schema(vec![table("a", &[("old", ColumnType::Text, true)])]);
        let mut t = table("a", &[("new", ColumnType::Text, true)]);
        t.columns[0].renamed_from = Some("old".into());
        let to = schema(vec![t]);
        let d = diff(&from, &to);
        assert_eq!(
            d.changes,
            vec![Change::RenameColumn {
                table: "a".into(),
                from: "old".into(),
                to: "new".into()
            }]
        );
        assert_eq!(
            apply_all(&from, &d.changes).tables["a"].columns[0].name,
            "new"
        );
    }

    #[test]
    fn table_rename_hint() {
        let from = schema(vec![table("a", &[("id", ColumnType::Integer, false)])]);
        let mut t = table("b", &[("id", ColumnType::Integer, false)]);
        t.renamed_from = Some("a".into());
        let d = diff(&from, &schema(vec![t]));
        assert_eq!(
            d.changes,
            vec![Change::RenameTable {
                from: "a".into(),
                to: "b".into()
            }]
        );
    }

    #[test]
    fn relaxing_alters_are_not_destructive() {
        let from = Column {
            nullable: false,
            ..Column::new("c", ColumnType::String(10))
        };
        let wider = Column {
            nullable: true,
            ..Column::new("c", ColumnType::String(20))
        };
        assert!(is_relaxing(&from, &wider));
        assert!(!is_relaxing(&wider, &from));
    }

    #[test]
    fn fk_name_only_matters_when_target_names_it() {
        let mut parent = table("p", &[("id", ColumnType::Integer, false)]);
        parent.primary_key = Some(PrimaryKey {
            name: None,
            columns: vec!["id".into()],
        });
        let mut child = table("c", &[("pid", ColumnType::Integer, false)]);
        let fk = ForeignKey {
            name: None,
            columns: vec!["pid".into()],
            ref_table: "p".into(),
            ref_columns: vec!["id".into()],
            on_delete: FkAction::NoAction,
            on_update: FkAction::NoAction,
        };
        child.foreign_keys.push(ForeignKey {
            name: Some("c_fk_1".into()),
            ..fk.clone()
        });
        let live = schema(vec![parent.clone(), child.clone()]);
        child.foreign_keys = vec![fk];
        let target = schema(vec![parent, child]);
        assert!(diff(&live, &target).is_empty());
    }

    #[test]
    fn apply_reproduces_the_target() {
        let from = schema(vec![table(
            "a",
            &[
                ("id", ColumnType::Integer, false),
                ("gone", ColumnType::Text, true),
            ],
        )]);
        let mut t = table(
            "a",
            &[
                ("id", ColumnType::BigInt, false),
                ("x", ColumnType::Text, true),
            ],
        );
        t.indexes.push(Index {
            name: "ix_a_x".into(),
            columns: vec!["x".into()],
            unique: false,
            dialects: None,
        });
        let to = schema(vec![t, table("b", &[("id", ColumnType::Integer, false)])]);
        let d = diff(&from, &to);
        let after = apply_all(&from, &d.changes);
        assert!(diff(&after, &to).is_empty(), "{:?}", diff(&after, &to));
    }
}
