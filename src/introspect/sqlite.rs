//! SQLite: `sqlite_master` joined with the PRAGMA table functions (`pragma_table_xinfo`,
//! `pragma_index_list`, `pragma_index_xinfo`, `pragma_foreign_key_list`), one query per object
//! kind. CHECK constraints and constraint names exist only in the `CREATE TABLE` text, which
//! [`super::sqlite_ddl`] parses.

use std::collections::HashMap;

use super::sqlite_ddl::{TableDdl, parse_create_table, parse_create_trigger};
use super::{Catalog, Found, Row, parse_default};
use crate::exec::connection::DbError;
use crate::schema::model::{
    Check, Column, ColumnType, Dialect, FkAction, ForeignKey, Index, PrimaryKey, Table, Trigger,
    Unique,
};

/// Base tables of `main`: not SQLite's own (`sqlite_sequence`, `sqlite_stat1`), not virtual
/// tables (their PRAGMAs can fail when the module is not loaded), not views.
const TABLE_FILTER: &str = "m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                            AND coalesce(m.sql, '') NOT LIKE 'CREATE VIRTUAL%'";

pub(super) async fn read(catalog: &mut Catalog<'_>) -> Result<Found, DbError> {
    let mut found = Found::default();
    let mut ddl: HashMap<String, TableDdl> = HashMap::new();

    let sql = format!("SELECT m.name, m.sql FROM sqlite_master AS m WHERE {TABLE_FILTER}");
    for cells in catalog.rows("tables", &sql).await? {
        let row = Row::new(&cells, "tables");
        let name = row.text(0)?;
        let parsed = parse_create_table(&row.opt_text(1).unwrap_or_default());
        if !parsed.parsed {
            found.note(&name, "its CREATE TABLE statement could not be parsed");
        }
        ddl.insert(name.clone(), parsed);
        found.tables.insert(name.clone(), Table::new(&name));
    }

    read_columns(catalog, &mut found, &ddl).await?;
    read_indexes(catalog, &mut found, &ddl).await?;
    read_foreign_keys(catalog, &mut found, &ddl).await?;
    read_triggers(catalog, &mut found).await?;

    for (name, table_ddl) in &ddl {
        let Some(table) = found.tables.get_mut(name) else {
            continue;
        };
        table.checks = table_ddl
            .checks
            .iter()
            .map(|c| Check {
                name: c.name.clone(),
                expr: c.expr.clone(),
                dialects: None,
                written: None,
            })
            .collect();
    }
    Ok(found)
}

/// Triggers exist only as their `CREATE TRIGGER` text (temporary ones live in `temp`, not
/// `main`, and are not part of the schema).
async fn read_triggers(catalog: &mut Catalog<'_>, found: &mut Found) -> Result<(), DbError> {
    let sql = "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY tbl_name, name";
    for cells in catalog.rows("triggers", sql).await? {
        let row = Row::new(&cells, "triggers");
        let name = row.text(0)?;
        let table = row.text(1)?;
        if !found.tables.contains_key(&table) {
            continue; // a view's INSTEAD OF trigger
        }
        let Some(ddl) = parse_create_trigger(&row.opt_text(2).unwrap_or_default()) else {
            found.note(&table, format!("trigger `{name}` could not be parsed"));
            continue;
        };
        if ddl.update_of {
            found.note(
                &table,
                format!("trigger `{name}` fires on UPDATE OF some columns"),
            );
        }
        let Some(timing) = ddl.timing else {
            found.note(&table, format!("trigger `{name}` fires INSTEAD OF"));
            continue;
        };
        found
            .triggers
            .push(Trigger::new(&name, &table, timing, ddl.event, &ddl.body));
    }
    Ok(())
}

