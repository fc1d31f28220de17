//! Reads the live schema of a database into the model, in the *resolved* form for its dialect:
//! what [`Schema::resolve`](crate::schema::model::Schema::resolve) of a portable snapshot gives for the
//! same DDL (SQLite `VARCHAR(9)` for an enum, MySQL `ENUM(...)` without a type name, …). Names are
//! reported as the database holds them, generated ones included; `crate::normalize` decides which
//! names matter.
//!
//! One query per object kind (tables, columns, indexes, foreign keys, checks, enums, triggers),
//! never one per table: introspection cost stays flat as the schema grows
//! (`../shared/prior-art.md` §4.1).
//! Each query covers every table of the current schema and is filtered and grouped in Rust, so no
//! table name is ever spliced into SQL.
//!
//! Why not sea-schema's discovery: it issues several queries per table and, on the servers we
//! target, misses or mangles what a schema diff needs (`docs/sea-schema.md`): no CHECK
//! constraints on SQLite and MariaDB, no non-unique indexes on PostgreSQL, lost SQLite constraint
//! names and PK column order, wrong SQLite defaults (`'it''s'` → `its`), no partial-index
//! predicates, and a syntax error on a table named `o'brien`. The catalogs are read directly:
//! `pg_catalog` on PostgreSQL, `information_schema` on MariaDB/MySQL, `sqlite_master` joined with
//! the PRAGMA table functions on SQLite.
//!
//! Anything the model cannot represent (a `tsvector` column, a partial or expression index, a
//! prefix index, …) is kept as well as possible and listed in [`Introspected::unsupported`], so
//! the engine can refuse to touch it instead of silently mangling it.

mod mysql;
mod postgres;
mod sqlite;
pub mod sqlite_ddl;

use indexmap::IndexMap;

use crate::exec::connection::{Conn, DbError, DbErrorKind, Rows, Value};
use crate::schema::model::{ColumnType, DefaultValue, Dialect, Schema, Table};
use crate::sql::lexer::{self, Token};

/// The result of reading a database's schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Introspected {
    /// Every base table of the current database/schema (PostgreSQL `current_schema()`, MySQL
    /// `DATABASE()`, SQLite `main`), in name order; no views. Bookkeeping tables such as
    /// `alembic_version` are included: callers filter them.
    pub schema: Schema,
    /// Human-readable notes about objects that could not be mapped onto the model, e.g.
    /// "table `t`: column `c` has type `tsvector`".
    pub unsupported: Vec<String>,
    /// Number of SQL queries issued; constant in the number of tables.
    pub queries: usize,
}

/// Reads the schema `conn` is connected to.
pub async fn introspect(conn: &mut Conn) -> Result<Introspected, DbError> {
    let dialect = conn.dialect();
    let mut catalog = Catalog { conn, queries: 0 };
    let mut found = match dialect {
        Dialect::Sqlite => sqlite::read(&mut catalog).await?,
        Dialect::Postgres => postgres::read(&mut catalog).await?,
        Dialect::Mysql => mysql::read(&mut catalog).await?,
    };
    found.tables.sort_keys();
    for table in found.tables.values_mut() {
        sort_table(table);
    }
    found.unsupported.sort();
    found.unsupported.dedup();
    Ok(Introspected {
        schema: Schema {
            enums: found.enums,
            tables: found.tables,
            triggers: found.triggers,
        },
        unsupported: found.unsupported,
        queries: catalog.queries,
    })
}

/// Deterministic order of a table's constraint lists (columns keep their ordinal order).
fn sort_table(t: &mut Table) {
    t.uniques
        .sort_by(|a, b| (&a.columns, &a.name).cmp(&(&b.columns, &b.name)));
    t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    t.foreign_keys.sort_by(|a, b| {
        (&a.columns, &a.ref_table, &a.ref_columns, &a.name).cmp(&(
            &b.columns,
            &b.ref_table,
            &b.ref_columns,
            &b.name,
        ))
    });
    t.checks
        .sort_by(|a, b| (&a.name, &a.expr).cmp(&(&b.name, &b.expr)));
}

