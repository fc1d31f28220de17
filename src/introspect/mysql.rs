//! MariaDB / MySQL: `information_schema`, restricted to `DATABASE()`. Each object kind is read
//! from a single view where one view holds it (joins between `information_schema` views make
//! the server open every table's metadata once per join on older versions); foreign keys need
//! two views (`KEY_COLUMN_USAGE` for the columns, `REFERENTIAL_CONSTRAINTS` for the actions),
//! which are read separately and joined in Rust.

use std::collections::HashMap;

use super::{Catalog, Found, Row, parse_default};
use crate::exec::connection::DbError;
use crate::schema::model::{
    Check, Column, ColumnType, DefaultValue, Dialect, FkAction, ForeignKey, Index, PrimaryKey,
    Trigger, TriggerEvent, TriggerTiming, Unique,
};
use crate::sql::lexer;

pub(super) async fn read(catalog: &mut Catalog<'_>) -> Result<Found, DbError> {
    let mut found = Found::default();

    let version = catalog
        .rows("server version", "SELECT VERSION()")
        .await?
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.text())
        .unwrap_or_default();
    let mariadb = version.to_ascii_lowercase().contains("mariadb");

    // The charset comes from the table's default collation; COLLATIONS is a small static view.
    let sql = "SELECT t.TABLE_NAME, t.ENGINE, t.TABLE_COLLATION, c.CHARACTER_SET_NAME \
               FROM information_schema.TABLES AS t \
               LEFT JOIN information_schema.COLLATIONS AS c ON c.COLLATION_NAME = t.TABLE_COLLATION \
               WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'";
    let mut table_collation: HashMap<String, String> = HashMap::new();
    for cells in catalog.rows("tables", sql).await? {
        let row = Row::new(&cells, "tables");
        let name = row.text(0)?;
        let mut table = crate::schema::model::Table::new(&name);
        table.mysql.engine = row.opt_text(1);
        table.mysql.collation = row.opt_text(2);
        table.mysql.charset = row.opt_text(3).or_else(|| {
            // A collation name starts with its charset (`utf8mb3_general_ci`).
            table
                .mysql
                .collation
                .as_deref()
                .and_then(|c| c.split('_').next())
                .map(str::to_string)
        });
        if let Some(c) = &table.mysql.collation {
            table_collation.insert(name.clone(), c.clone());
        }
        found.tables.insert(name, table);
    }

    read_columns(catalog, &mut found, &table_collation, mariadb).await?;
    read_indexes(catalog, &mut found).await?;
    read_foreign_keys(catalog, &mut found).await?;
    read_checks(catalog, &mut found, mariadb).await?;
    read_triggers(catalog, &mut found).await?;
    Ok(found)
}

/// `ACTION_STATEMENT` is the body as it was written, from `BEGIN` to the final `END` (or the
/// single statement after `FOR EACH ROW`). Not modelled: `DEFINER`, the `SQL_MODE` of the
/// creating session and `FOLLOWS`/`PRECEDES` ordering.
async fn read_triggers(catalog: &mut Catalog<'_>, found: &mut Found) -> Result<(), DbError> {
    let sql = "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, \
                      ACTION_STATEMENT \
               FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() \
               ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME";
    for cells in catalog.rows("triggers", sql).await? {
        let row = Row::new(&cells, "triggers");
        let table = row.text(0)?;
        let name = row.text(1)?;
        let timing = row.text(2)?;
        let event = row.text(3)?;
        let (Some(timing), Some(event)) =
            (TriggerTiming::parse(&timing), TriggerEvent::parse(&event))
        else {
            found.note(&table, format!("trigger `{name}` fires {timing} {event}"));
            continue;
        };
        if found.tables.contains_key(&table) {
            found
                .triggers
                .push(Trigger::new(&name, &table, timing, event, &row.text(4)?));
        }
    }
    Ok(())
}