async fn read_columns(
    catalog: &mut Catalog<'_>,
    found: &mut Found,
    ddl: &HashMap<String, TableDdl>,
) -> Result<(), DbError> {
    let sql = format!(
        "SELECT m.name, p.cid, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk, p.hidden \
         FROM sqlite_master AS m JOIN pragma_table_xinfo(m.name) AS p \
         WHERE {TABLE_FILTER} ORDER BY m.name, p.cid"
    );
    // (table) -> [(pk position, column name, declared type)]
    let mut pk_parts: HashMap<String, Vec<(i64, String, String)>> = HashMap::new();
    for cells in catalog.rows("columns", &sql).await? {
        let row = Row::new(&cells, "columns");
        let table_name = row.text(0)?;
        let name = row.text(2)?;
        let declared = row.opt_text(3).unwrap_or_default();
        let ty = sqlite_type(&declared).unwrap_or_else(|| {
            found.note(
                &table_name,
                format!("column `{name}` has type `{declared}`"),
            );
            ColumnType::Unsupported(declared.clone())
        });
        let mut column = Column::new(&name, ty);
        column.nullable = !row.flag(4);
        column.default = row
            .opt_text(5)
            .and_then(|d| parse_default(&d, &column.ty, Dialect::Sqlite));
        let pk_position = row.opt_int(6).unwrap_or(0);
        if pk_position > 0 {
            pk_parts.entry(table_name.clone()).or_default().push((
                pk_position,
                name.clone(),
                declared,
            ));
        }
        if matches!(row.opt_int(7), Some(2) | Some(3)) {
            found.note(
                &table_name,
                format!("column `{name}` is a generated column"),
            );
        }
        if let Some(table) = found.tables.get_mut(&table_name) {
            table.columns.push(column);
        }
    }

    for (table_name, mut parts) in pk_parts {
        parts.sort();
        let Some(table) = found.tables.get_mut(&table_name) else {
            continue;
        };
        let without_rowid = ddl.get(&table_name).is_some_and(|d| d.without_rowid);
        // A single-column primary key declared exactly `INTEGER` is an alias of the rowid:
        // SQLite assigns it automatically and it can never hold NULL.
        if let [(_, column, declared)] = parts.as_slice()
            && declared.trim().eq_ignore_ascii_case("INTEGER")
            && !without_rowid
            && let Some(c) = table.column_mut(column)
        {
            c.autoincrement = true;
            c.nullable = false;
        }
        table.primary_key = Some(PrimaryKey {
            name: None,
            columns: parts.into_iter().map(|(_, c, _)| c).collect(),
        });
    }
    Ok(())
}

async fn read_indexes(
    catalog: &mut Catalog<'_>,
    found: &mut Found,
    ddl: &HashMap<String, TableDdl>,
) -> Result<(), DbError> {
    let sql = format!(
        "SELECT m.name, il.name, il.\"unique\", il.origin, il.partial, ii.cid, ii.name, \
                ii.\"desc\", ii.coll, s.sql \
         FROM sqlite_master AS m \
         JOIN pragma_index_list(m.name) AS il \
         JOIN pragma_index_xinfo(il.name) AS ii \
         LEFT JOIN sqlite_master AS s ON s.type = 'index' AND s.name = il.name \
         WHERE {TABLE_FILTER} AND ii.key = 1 \
         ORDER BY m.name, il.name, ii.seqno"
    );
    struct RawIndex {
        table: String,
        name: String,
        unique: bool,
        origin: String,
        partial: bool,
        columns: Vec<String>,
        sql: Option<String>,
    }
    let mut indexes: Vec<RawIndex> = Vec::new();
    for cells in catalog.rows("indexes", &sql).await? {
        let row = Row::new(&cells, "indexes");
        let table = row.text(0)?;
        let name = row.text(1)?;
        let column = match row.opt_text(6) {
            Some(c) => c,
            None => {
                // cid -2: an expression; cid -1: the rowid.
                let what = if row.opt_int(5) == Some(-1) {
                    "rowid"
                } else {
                    "an expression"
                };
                found.note(&table, format!("index `{name}` is on {what}"));
                format!("<{what}>")
            }
        };
        if row.flag(7) {
            found.note(
                &table,
                format!("index `{name}` orders column `{column}` descending"),
            );
        }
        if let Some(coll) = row.opt_text(8)
            && !coll.eq_ignore_ascii_case("BINARY")
        {
            found.note(
                &table,
                format!("index `{name}` uses collation `{coll}` on `{column}`"),
            );
        }
        match indexes.last_mut() {
            Some(last) if last.table == table && last.name == name => last.columns.push(column),
            _ => indexes.push(RawIndex {
                table,
                name,
                unique: row.flag(2),
                origin: row.opt_text(3).unwrap_or_default(),
                partial: row.flag(4),
                columns: vec![column],
                sql: row.opt_text(9),
            }),
        }
    }

    // Unique constraints are matched to their declarations by columns to recover the names.
    let mut declared_uniques: HashMap<&str, Vec<Option<&super::sqlite_ddl::DdlUnique>>> = ddl
        .iter()
        .map(|(t, d)| (t.as_str(), d.uniques.iter().map(Some).collect()))
        .collect();
    for index in indexes {
        if index.partial {
            let text = index.sql.as_deref().unwrap_or("");
            found.note(
                &index.table,
                format!("index `{}` is partial: {text}", index.name),
            );
        }
        let Some(table) = found.tables.get_mut(&index.table) else {
            continue;
        };
        match index.origin.as_str() {
            "pk" => {}
            "u" => {
                let name = declared_uniques
                    .get_mut(index.table.as_str())
                    .and_then(|decls| {
                        decls
                            .iter_mut()
                            .find(|d| d.is_some_and(|d| same_names(&d.columns, &index.columns)))
                    })
                    .and_then(Option::take)
                    .and_then(|d| d.name.clone());
                table.uniques.push(Unique {
                    name,
                    columns: index.columns,
                });
            }
            _ => table.indexes.push(Index {
                name: index.name,
                columns: index.columns,
                unique: index.unique,
                dialects: None,
            }),
        }
    }
    Ok(())
}

