//! The schema model: plain, dialect-neutral data describing tables, columns, keys, indexes and
//! constraints.
//!
//! One model serves every stage. A snapshot (`snapshot`) is parsed into a *portable* [`Schema`]
//! that may carry per-dialect overrides; [`Schema::resolve`] lowers it to the concrete schema a
//! given [`Dialect`] holds (enum → VARCHAR on SQLite, overrides applied, …). Introspection
//! (`introspect`) produces a resolved schema directly. `normalize` makes both sides canonical and
//! `diff` compares them.

use std::collections::BTreeMap;
use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The SQL backends the engine supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Sqlite,
    #[serde(alias = "postgres", alias = "postgresql")]
    Postgres,
    #[serde(alias = "mariadb")]
    Mysql,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql];

    /// The key used for per-dialect sections in snapshot files.
    pub fn key(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgresql",
            Dialect::Mysql => "mysql",
        }
    }

    pub fn from_key(s: &str) -> Option<Dialect> {
        match s {
            "sqlite" => Some(Dialect::Sqlite),
            "postgresql" | "postgres" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::Mysql),
            _ => None,
        }
    }

    /// Whether DDL can be rolled back inside a transaction on this backend.
    pub fn transactional_ddl(self) -> bool {
        !matches!(self, Dialect::Mysql)
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
            Dialect::Mysql => "MySQL/MariaDB",
        })
    }
}

/// Portable column types. After [`Schema::resolve`] only the subset a dialect can hold remains.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum ColumnType {
    /// VARCHAR(n)
    String(u32),
    /// CHAR(n)
    Char(u32),
    Text,
    SmallInt,
    Integer,
    BigInt,
    Boolean,
    /// Date and time without time zone (MySQL DATETIME, PostgreSQL TIMESTAMP WITHOUT TIME ZONE).
    DateTime,
    Date,
    Float,
    Double,
    Decimal(u32, u32),
    /// NUMERIC without precision (MySQL stores it as DECIMAL(10,0)).
    Numeric,
    /// JSON stored as text (Glance's `JSONEncodedDict`): TEXT on every backend.
    Json,
    Blob,
    /// An enumerated type. `name` is the PostgreSQL type name (MySQL enums are anonymous, so a
    /// resolved MySQL schema has `name: None`).
    Enum {
        name: Option<String>,
        values: Vec<String>,
    },
    /// A type the engine read from a live database but cannot map. Never planned, always
    /// reported as unsupported.
    Unsupported(String),
}

impl ColumnType {
    /// Parses the portable spelling used in snapshot files (`string(36)`, `bigint`, `enum(name)`).
    /// Enum values are filled in later from the schema's `enums` table.
    pub fn parse(s: &str) -> Result<ColumnType, String> {
        let t = s.trim().to_ascii_lowercase();
        let (base, args) = match t.find('(') {
            Some(i) if t.ends_with(')') => (t[..i].trim(), Some(&t[i + 1..t.len() - 1])),
            Some(_) => return Err(format!("unbalanced parentheses in type `{s}`")),
            None => (t.as_str(), None),
        };
        let nums = |args: Option<&str>, n: usize| -> Result<Vec<u32>, String> {
            let a = args.ok_or_else(|| {
                format!("type `{base}` needs {n} argument(s), e.g. `{base}(255)`")
            })?;
            let v: Result<Vec<u32>, _> = a.split(',').map(|x| x.trim().parse::<u32>()).collect();
            match v {
                Ok(v) if v.len() == n && v.iter().all(|x| *x > 0) => Ok(v),
                _ => Err(format!("type `{s}` takes {n} positive integer argument(s)")),
            }
        };
        let no_args = |ty: ColumnType| -> Result<ColumnType, String> {
            match args {
                None => Ok(ty),
                Some(_) => Err(format!("type `{base}` takes no arguments")),
            }
        };
        match base {
            "string" | "varchar" => Ok(ColumnType::String(nums(args, 1)?[0])),
            "char" => Ok(ColumnType::Char(nums(args, 1)?[0])),
            "numeric" if args.is_none() => Ok(ColumnType::Numeric),
            "decimal" | "numeric" => {
                // The scale may be 0 (`decimal(10,0)`) but not above the precision.
                let bad =
                    || format!("type `{s}` takes a precision and a scale, e.g. `decimal(10,2)`");
                let a = args.ok_or_else(bad)?;
                let v: Vec<u32> = a
                    .split(',')
                    .map(|x| x.trim().parse::<u32>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad())?;
                match v.as_slice() {
                    [p, sc] if *p > 0 && sc <= p => Ok(ColumnType::Decimal(*p, *sc)),
                    _ => Err(bad()),
                }
            }
            "text" => no_args(ColumnType::Text),
            "smallint" => no_args(ColumnType::SmallInt),
            "integer" | "int" => no_args(ColumnType::Integer),
            "bigint" => no_args(ColumnType::BigInt),
            "boolean" | "bool" => no_args(ColumnType::Boolean),
            "datetime" => no_args(ColumnType::DateTime),
            "date" => no_args(ColumnType::Date),
            "float" => no_args(ColumnType::Float),
            "double" => no_args(ColumnType::Double),
            "json" => no_args(ColumnType::Json),
            "blob" => no_args(ColumnType::Blob),
            "enum" => match args {
                Some(name) if is_identifier(name.trim()) => Ok(ColumnType::Enum {
                    name: Some(name.trim().to_string()),
                    values: Vec::new(),
                }),
                _ => Err(format!(
                    "`{s}`: an enum names its type, e.g. `enum(image_visibility)`, declared under [enums]"
                )),
            },
            _ => Err(format!(
                "unknown type `{s}`; known types: string(n), char(n), text, smallint, integer, bigint, \
                 boolean, datetime, date, float, double, decimal(p,s), numeric, json, blob, enum(name)"
            )),
        }
    }

