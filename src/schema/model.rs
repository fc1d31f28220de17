//! The schema model: plain, dialect-neutral data describing tables, columns, keys, indexes,
//! constraints and (in [`super::trigger`]) triggers.
//!
//! One model serves every stage. A snapshot (`snapshot`) is parsed into a *portable* [`Schema`]
//! that may carry per-dialect overrides; [`Schema::resolve`] lowers it to the concrete schema a
//! given [`Dialect`] holds (enum → VARCHAR on SQLite, overrides applied, …). Introspection
//! (`introspect`) produces a resolved schema directly. `normalize` makes both sides canonical and
//! `diff` compares them.

use std::collections::BTreeMap;
use std::fmt;

use indexmap::IndexMap;
use serde::Serialize;

pub use super::trigger::{Trigger, TriggerEvent, TriggerTiming};
pub use super::types::{ColumnType, DefaultValue, Dialect, is_identifier};

/// Per-dialect replacement of a column's attributes (Glance's `with_variant`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ColumnOverride {
    pub ty: Option<ColumnType>,
    pub nullable: Option<bool>,
    pub default: Option<Option<DefaultValue>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub nullable: bool,
    pub default: Option<DefaultValue>,
    pub autoincrement: bool,
    /// Rename hint: the column's name in the parent revision.
    pub renamed_from: Option<String>,
    pub overrides: BTreeMap<Dialect, ColumnOverride>,
}

impl Column {
    pub fn new(name: &str, ty: ColumnType) -> Column {
        Column {
            name: name.to_string(),
            ty,
            nullable: true,
            default: None,
            autoincrement: false,
            renamed_from: None,
            overrides: BTreeMap::new(),
        }
    }

    /// The attributes that matter for equality of two live columns (not hints or overrides).
    pub fn same_definition(&self, other: &Column) -> bool {
        self.ty == other.ty
            && self.nullable == other.nullable
            && self.default == other.default
            && self.autoincrement == other.autoincrement
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrimaryKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unique {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    /// Restricts the index to some dialects (None = all).
    pub dialects: Option<Vec<Dialect>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum FkAction {
    #[default]
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl FkAction {
    pub fn parse(s: &str) -> Option<FkAction> {
        match s.trim().to_ascii_uppercase().replace('_', " ").as_str() {
            "NO ACTION" => Some(FkAction::NoAction),
            "RESTRICT" => Some(FkAction::Restrict),
            "CASCADE" => Some(FkAction::Cascade),
            "SET NULL" => Some(FkAction::SetNull),
            "SET DEFAULT" => Some(FkAction::SetDefault),
            _ => None,
        }
    }
    pub fn sql(self) -> &'static str {
        match self {
            FkAction::NoAction => "NO ACTION",
            FkAction::Restrict => "RESTRICT",
            FkAction::Cascade => "CASCADE",
            FkAction::SetNull => "SET NULL",
            FkAction::SetDefault => "SET DEFAULT",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    pub on_delete: FkAction,
    pub on_update: FkAction,
}

impl ForeignKey {
    /// Structural identity: what the constraint enforces, regardless of its name.
    pub fn same_shape(&self, other: &ForeignKey) -> bool {
        self.columns == other.columns
            && self.ref_table == other.ref_table
            && self.ref_columns == other.ref_columns
            && self.on_delete == other.on_delete
            && self.on_update == other.on_update
    }
}

/// A CHECK constraint. Normalization rewrites `name` and `expr` into the form comparisons use
/// (generated names dropped, canonical expression text) and keeps the constraint as its
/// source spelled it in [`Check::written`], which is what DDL is rendered from. Equality and
/// `Debug` look at the comparison form only.
#[derive(Clone, Serialize)]
pub struct Check {
    pub name: Option<String>,
    pub expr: String,
    /// Restricts the check to some dialects (None = all).
    pub dialects: Option<Vec<Dialect>>,
    /// As the snapshot or the database spelled it; set by normalization.
    pub written: Option<WrittenCheck>,
}

/// A check constraint as its source spelled it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrittenCheck {
    pub name: Option<String>,
    pub expr: String,
    /// Its place among the table's checks in the source: a new table declares its checks in
    /// that order (MariaDB numbers unnamed checks by it).
    pub position: usize,
}

impl Check {
    pub fn new(name: Option<String>, expr: impl Into<String>) -> Check {
        Check {
            name,
            expr: expr.into(),
            dialects: None,
            written: None,
        }
    }

    /// The name DDL gives the check: the source's.
    pub fn ddl_name(&self) -> Option<&str> {
        match &self.written {
            Some(w) => w.name.as_deref(),
            None => self.name.as_deref(),
        }
    }

    /// The expression text DDL writes: the source's.
    pub fn ddl_expr(&self) -> &str {
        self.written.as_ref().map_or(&self.expr, |w| &w.expr)
    }
}

impl PartialEq for Check {
    fn eq(&self, other: &Check) -> bool {
        self.name == other.name && self.expr == other.expr && self.dialects == other.dialects
    }
}

impl Eq for Check {}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("expr", &self.expr)
            .field("dialects", &self.dialects)
            .finish()
    }
}

/// MySQL/MariaDB table options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MysqlOptions {
    pub engine: Option<String>,
    pub charset: Option<String>,
    pub collation: Option<String>,
}

impl MysqlOptions {
    pub fn is_empty(&self) -> bool {
        self.engine.is_none() && self.charset.is_none() && self.collation.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub primary_key: Option<PrimaryKey>,
    pub uniques: Vec<Unique>,
    pub indexes: Vec<Index>,
    pub foreign_keys: Vec<ForeignKey>,
    pub checks: Vec<Check>,
    pub mysql: MysqlOptions,
    pub renamed_from: Option<String>,
}

impl Table {
    pub fn new(name: &str) -> Table {
        Table {
            name: name.to_string(),
            columns: Vec::new(),
            primary_key: None,
            uniques: Vec::new(),
            indexes: Vec::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
            mysql: MysqlOptions::default(),
            renamed_from: None,
        }
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn column_mut(&mut self, name: &str) -> Option<&mut Column> {
        self.columns.iter_mut().find(|c| c.name == name)
    }

    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name == name)
    }