async fn read_foreign_keys(
    catalog: &mut Catalog<'_>,
    found: &mut Found,
    ddl: &HashMap<String, TableDdl>,
) -> Result<(), DbError> {
    let sql = format!(
        "SELECT m.name, f.id, f.\"table\", f.\"from\", f.\"to\", f.on_update, f.on_delete, f.\"match\" \
         FROM sqlite_master AS m JOIN pragma_foreign_key_list(m.name) AS f \
         WHERE {TABLE_FILTER} ORDER BY m.name, f.id, f.seq"
    );
    struct RawFk {
        table: String,
        id: i64,
        fk: ForeignKey,
        ref_columns_missing: bool,
    }
    let mut fks: Vec<RawFk> = Vec::new();
    for cells in catalog.rows("foreign keys", &sql).await? {
        let row = Row::new(&cells, "foreign keys");
        let table = row.text(0)?;
        let id = row.int(1)?;
        let from = row.text(3)?;
        let to = row.opt_text(4);
        if let Some(last) = fks.last_mut()
            && last.table == table
            && last.id == id
        {
            last.fk.columns.push(from);
            last.ref_columns_missing |= to.is_none();
            last.fk.ref_columns.extend(to);
            continue;
        }
        let mut action = |i: usize, what: &str| {
            let text = row.opt_text(i).unwrap_or_default();
            FkAction::parse(&text).unwrap_or_else(|| {
                found.note(&table, format!("a foreign key has {what} `{text}`"));
                FkAction::NoAction
            })
        };
        let on_update = action(5, "ON UPDATE");
        let on_delete = action(6, "ON DELETE");
        if let Some(m) = row.opt_text(7)
            && !m.eq_ignore_ascii_case("NONE")
        {
            found.note(&table, format!("a foreign key has MATCH {m}"));
        }
        fks.push(RawFk {
            table: table.clone(),
            id,
            ref_columns_missing: to.is_none(),
            fk: ForeignKey {
                name: None,
                columns: vec![from],
                ref_table: row.text(2)?,
                ref_columns: to.into_iter().collect(),
                on_delete,
                on_update,
            },
        });
    }

    let mut declared: HashMap<&str, Vec<Option<&super::sqlite_ddl::DdlForeignKey>>> = ddl
        .iter()
        .map(|(t, d)| (t.as_str(), d.foreign_keys.iter().map(Some).collect()))
        .collect();
    for RawFk {
        table,
        mut fk,
        ref_columns_missing,
        ..
    } in fks
    {
        if ref_columns_missing {
            // `REFERENCES parent` without a column list means the parent's primary key.
            let parent_pk = found
                .tables
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&fk.ref_table))
                .and_then(|(_, t)| t.primary_key.as_ref())
                .map(|pk| pk.columns.clone());
            match parent_pk {
                Some(cols) => fk.ref_columns = cols,
                None => found.note(
                    &table,
                    format!(
                        "a foreign key references `{}` without columns and that table has no primary key",
                        fk.ref_table
                    ),
                ),
            }
        }
        fk.name = declared
            .get_mut(table.as_str())
            .and_then(|decls| {
                decls.iter_mut().find(|d| {
                    d.is_some_and(|d| {
                        same_names(&d.columns, &fk.columns)
                            && d.ref_table.eq_ignore_ascii_case(&fk.ref_table)
                    })
                })
            })
            .and_then(Option::take)
            .and_then(|d| d.name.clone());
        if let Some(t) = found.tables.get_mut(&table) {
            t.foreign_keys.push(fk);
        }
    }
    Ok(())
}

