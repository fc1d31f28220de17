//! The scalar vocabulary of the model: the SQL [`Dialect`]s, portable [`ColumnType`]s (parsed
//! from and printed as the snapshot spelling) and column [`DefaultValue`]s.

use std::fmt;

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

/// Portable column types. After [`Schema::resolve`](super::model::Schema::resolve) only the subset a dialect can hold remains.
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
}
