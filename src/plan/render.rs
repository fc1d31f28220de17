//! SQL text per dialect for each planned change.
//!
//! sea-query builds the statements it supports on every backend (CREATE/DROP TABLE, CREATE/DROP
//! INDEX, ADD/DROP/RENAME COLUMN, RENAME TABLE, PostgreSQL/MySQL foreign keys). Types are passed
//! as exact SQL text (`ColumnType::custom`) so the DDL is the DDL Glance emits (`BOOL`,
//! `SERIAL`, `TIMESTAMP WITHOUT TIME ZONE`) rather than sea-query's own spellings. What
//! sea-query cannot express (ADD CONSTRAINT UNIQUE/CHECK, PostgreSQL DROP DEFAULT, MySQL's full
//! MODIFY) is written here with the same quoting. sea-query panics on ALTERs SQLite cannot do;
//! the planner never hands it one (those become a table rebuild, see [`super::sqlite_rebuild::statements`]).

use sea_query::{
    Alias, ColumnDef, Expr, ForeignKey as SqForeignKey, ForeignKeyAction, Index as SqIndex,
    MysqlQueryBuilder, PostgresQueryBuilder, SqliteQueryBuilder, Table as SqTable,
    TableAlterStatement, TableCreateStatement,
};

use crate::schema::model::*;
use crate::sql::quote::{literal, quote, quote_list};

/// sea-query writes index and constraint names (`.name(..)`) between quote characters without
/// doubling the quote characters inside them (identifiers passed as `Alias` are escaped): do it
/// here, or a name such as `ix"; DROP TABLE images; --` would end the identifier early.
fn sq_name(dialect: Dialect, name: &str) -> String {
    match dialect {
        Dialect::Mysql => name.replace('`', "``"),
        _ => name.replace('"', "\"\""),
    }
}