/// SQLite identifiers are case-insensitive.
fn same_names(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// Maps a declared column type onto the model, by name as SQLAlchemy writes it.
fn sqlite_type(declared: &str) -> Option<ColumnType> {
    let (base, args) = split_type(declared)?;
    let arg = |i: usize| args.get(i).copied();
    Some(match (base.as_str(), args.len()) {
        ("VARCHAR" | "CHARACTER VARYING", 1) => ColumnType::String(arg(0)?),
        ("CHAR" | "CHARACTER", 1) => ColumnType::Char(arg(0)?),
        ("INTEGER" | "INT", 0) => ColumnType::Integer,
        ("BIGINT", 0) => ColumnType::BigInt,
        ("SMALLINT", 0) => ColumnType::SmallInt,
        ("BOOLEAN" | "BOOL", 0) => ColumnType::Boolean,
        ("DATETIME", 0) => ColumnType::DateTime,
        ("DATE", 0) => ColumnType::Date,
        ("TEXT", 0) => ColumnType::Text,
        ("NUMERIC" | "DECIMAL", 0) => ColumnType::Numeric,
        ("NUMERIC" | "DECIMAL", 1) => ColumnType::Decimal(arg(0)?, 0),
        ("NUMERIC" | "DECIMAL", 2) => ColumnType::Decimal(arg(0)?, arg(1)?),
        // SQLite has one 8-byte floating type; a resolved snapshot holds Double for both.
        ("FLOAT" | "REAL" | "DOUBLE" | "DOUBLE PRECISION", 0) => ColumnType::Double,
        ("BLOB", 0) => ColumnType::Blob,
        _ => return None,
    })
}

/// `varchar ( 36 )` → ("VARCHAR", [36]); words upper-cased and single-spaced.
fn split_type(declared: &str) -> Option<(String, Vec<u32>)> {
    let declared = declared.trim();
    let (name, args) = match declared.find('(') {
        Some(open) => {
            let close = declared.rfind(')')?;
            if close != declared.len() - 1 || close < open {
                return None;
            }
            let args: Option<Vec<u32>> = declared[open + 1..close]
                .split(',')
                .map(|a| a.trim().parse().ok())
                .collect();
            (&declared[..open], args?)
        }
        None => (declared, Vec::new()),
    };
    let name = name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    if name.is_empty() {
        return None;
    }
    Some((name, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types() {
        assert_eq!(sqlite_type("VARCHAR(36)"), Some(ColumnType::String(36)));
        assert_eq!(sqlite_type("varchar ( 9 )"), Some(ColumnType::String(9)));
        assert_eq!(sqlite_type("INTEGER"), Some(ColumnType::Integer));
        assert_eq!(sqlite_type("int"), Some(ColumnType::Integer));
        assert_eq!(sqlite_type("BOOLEAN"), Some(ColumnType::Boolean));
        assert_eq!(sqlite_type("NUMERIC"), Some(ColumnType::Numeric));
        assert_eq!(
            sqlite_type("DECIMAL(10, 2)"),
            Some(ColumnType::Decimal(10, 2))
        );
        assert_eq!(sqlite_type("double  precision"), Some(ColumnType::Double));
        assert_eq!(sqlite_type("FLOAT"), Some(ColumnType::Double));
        assert_eq!(sqlite_type("VARCHAR"), None);
        assert_eq!(sqlite_type("TIMESTAMP"), None);
        assert_eq!(sqlite_type(""), None);
        assert_eq!(sqlite_type("VARCHAR(x)"), None);
    }
}