    pub fn has_column(&self, name: &str) -> bool {
        self.column(name).is_some()
    }

    /// The single autoincrement column, if any.
    pub fn autoincrement_column(&self) -> Option<&Column> {
        self.columns.iter().find(|c| c.autoincrement)
    }
}

/// A named enumerated type (PostgreSQL `CREATE TYPE … AS ENUM`; inlined elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnumType {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Schema {
    pub enums: IndexMap<String, EnumType>,
    pub tables: IndexMap<String, Table>,
    /// Row triggers, each on a table of `tables`.
    pub triggers: Vec<Trigger>,
}

impl Schema {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }

    /// The trigger `name` on `table`.
    pub fn trigger(&self, table: &str, name: &str) -> Option<&Trigger> {
        self.triggers.iter().find(|t| t.is(table, name))
    }

    pub fn table_mut(&mut self, name: &str) -> Option<&mut Table> {
        self.tables.get_mut(name)
    }

    /// Lowers a portable schema to what `dialect` really holds: applies column overrides, drops
    /// dialect-restricted checks and indexes that do not apply, and maps types the dialect lacks.
    pub fn resolve(&self, dialect: Dialect) -> Schema {
        let mut out = Schema::default();
        if dialect == Dialect::Postgres {
            out.enums = self.enums.clone();
        }
        for table in self.tables.values() {
            let mut t = table.clone();
            for col in &mut t.columns {
                if let Some(ov) = col.overrides.get(&dialect).cloned() {
                    if let Some(ty) = ov.ty {
                        col.ty = ty;
                    }
                    if let Some(n) = ov.nullable {
                        col.nullable = n;
                    }
                    if let Some(d) = ov.default {
                        col.default = d;
                    }
                }
                col.overrides.clear();
                col.ty = lower_type(&col.ty, dialect, &self.enums);
            }
            t.checks.retain(|c| applies(&c.dialects, dialect));
            for c in &mut t.checks {
                c.dialects = None;
            }
            t.indexes.retain(|i| applies(&i.dialects, dialect));
            for i in &mut t.indexes {
                i.dialects = None;
            }
            if dialect != Dialect::Mysql {
                t.mysql = MysqlOptions::default();
            }
            out.tables.insert(t.name.clone(), t);
        }
        out.triggers = self
            .triggers
            .iter()
            .filter_map(|t| t.resolve(dialect))
            .collect();
        out
    }
}

fn applies(only: &Option<Vec<Dialect>>, dialect: Dialect) -> bool {
    only.as_ref().is_none_or(|d| d.contains(&dialect))
}

/// Maps a portable type onto the types `dialect` stores.
pub fn lower_type(
    ty: &ColumnType,
    dialect: Dialect,
    enums: &IndexMap<String, EnumType>,
) -> ColumnType {
    let enum_values = |name: &Option<String>, values: &Vec<String>| -> Vec<String> {
        if values.is_empty() {
            name.as_ref()
                .and_then(|n| enums.get(n))
                .map(|e| e.values.clone())
                .unwrap_or_default()
        } else {
            values.clone()
        }
    };
    match (ty, dialect) {
        (ColumnType::Json, _) => ColumnType::Text,
        (ColumnType::Enum { name, values }, Dialect::Sqlite) => {
            // SQLAlchemy >= 1.4 renders a non-native Enum as VARCHAR(longest value), no CHECK.
            let len = enum_values(name, values)
                .iter()
                .map(|v| v.chars().count())
                .max()
                .unwrap_or(1);
            ColumnType::String(len as u32)
        }
        (ColumnType::Enum { name, values }, Dialect::Mysql) => ColumnType::Enum {
            name: None,
            values: enum_values(name, values),
        },
        (ColumnType::Enum { name, values }, Dialect::Postgres) => ColumnType::Enum {
            name: name.clone(),
            values: enum_values(name, values),
        },
        (ColumnType::Numeric, Dialect::Mysql) => ColumnType::Decimal(10, 0),
        (ColumnType::Float, Dialect::Sqlite) | (ColumnType::Double, Dialect::Sqlite) => {
            ColumnType::Double
        }
        _ => ty.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_lowers_enum_per_dialect() {
        let mut s = Schema::default();
        s.enums.insert(
            "vis".into(),
            EnumType {
                name: "vis".into(),
                values: vec!["private".into(), "community".into()],
            },
        );
        let mut t = Table::new("t");
        t.columns.push(Column::new(
            "v",
            ColumnType::Enum {
                name: Some("vis".into()),
                values: vec![],
            },
        ));
        s.tables.insert("t".into(), t);
        let col = |d| s.resolve(d).tables["t"].columns[0].ty.clone();
        assert_eq!(col(Dialect::Sqlite), ColumnType::String(9));
        assert_eq!(
            col(Dialect::Mysql),
            ColumnType::Enum {
                name: None,
                values: vec!["private".into(), "community".into()]
            }
        );
        assert!(s.resolve(Dialect::Postgres).enums.contains_key("vis"));
        assert!(s.resolve(Dialect::Mysql).enums.is_empty());
    }
}