async fn read_columns(
    catalog: &mut Catalog<'_>,
    found: &mut Found,
    table_collation: &HashMap<String, String>,
    mariadb: bool,
) -> Result<(), DbError> {
    let sql = "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, \
                      COLLATION_NAME \
               FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
               ORDER BY TABLE_NAME, ORDINAL_POSITION";
    for cells in catalog.rows("columns", sql).await? {
        let row = Row::new(&cells, "columns");
        let table = row.text(0)?;
        if !found.tables.contains_key(&table) {
            continue; // a view's column
        }
        let name = row.text(1)?;
        let native = row.text(2)?;
        let ty = mysql_type(&native).unwrap_or_else(|| {
            found.note(&table, format!("column `{name}` has type `{native}`"));
            ColumnType::Unsupported(native.clone())
        });
        let extra = row.opt_text(5).unwrap_or_default().to_ascii_lowercase();
        let mut column = Column::new(&name, ty);
        column.nullable = row.text(3)? == "YES";
        column.autoincrement = extra.contains("auto_increment");
        column.default = match row.opt_text(4) {
            None => None,
            // MariaDB ≥ 10.2.7 reports the default as SQL text: `'shared'`, `0`, `NULL`,
            // `current_timestamp()`.
            Some(text) if mariadb => parse_default(&text, &column.ty, Dialect::Mysql),
            // MySQL 8 reports a literal's bare value and marks expressions DEFAULT_GENERATED.
            Some(text) if extra.contains("default_generated") => {
                parse_default(&text, &column.ty, Dialect::Mysql)
            }
            Some(text) => Some(mysql8_literal(&text).coerced(&column.ty)),
        };
        if extra.contains("on update") {
            found.note(&table, format!("column `{name}` has `{extra}`"));
        }
        let generated_column = (extra.contains("generated")
            && !extra.contains("default_generated"))
            || extra.contains("persistent");
        if generated_column {
            found.note(&table, format!("column `{name}` is a generated column"));
        }
        if let (Some(col), Some(tab)) = (row.opt_text(6), table_collation.get(&table))
            && &col != tab
        {
            found.note(
                &table,
                format!("column `{name}` has collation `{col}` (the table has `{tab}`)"),
            );
        }
        if let Some(t) = found.tables.get_mut(&table) {
            t.columns.push(column);
        }
    }
    Ok(())
}

/// A MySQL 8 `COLUMN_DEFAULT` that is not an expression: the literal value itself.
fn mysql8_literal(text: &str) -> DefaultValue {
    text.parse()
        .map_or_else(|_| DefaultValue::Str(text.to_string()), DefaultValue::Int)
}

async fn read_indexes(catalog: &mut Catalog<'_>, found: &mut Found) -> Result<(), DbError> {
    let sql = "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, COLLATION, \
                      INDEX_TYPE \
               FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
               ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";
    struct RawIndex {
        table: String,
        name: String,
        unique: bool,
        columns: Vec<String>,
    }
    let mut indexes: Vec<RawIndex> = Vec::new();
    for cells in catalog.rows("indexes", sql).await? {
        let row = Row::new(&cells, "indexes");
        let table = row.text(0)?;
        let name = row.text(1)?;
        let column = match row.opt_text(3) {
            Some(c) => c,
            None => {
                found.note(&table, format!("index `{name}` is on an expression"));
                "<expression>".to_string()
            }
        };
        if let Some(len) = row.opt_int(4) {
            found.note(
                &table,
                format!("index `{name}` indexes a {len}-character prefix of `{column}`"),
            );
        }
        if row.opt_text(5).as_deref() == Some("D") {
            found.note(
                &table,
                format!("index `{name}` orders `{column}` descending"),
            );
        }
        let kind = row.opt_text(6).unwrap_or_default();
        if kind != "BTREE" {
            found.note(&table, format!("index `{name}` is of type {kind}"));
        }
        match indexes.last_mut() {
            Some(last) if last.table == table && last.name == name => last.columns.push(column),
            _ => indexes.push(RawIndex {
                table,
                name,
                unique: row.int(2)? == 0,
                columns: vec![column],
            }),
        }
    }
    for index in indexes {
        let Some(table) = found.tables.get_mut(&index.table) else {
            continue;
        };
        if index.name == "PRIMARY" {
            table.primary_key = Some(PrimaryKey {
                name: Some(index.name),
                columns: index.columns,
            });
        } else if index.unique {
            // MySQL has no UNIQUE constraint distinct from a unique index.
            table.uniques.push(Unique {
                name: Some(index.name),
                columns: index.columns,
            });
        } else {
            table.indexes.push(Index {
                name: index.name,
                columns: index.columns,
                unique: false,
                dialects: None,
            });
        }
    }
    Ok(())
}