/// What a backend reader collects.
#[derive(Default)]
struct Found {
    enums: IndexMap<String, crate::schema::model::EnumType>,
    tables: IndexMap<String, Table>,
    triggers: Vec<crate::schema::model::Trigger>,
    unsupported: Vec<String>,
}

impl Found {
    fn note(&mut self, table: &str, what: impl std::fmt::Display) {
        self.unsupported.push(format!("table `{table}`: {what}"));
    }
}

/// The connection plus a count of the queries issued through it.
struct Catalog<'c> {
    conn: &'c mut Conn,
    queries: usize,
}

impl Catalog<'_> {
    /// Runs one catalog query; `what` names the object kind for error messages.
    async fn rows(&mut self, what: &str, sql: &str) -> Result<Rows, DbError> {
        self.queries += 1;
        self.conn
            .query(sql)
            .await
            .map_err(|e| DbError::statement(&format!("cannot read the {what} of the schema"), e))
    }
}

/// Typed access to a catalog row, with errors instead of panics when the catalog answers in a
/// shape we did not expect.
struct Row<'r> {
    cells: &'r [Value],
    what: &'static str,
}

impl<'r> Row<'r> {
    fn new(cells: &'r [Value], what: &'static str) -> Row<'r> {
        Row { cells, what }
    }

    fn cell(&self, i: usize) -> &Value {
        self.cells.get(i).unwrap_or(&Value::Null)
    }

    /// A non-null text cell.
    fn text(&self, i: usize) -> Result<String, DbError> {
        self.cell(i)
            .text()
            .ok_or_else(|| unexpected(self.what, &format!("column {i} is NULL")))
    }

    fn opt_text(&self, i: usize) -> Option<String> {
        self.cell(i).text()
    }

    fn int(&self, i: usize) -> Result<i64, DbError> {
        self.cell(i)
            .as_i64()
            .ok_or_else(|| unexpected(self.what, &format!("column {i} is not a number")))
    }

    fn opt_int(&self, i: usize) -> Option<i64> {
        self.cell(i).as_i64()
    }

    /// A boolean cell, whatever the driver made of it (bool, 0/1, 't'/'f', 'YES'/'NO').
    fn flag(&self, i: usize) -> bool {
        match self.cell(i) {
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Float(f) => *f != 0.0,
            Value::Text(s) => matches!(
                s.trim().to_ascii_lowercase().as_str(),
                "1" | "t" | "true" | "yes" | "y"
            ),
            Value::Null => false,
        }
    }
}

/// An error for a catalog answer of an unexpected shape.
fn unexpected(what: &str, detail: &str) -> DbError {
    DbError {
        message: format!("unexpected answer while reading the {what} of the schema: {detail}"),
        help: None,
        code: None,
        kind: DbErrorKind::Statement,
    }
}

/// Parses a JSON array of strings produced by the catalog query itself (PostgreSQL `json_agg`),
/// which carries identifiers of any spelling safely.
fn json_strings(text: &str, what: &str) -> Result<Vec<String>, DbError> {
    serde_json::from_str::<Vec<String>>(text)
        .map_err(|e| unexpected(what, &format!("bad JSON list `{text}`: {e}")))
}