    /// Whether two values of these types can be compared by a foreign key.
    pub fn fk_compatible(&self, other: &ColumnType) -> bool {
        use ColumnType::*;
        let int = |t: &ColumnType| matches!(t, SmallInt | Integer | BigInt);
        let txt = |t: &ColumnType| matches!(t, String(_) | Char(_));
        (int(self) && int(other)) || (txt(self) && txt(other)) || self == other
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::String(n) => write!(f, "string({n})"),
            ColumnType::Char(n) => write!(f, "char({n})"),
            ColumnType::Text => f.write_str("text"),
            ColumnType::SmallInt => f.write_str("smallint"),
            ColumnType::Integer => f.write_str("integer"),
            ColumnType::BigInt => f.write_str("bigint"),
            ColumnType::Boolean => f.write_str("boolean"),
            ColumnType::DateTime => f.write_str("datetime"),
            ColumnType::Date => f.write_str("date"),
            ColumnType::Float => f.write_str("float"),
            ColumnType::Double => f.write_str("double"),
            ColumnType::Decimal(p, s) => write!(f, "decimal({p},{s})"),
            ColumnType::Numeric => f.write_str("numeric"),
            ColumnType::Json => f.write_str("json"),
            ColumnType::Blob => f.write_str("blob"),
            ColumnType::Enum { name: Some(n), .. } => write!(f, "enum({n})"),
            ColumnType::Enum { name: None, values } => {
                write!(f, "enum[")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "'{v}'")?;
                }
                f.write_str("]")
            }
            ColumnType::Unsupported(s) => write!(f, "unsupported({s})"),
        }
    }
}

pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A server-side default.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum DefaultValue {
    Bool(bool),
    Int(i64),
    /// A string literal (unquoted value).
    Str(String),
    CurrentTimestamp,
    /// Any other SQL expression, kept verbatim.
    Expr(String),
}

impl DefaultValue {
    /// Reads a default under its column's type: `0`/`1`/`'0'`/`'true'` on a boolean column are
    /// booleans, a quoted integer on an integer column is an integer, a number on a text column is
    /// the text of that number.
    pub fn coerced(self, ty: &ColumnType) -> DefaultValue {
        use DefaultValue as D;
        let value = self;
        match ty {
            ColumnType::Boolean => match &value {
                D::Int(0) => D::Bool(false),
                D::Int(1) => D::Bool(true),
                D::Str(s) | D::Expr(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "0" | "f" | "false" => D::Bool(false),
                    "1" | "t" | "true" => D::Bool(true),
                    _ => value,
                },
                _ => value,
            },
            ColumnType::SmallInt | ColumnType::Integer | ColumnType::BigInt => match &value {
                D::Str(s) => s.trim().parse().map_or(value, D::Int),
                D::Bool(b) => D::Int(i64::from(*b)),
                _ => value,
            },
            ColumnType::String(_)
            | ColumnType::Char(_)
            | ColumnType::Text
            | ColumnType::Json
            | ColumnType::Enum { .. } => match value {
                D::Int(n) => D::Str(n.to_string()),
                other => other,
            },
            _ => value,
        }
    }
}

impl fmt::Display for DefaultValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefaultValue::Bool(b) => write!(f, "{b}"),
            DefaultValue::Int(i) => write!(f, "{i}"),
            DefaultValue::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            DefaultValue::CurrentTimestamp => f.write_str("CURRENT_TIMESTAMP"),
            DefaultValue::Expr(e) => f.write_str(e),
        }
    }
}

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
}

impl Schema {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
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
    fn parses_portable_types() {
        assert_eq!(ColumnType::parse("string(36)"), Ok(ColumnType::String(36)));
        assert_eq!(ColumnType::parse("BIGINT"), Ok(ColumnType::BigInt));
        assert_eq!(
            ColumnType::parse("decimal(10, 2)"),
            Ok(ColumnType::Decimal(10, 2))
        );
        assert!(
            ColumnType::parse("string")
                .unwrap_err()
                .contains("needs 1 argument")
        );
        assert!(
            ColumnType::parse("text(3)")
                .unwrap_err()
                .contains("takes no arguments")
        );
        assert!(
            ColumnType::parse("strng(3)")
                .unwrap_err()
                .contains("unknown type")
        );
        assert!(ColumnType::parse("string(0)").is_err());
        assert_eq!(
            ColumnType::parse("decimal(10,0)"),
            Ok(ColumnType::Decimal(10, 0))
        );
        assert!(ColumnType::parse("decimal(2,3)").is_err());
        assert!(ColumnType::parse("enum(a b)").is_err());
    }

    #[test]
    fn type_display_round_trips() {
        for s in [
            "string(36)",
            "text",
            "bigint",
            "boolean",
            "datetime",
            "decimal(10,2)",
            "json",
            "enum(v)",
        ] {
            assert_eq!(ColumnType::parse(s).unwrap().to_string(), s);
        }
    }

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