async fn read_foreign_keys(catalog: &mut Catalog<'_>, found: &mut Found) -> Result<(), DbError> {
    let sql = "SELECT TABLE_NAME, CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE \
               FROM information_schema.REFERENTIAL_CONSTRAINTS \
               WHERE CONSTRAINT_SCHEMA = DATABASE()";
    let mut actions: HashMap<(String, String), (String, String)> = HashMap::new();
    for cells in catalog.rows("foreign keys", sql).await? {
        let row = Row::new(&cells, "foreign keys");
        actions.insert(
            (row.text(0)?, row.text(1)?),
            (
                row.opt_text(2).unwrap_or_default(),
                row.opt_text(3).unwrap_or_default(),
            ),
        );
    }

    let sql = "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, \
                      REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME, \
                      REFERENCED_TABLE_SCHEMA = DATABASE() \
               FROM information_schema.KEY_COLUMN_USAGE \
               WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL \
               ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION";
    let mut fks: Vec<(String, ForeignKey)> = Vec::new();
    for cells in catalog.rows("foreign key columns", sql).await? {
        let row = Row::new(&cells, "foreign key columns");
        let table = row.text(0)?;
        let name = row.text(1)?;
        let column = row.text(2)?;
        let ref_column = row.text(5)?;
        if let Some((t, fk)) = fks.last_mut()
            && *t == table
            && fk.name.as_deref() == Some(name.as_str())
        {
            fk.columns.push(column);
            fk.ref_columns.push(ref_column);
            continue;
        }
        if !row.flag(6) {
            found.note(
                &table,
                format!(
                    "foreign key `{name}` references a table in database `{}`",
                    row.opt_text(3).unwrap_or_default()
                ),
            );
        }
        let (update, delete) = actions
            .get(&(table.clone(), name.clone()))
            .cloned()
            .unwrap_or_default();
        let mut action = |rule: &str| {
            FkAction::parse(rule).unwrap_or_else(|| {
                found.note(&table, format!("foreign key `{name}` has action `{rule}`"));
                FkAction::NoAction
            })
        };
        let fk = ForeignKey {
            name: Some(name.clone()),
            columns: vec![column],
            ref_table: row.text(4)?,
            ref_columns: vec![ref_column],
            on_update: action(&update),
            on_delete: action(&delete),
        };
        fks.push((table, fk));
    }
    for (table, fk) in fks {
        if let Some(t) = found.tables.get_mut(&table) {
            t.foreign_keys.push(fk);
        }
    }
    Ok(())
}

async fn read_checks(
    catalog: &mut Catalog<'_>,
    found: &mut Found,
    mariadb: bool,
) -> Result<(), DbError> {
    let sql = if mariadb {
        "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = DATABASE()"
    } else {
        // MySQL's CHECK_CONSTRAINTS has no table column; TABLE_CONSTRAINTS maps name → table.
        "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE \
         FROM information_schema.CHECK_CONSTRAINTS AS cc \
         JOIN information_schema.TABLE_CONSTRAINTS AS tc \
           ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA \
          AND tc.CONSTRAINT_NAME = cc.CONSTRAINT_NAME AND tc.CONSTRAINT_TYPE = 'CHECK' \
         WHERE cc.CONSTRAINT_SCHEMA = DATABASE()"
    };
    for cells in catalog.rows("check constraints", sql).await? {
        let row = Row::new(&cells, "check constraints");
        let table = row.text(0)?;
        if let Some(t) = found.tables.get_mut(&table) {
            t.checks.push(Check {
                name: Some(row.text(1)?),
                expr: row.text(2)?,
                dialects: None,
                written: None,
            });
        }
    }
    Ok(())
}