/// Maps the SQL text of a column default onto the model: literals become values, the
/// current-time functions become [`DefaultValue::CurrentTimestamp`], `NULL` means no default,
/// anything else is kept verbatim as an expression. PostgreSQL casts on a literal
/// (`'shared'::image_visibility`) are dropped. The value is then read under the column type
/// (`0` on a boolean column is `false`).
fn parse_default(sql: &str, ty: &ColumnType, dialect: Dialect) -> Option<DefaultValue> {
    let text = sql.trim();
    let tokens: Vec<Token> = lexer::tokenize(text, dialect)
        .into_iter()
        .map(|s| s.token)
        .collect();
    let mut tokens = tokens.as_slice();
    // `DEFAULT (0)` is stored with its parentheses on SQLite.
    while tokens.len() >= 2
        && tokens[0].is_punct("(")
        && tokens[tokens.len() - 1].is_punct(")")
        && wraps_whole(tokens)
    {
        tokens = &tokens[1..tokens.len() - 1];
    }
    // A literal followed by casts: keep the literal.
    if tokens.len() >= 3 && tokens[1].is_punct("::") {
        tokens = &tokens[..1];
    }
    let value = match tokens {
        [] => return None,
        [Token::Word(w)] if w.eq_ignore_ascii_case("null") => return None,
        [Token::Word(w)] if w.eq_ignore_ascii_case("true") => DefaultValue::Bool(true),
        [Token::Word(w)] if w.eq_ignore_ascii_case("false") => DefaultValue::Bool(false),
        [Token::Word(w)] if is_current_timestamp(w) => DefaultValue::CurrentTimestamp,
        [Token::Word(w), open, close]
            if (is_current_timestamp(w) || w.eq_ignore_ascii_case("now"))
                && open.is_punct("(")
                && close.is_punct(")") =>
        {
            DefaultValue::CurrentTimestamp
        }
        [Token::Str(s)] => DefaultValue::Str(s.clone()),
        [Token::Number(n)] => n
            .parse()
            .map_or_else(|_| DefaultValue::Expr(n.clone()), DefaultValue::Int),
        [sign, Token::Number(n)] if sign.is_punct("-") => format!("-{n}")
            .parse()
            .map_or_else(|_| DefaultValue::Expr(text.to_string()), DefaultValue::Int),
        _ => DefaultValue::Expr(text.to_string()),
    };
    Some(value.coerced(ty))
}

fn is_current_timestamp(word: &str) -> bool {
    word.eq_ignore_ascii_case("current_timestamp")
}

/// Whether the first token (an opening parenthesis) is closed by the last one.
fn wraps_whole(tokens: &[Token]) -> bool {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return i == tokens.len() - 1;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_from_each_catalog() {
        use ColumnType as T;
        use DefaultValue as D;
        let pg = |s, t: &T| parse_default(s, t, Dialect::Postgres);
        let vis = T::Enum {
            name: Some("image_visibility".into()),
            values: vec![],
        };
        assert_eq!(
            pg("'shared'::image_visibility", &vis),
            Some(D::Str("shared".into()))
        );
        assert_eq!(
            pg("'active'::character varying", &T::String(30)),
            Some(D::Str("active".into()))
        );
        assert_eq!(pg("false", &T::Boolean), Some(D::Bool(false)));
        assert_eq!(pg("'-1'::integer", &T::Integer), Some(D::Int(-1)));
        assert_eq!(pg("now()", &T::DateTime), Some(D::CurrentTimestamp));
        assert_eq!(
            pg("CURRENT_TIMESTAMP", &T::DateTime),
            Some(D::CurrentTimestamp)
        );
        assert_eq!(pg("NULL::character varying", &T::String(3)), None);
        assert_eq!(
            pg("gen_random_uuid()", &T::Text),
            Some(D::Expr("gen_random_uuid()".into()))
        );
        let my = |s, t: &T| parse_default(s, t, Dialect::Mysql);
        assert_eq!(my("NULL", &T::String(3)), None);
        assert_eq!(my("0", &T::Boolean), Some(D::Bool(false)));
        assert_eq!(my("'it''s'", &T::Text), Some(D::Str("it's".into())));
        assert_eq!(
            my("current_timestamp()", &T::DateTime),
            Some(D::CurrentTimestamp)
        );
        let lite = |s, t: &T| parse_default(s, t, Dialect::Sqlite);
        assert_eq!(lite("'0'", &T::Boolean), Some(D::Bool(false)));
        assert_eq!(lite("(1)", &T::Integer), Some(D::Int(1)));
        assert_eq!(lite("-5", &T::Integer), Some(D::Int(-5)));
        assert_eq!(lite("'5'", &T::BigInt), Some(D::Int(5)));
        assert_eq!(lite("0.5", &T::Double), Some(D::Expr("0.5".into())));
        assert_eq!(
            lite("(datetime('now'))", &T::DateTime),
            Some(D::Expr("(datetime('now'))".into()))
        );
    }
}