/// The column type as Glance's DDL spells it on this dialect.
pub fn sql_type(dialect: Dialect, col: &Column) -> String {
    use ColumnType as T;
    if col.autoincrement && dialect == Dialect::Postgres {
        return match col.ty {
            T::SmallInt => "SMALLSERIAL".into(),
            T::BigInt => "BIGSERIAL".into(),
            _ => "SERIAL".into(),
        };
    }
    match (&col.ty, dialect) {
        (T::String(n), _) => format!("VARCHAR({n})"),
        (T::Char(n), _) => format!("CHAR({n})"),
        (T::Text | T::Json, _) => "TEXT".into(),
        (T::SmallInt, _) => "SMALLINT".into(),
        (T::Integer, _) => "INTEGER".into(),
        (T::BigInt, _) => "BIGINT".into(),
        (T::Boolean, Dialect::Mysql) => "BOOL".into(),
        (T::Boolean, _) => "BOOLEAN".into(),
        (T::DateTime, Dialect::Postgres) => "TIMESTAMP WITHOUT TIME ZONE".into(),
        (T::DateTime, _) => "DATETIME".into(),
        (T::Date, _) => "DATE".into(),
        (T::Float, Dialect::Postgres) => "REAL".into(),
        (T::Float, _) => "FLOAT".into(),
        (T::Double, Dialect::Postgres) => "DOUBLE PRECISION".into(),
        (T::Double, Dialect::Mysql) => "DOUBLE".into(),
        (T::Double, Dialect::Sqlite) => "FLOAT".into(),
        (T::Decimal(p, s), _) => format!("NUMERIC({p}, {s})"),
        (T::Numeric, _) => "NUMERIC".into(),
        (T::Blob, Dialect::Postgres) => "BYTEA".into(),
        (T::Blob, _) => "BLOB".into(),
        (T::Enum { name: Some(n), .. }, Dialect::Postgres) => quote(dialect, n),
        (T::Enum { values, .. }, Dialect::Mysql) => {
            format!(
                "ENUM({})",
                values
                    .iter()
                    .map(|v| literal(dialect, v))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        (T::Enum { values, .. }, _) => {
            format!(
                "VARCHAR({})",
                values.iter().map(|v| v.chars().count()).max().unwrap_or(1)
            )
        }
        (T::Unsupported(s), _) => s.clone(),
    }
}

/// A default as SQL text.
pub fn default_sql(dialect: Dialect, d: &DefaultValue) -> String {
    match (d, dialect) {
        (DefaultValue::Bool(b), Dialect::Sqlite) => if *b { "1" } else { "0" }.to_string(),
        (DefaultValue::Bool(b), _) => b.to_string(),
        (DefaultValue::Int(i), _) => i.to_string(),
        (DefaultValue::Str(s), _) => literal(dialect, s),
        (DefaultValue::CurrentTimestamp, _) => "CURRENT_TIMESTAMP".into(),
        (DefaultValue::Expr(e), _) => e.clone(),
    }
}

fn column_def(dialect: Dialect, col: &Column) -> ColumnDef {
    let mut def = ColumnDef::new(Alias::new(&col.name));
    def.custom(Alias::new(sql_type(dialect, col)));
    if col.nullable {
        // Explicit NULL, as SQLAlchemy writes it for MySQL MODIFY; harmless elsewhere.
        if dialect == Dialect::Mysql {
            def.null();
        }
    } else {
        def.not_null();
    }
    if let Some(d) = &col.default {
        def.default(Expr::cust(default_sql(dialect, d)));
    }
    if col.autoincrement && dialect == Dialect::Mysql {
        def.auto_increment();
    }
    def
}

fn fk_action(a: FkAction) -> ForeignKeyAction {
    match a {
        FkAction::NoAction => ForeignKeyAction::NoAction,
        FkAction::Restrict => ForeignKeyAction::Restrict,
        FkAction::Cascade => ForeignKeyAction::Cascade,
        FkAction::SetNull => ForeignKeyAction::SetNull,
        FkAction::SetDefault => ForeignKeyAction::SetDefault,
    }
}

fn fk_create(
    dialect: Dialect,
    table: &str,
    fk: &ForeignKey,
) -> sea_query::ForeignKeyCreateStatement {
    let mut st = SqForeignKey::create();
    if let Some(n) = &fk.name {
        st.name(sq_name(dialect, n));
    }
    st.from_tbl(Alias::new(table))
        .to_tbl(Alias::new(&fk.ref_table));
    for c in &fk.columns {
        st.from_col(Alias::new(c));
    }
    for c in &fk.ref_columns {
        st.to_col(Alias::new(c));
    }
    // Only non-default actions are written, as SQLAlchemy does.
    if fk.on_delete != FkAction::NoAction {
        st.on_delete(fk_action(fk.on_delete));
    }
    if fk.on_update != FkAction::NoAction {
        st.on_update(fk_action(fk.on_update));
    }
    st
}

fn build_create(dialect: Dialect, st: &TableCreateStatement) -> String {
    match dialect {
        Dialect::Sqlite => st.to_string(SqliteQueryBuilder),
        Dialect::Postgres => st.to_string(PostgresQueryBuilder),
        Dialect::Mysql => st.to_string(MysqlQueryBuilder),
    }
}

fn build_alter(dialect: Dialect, st: &TableAlterStatement) -> String {
    match dialect {
        Dialect::Sqlite => st.to_string(SqliteQueryBuilder),
        Dialect::Postgres => st.to_string(PostgresQueryBuilder),
        Dialect::Mysql => st.to_string(MysqlQueryBuilder),
    }
}

/// `CREATE TABLE` with columns, primary key, unique constraints, the given foreign keys and
/// checks inline; indexes are separate statements ([`create_index`]).
pub fn create_table_as(dialect: Dialect, t: &Table, name: &str, fks: &[ForeignKey]) -> String {
    build_create(dialect, &create_statement(dialect, t, name, fks))
}

/// MySQL/MariaDB: `CREATE TABLE` with the table's indexes inline too (`KEY name (cols)`), as
/// Glance's own schema dump has them. There every DDL statement is an implicit commit and a
/// data-dictionary change, so one statement per new table instead of one per index is most
/// of a fresh `db sync`'s time. PostgreSQL and SQLite have no inline index syntax.
pub fn create_table_indexed(t: &Table, fks: &[ForeignKey]) -> String {
    let mut st = create_statement(Dialect::Mysql, t, &t.name, fks);
    for ix in &t.indexes {
        let mut i = SqIndex::create();
        i.name(sq_name(Dialect::Mysql, &ix.name));
        for c in &ix.columns {
            i.col(Alias::new(c));
        }
        if ix.unique {
            i.unique();
        }
        st.index(&mut i);
    }
    build_create(Dialect::Mysql, &st)
}

fn create_statement(
    dialect: Dialect,
    t: &Table,
    name: &str,
    fks: &[ForeignKey],
) -> TableCreateStatement {
    let mut st = SqTable::create();
    st.table(Alias::new(name));
    for c in &t.columns {
        st.col(column_def(dialect, c));
    }
    if let Some(pk) = &t.primary_key {
        let mut ix = SqIndex::create();
        for c in &pk.columns {
            ix.col(Alias::new(c));
        }
        st.primary_key(&mut ix);
    }
    for u in &t.uniques {
        let mut ix = SqIndex::create();
        ix.unique();
        if let Some(n) = &u.name {
            ix.name(sq_name(dialect, n));
        }
        for c in &u.columns {
            ix.col(Alias::new(c));
        }
        st.index(&mut ix);
    }
    for fk in fks {
        st.foreign_key(&mut fk_create(dialect, name, fk));
    }
    // As the source spelled and ordered them (see `Check::written`).
    let mut checks: Vec<&Check> = t.checks.iter().collect();
    checks.sort_by_key(|c| c.written.as_ref().map_or(usize::MAX, |w| w.position));
    for ck in checks {
        let expr = Expr::cust(ck.ddl_expr().to_string());
        let check = match ck.ddl_name() {
            Some(n) => sea_query::Check::named(Alias::new(n), expr),
            None => sea_query::Check::unnamed(expr),
        };
        st.check(check);
    }
    if dialect == Dialect::Mysql {
        if let Some(e) = &t.mysql.engine {
            st.engine(e);
        }
        if let Some(c) = &t.mysql.charset {
            st.character_set(c);
        }
        if let Some(c) = &t.mysql.collation {
            st.collate(c);
        }
    }
    st
}

pub fn create_table(dialect: Dialect, t: &Table, fks: &[ForeignKey]) -> String {
    create_table_as(dialect, t, &t.name, fks)
}

pub fn create_index(dialect: Dialect, table: &str, ix: &Index) -> String {
    let mut st = SqIndex::create();
    st.name(sq_name(dialect, &ix.name)).table(Alias::new(table));
    for c in &ix.columns {
        st.col(Alias::new(c));
    }
    if ix.unique {
        st.unique();
    }
    match dialect {
        Dialect::Sqlite => st.to_string(SqliteQueryBuilder),
        Dialect::Postgres => st.to_string(PostgresQueryBuilder),
        Dialect::Mysql => st.to_string(MysqlQueryBuilder),
    }
}

pub fn drop_index(dialect: Dialect, table: &str, name: &str) -> String {
    let mut st = SqIndex::drop();
    st.name(sq_name(dialect, name));
    match dialect {
        Dialect::Sqlite => st.to_string(SqliteQueryBuilder),
        Dialect::Postgres => st.to_string(PostgresQueryBuilder),
        Dialect::Mysql => {
            st.table(Alias::new(table));
            st.to_string(MysqlQueryBuilder)
        }
    }
}

pub fn drop_table(dialect: Dialect, table: &str) -> String {
    let st = SqTable::drop().table(Alias::new(table)).to_owned();
    match dialect {
        Dialect::Sqlite => st.to_string(SqliteQueryBuilder),
        Dialect::Postgres => st.to_string(PostgresQueryBuilder),
        Dialect::Mysql => st.to_string(MysqlQueryBuilder),
    }
}

pub fn rename_table(dialect: Dialect, from: &str, to: &str) -> String {
    let st = SqTable::rename()
        .table(Alias::new(from), Alias::new(to))
        .to_owned();
    match dialect {
        Dialect::Sqlite => st.to_string(SqliteQueryBuilder),
        Dialect::Postgres => st.to_string(PostgresQueryBuilder),
        Dialect::Mysql => st.to_string(MysqlQueryBuilder),
    }
}

pub fn add_column(dialect: Dialect, table: &str, col: &Column) -> String {
    let mut st = SqTable::alter();
    st.table(Alias::new(table))
        .add_column(column_def(dialect, col));
    build_alter(dialect, &st)
}

pub fn drop_column(dialect: Dialect, table: &str, col: &str) -> String {
    let mut st = SqTable::alter();
    st.table(Alias::new(table)).drop_column(Alias::new(col));
    build_alter(dialect, &st)
}

pub fn rename_column(dialect: Dialect, table: &str, from: &str, to: &str) -> String {
    let mut st = SqTable::alter();
    st.table(Alias::new(table))
        .rename_column(Alias::new(from), Alias::new(to));
    build_alter(dialect, &st)
}

/// ALTER COLUMN on PostgreSQL / MODIFY on MySQL. Not for SQLite (rebuild instead).
pub fn alter_column(dialect: Dialect, table: &str, from: &Column, to: &Column) -> Vec<String> {
    let t = quote(dialect, table);
    let c = quote(dialect, &to.name);
    match dialect {
        Dialect::Mysql => {
            // MODIFY replaces the whole definition: restate everything.
            let mut def = format!("ALTER TABLE {t} MODIFY {c} {}", sql_type(dialect, to));
            def.push_str(if to.nullable { " NULL" } else { " NOT NULL" });
            if let Some(d) = &to.default {
                def.push_str(&format!(" DEFAULT {}", default_sql(dialect, d)));
            }
            if to.autoincrement {
                def.push_str(" AUTO_INCREMENT");
            }
            vec![def]
        }
        Dialect::Postgres => {
            let mut out = Vec::new();
            if from.ty != to.ty || from.autoincrement != to.autoincrement {
                let ty = sql_type(
                    Dialect::Postgres,
                    &Column {
                        autoincrement: false,
                        ..to.clone()
                    },
                );
                let using = match (&from.ty, &to.ty) {
                    (_, ColumnType::Enum { .. }) | (ColumnType::Enum { .. }, _) => {
                        format!(" USING {c}::text::{ty}")
                    }
                    _ => format!(" USING {c}::{ty}"),
                };
                out.push(format!("ALTER TABLE {t} ALTER COLUMN {c} TYPE {ty}{using}"));
            }
            if from.nullable != to.nullable {
                out.push(format!(
                    "ALTER TABLE {t} ALTER COLUMN {c} {} NOT NULL",
                    if to.nullable { "DROP" } else { "SET" }
                ));
            }
            if from.default != to.default {
                match &to.default {
                    Some(d) => out.push(format!(
                        "ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {}",
                        default_sql(dialect, d)
                    )),
                    None => out.push(format!("ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT")),
                }
            }
            out
        }
        Dialect::Sqlite => Vec::new(),
    }
}

pub fn add_foreign_key(dialect: Dialect, table: &str, fk: &ForeignKey) -> String {
    let st = fk_create(dialect, table, fk);
    match dialect {
        Dialect::Postgres => st.to_string(PostgresQueryBuilder),
        _ => st.to_string(MysqlQueryBuilder),
    }
}

/// `ALTER TABLE t DROP <what> name`: MySQL has a keyword per kind, the others `CONSTRAINT`.
fn drop_named(dialect: Dialect, table: &str, mysql_kind: &str, name: &str) -> String {
    let kind = if dialect == Dialect::Mysql {
        mysql_kind
    } else {
        "CONSTRAINT"
    };
    format!(
        "ALTER TABLE {} DROP {kind} {}",
        quote(dialect, table),
        quote(dialect, name)
    )
}

pub fn drop_foreign_key(dialect: Dialect, table: &str, name: &str) -> String {
    drop_named(dialect, table, "FOREIGN KEY", name)
}

pub fn add_unique(dialect: Dialect, table: &str, u: &Unique) -> String {
    let name = u
        .name
        .as_ref()
        .map(|n| format!("CONSTRAINT {} ", quote(dialect, n)))
        .unwrap_or_default();
    format!(
        "ALTER TABLE {} ADD {name}UNIQUE ({})",
        quote(dialect, table),
        quote_list(dialect, &u.columns)
    )
}

pub fn drop_unique(dialect: Dialect, table: &str, name: &str) -> String {
    // On MySQL a unique constraint is an index.
    drop_named(dialect, table, "INDEX", name)
}

pub fn add_check(dialect: Dialect, table: &str, ck: &Check) -> String {
    let name = ck
        .ddl_name()
        .map(|n| format!("CONSTRAINT {} ", quote(dialect, n)))
        .unwrap_or_default();
    format!(
        "ALTER TABLE {} ADD {name}CHECK ({})",
        quote(dialect, table),
        ck.ddl_expr()
    )
}

pub fn drop_check(dialect: Dialect, table: &str, name: &str) -> String {
    drop_named(dialect, table, "CONSTRAINT", name)
}

pub fn set_primary_key(
    dialect: Dialect,
    table: &str,
    from_name: Option<&str>,
    to: Option<&PrimaryKey>,
) -> Vec<String> {
    let t = quote(dialect, table);
    let mut out = Vec::new();
    match dialect {
        Dialect::Mysql => {
            let mut parts = Vec::new();
            if from_name.is_some() {
                parts.push("DROP PRIMARY KEY".to_string());
            }
            if let Some(pk) = to {
                parts.push(format!(
                    "ADD PRIMARY KEY ({})",
                    quote_list(dialect, &pk.columns)
                ));
            }
            if !parts.is_empty() {
                out.push(format!("ALTER TABLE {t} {}", parts.join(", ")));
            }
        }
        _ => {
            if let Some(n) = from_name {
                out.push(format!(
                    "ALTER TABLE {t} DROP CONSTRAINT {}",
                    quote(dialect, n)
                ));
            }
            if let Some(pk) = to {
                out.push(format!(
                    "ALTER TABLE {t} ADD PRIMARY KEY ({})",
                    quote_list(dialect, &pk.columns)
                ));
            }
        }
    }
    out
}

/// Whether a change of MySQL table options needs a statement ([`table_options`] is not empty):
/// a new engine, or a new charset/collation with a charset to convert to.
pub fn table_options_change(from: &MysqlOptions, to: &MysqlOptions) -> bool {
    (from.engine != to.engine && to.engine.is_some())
        || ((from.charset != to.charset || from.collation != to.collation) && to.charset.is_some())
}

pub fn table_options(table: &str, from: &MysqlOptions, to: &MysqlOptions) -> Vec<String> {
    let t = quote(Dialect::Mysql, table);
    let mut out = Vec::new();
    if from.engine != to.engine
        && let Some(e) = &to.engine
    {
        out.push(format!("ALTER TABLE {t} ENGINE={e}"));
    }
    if (from.charset != to.charset || from.collation != to.collation)
        && let Some(c) = &to.charset
    {
        let coll = to
            .collation
            .as_ref()
            .map(|c| format!(" COLLATE {c}"))
            .unwrap_or_default();
        out.push(format!(
            "ALTER TABLE {t} CONVERT TO CHARACTER SET {c}{coll}"
        ));
    }
    out
}

pub fn create_enum(e: &EnumType) -> String {
    format!(
        "CREATE TYPE {} AS ENUM ({})",
        quote(Dialect::Postgres, &e.name),
        e.values
            .iter()
            .map(|v| literal(Dialect::Postgres, v))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub fn add_enum_value(name: &str, value: &str) -> String {
    format!(
        "ALTER TYPE {} ADD VALUE {}",
        quote(Dialect::Postgres, name),
        literal(Dialect::Postgres, value)
    )
}

pub fn drop_enum(name: &str) -> String {
    format!("DROP TYPE {}", quote(Dialect::Postgres, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glance_types_per_dialect() {
        let mut c = Column::new("id", ColumnType::Integer);
        c.autoincrement = true;
        assert_eq!(sql_type(Dialect::Postgres, &c), "SERIAL");
        assert_eq!(sql_type(Dialect::Mysql, &c), "INTEGER");
        let b = Column::new("deleted", ColumnType::Boolean);
        assert_eq!(sql_type(Dialect::Mysql, &b), "BOOL");
        assert_eq!(sql_type(Dialect::Sqlite, &b), "BOOLEAN");
        let dt = Column::new("created_at", ColumnType::DateTime);
        assert_eq!(
            sql_type(Dialect::Postgres, &dt),
            "TIMESTAMP WITHOUT TIME ZONE"
        );
    }

    #[test]
    fn mysql_modify_restates_the_whole_column() {
        let from = Column::new(
            "visibility",
            ColumnType::Enum {
                name: None,
                values: vec!["a".into(), "b".into()],
            },
        );
        let mut to = from.clone();
        to.nullable = false;
        to.default = Some(DefaultValue::Str("a".into()));
        assert_eq!(
            alter_column(Dialect::Mysql, "images", &from, &to),
            vec!["ALTER TABLE `images` MODIFY `visibility` ENUM('a','b') NOT NULL DEFAULT 'a'"]
        );
        let pg = alter_column(Dialect::Postgres, "images", &from, &to);
        assert_eq!(pg.len(), 2, "{pg:?}");
        assert!(pg[0].ends_with("SET NOT NULL"));
    }
}