/// Maps `COLUMN_TYPE` onto the model. Display widths (`int(11)`) are ignored, except that
/// `tinyint(1)` is how MySQL spells BOOLEAN.
fn mysql_type(native: &str) -> Option<ColumnType> {
    let t = native.trim().to_ascii_lowercase();
    if t.starts_with("enum(") && t.ends_with(')') {
        return enum_values(native.trim()).map(|values| ColumnType::Enum { name: None, values });
    }
    let (base, args) = match t.find('(') {
        Some(open) => {
            let close = t.rfind(')')?;
            if close != t.len() - 1 {
                return None; // `int(10) unsigned`, `… zerofill`
            }
            let args: Option<Vec<u32>> = t[open + 1..close]
                .split(',')
                .map(|a| a.trim().parse().ok())
                .collect();
            (t[..open].trim(), args?)
        }
        None => (t.as_str(), Vec::new()),
    };
    Some(match (base, args.as_slice()) {
        ("tinyint", [1]) => ColumnType::Boolean,
        ("smallint", [] | [_]) => ColumnType::SmallInt,
        ("int" | "integer", [] | [_]) => ColumnType::Integer,
        ("bigint", [] | [_]) => ColumnType::BigInt,
        ("varchar", [n]) => ColumnType::String(*n),
        ("char", [n]) => ColumnType::Char(*n),
        ("text", []) => ColumnType::Text,
        ("datetime", [] | [0]) => ColumnType::DateTime,
        ("date", []) => ColumnType::Date,
        ("double", []) => ColumnType::Double,
        ("float", []) => ColumnType::Float,
        ("decimal", [p, s]) => ColumnType::Decimal(*p, *s),
        ("blob", []) => ColumnType::Blob,
        _ => return None,
    })
}

/// `enum('a','it''s')` → ["a", "it's"].
fn enum_values(native: &str) -> Option<Vec<String>> {
    let open = native.find('(')?;
    let close = native.rfind(')')?;
    let inner = &native[open + 1..close];
    let tokens = lexer::tokenize(inner, Dialect::Mysql);
    let mut values = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match &t.token {
            lexer::Token::Str(s) if i % 2 == 0 => values.push(s.clone()),
            lexer::Token::Punct(p) if p == "," && i % 2 == 1 => {}
            _ => return None,
        }
    }
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types() {
        assert_eq!(mysql_type("tinyint(1)"), Some(ColumnType::Boolean));
        assert_eq!(mysql_type("tinyint(4)"), None);
        assert_eq!(mysql_type("int(11)"), Some(ColumnType::Integer));
        assert_eq!(mysql_type("int"), Some(ColumnType::Integer));
        assert_eq!(mysql_type("bigint(20)"), Some(ColumnType::BigInt));
        assert_eq!(mysql_type("int(10) unsigned"), None);
        assert_eq!(mysql_type("varchar(36)"), Some(ColumnType::String(36)));
        assert_eq!(
            mysql_type("decimal(10,0)"),
            Some(ColumnType::Decimal(10, 0))
        );
        assert_eq!(mysql_type("mediumtext"), None);
        assert_eq!(mysql_type("longtext"), None);
        assert_eq!(mysql_type("datetime(6)"), None);
        assert_eq!(
            mysql_type("enum('private','public','it''s')"),
            Some(ColumnType::Enum {
                name: None,
                values: vec!["private".into(), "public".into(), "it's".into()]
            })
        );
    }
}
