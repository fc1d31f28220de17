//! PostgreSQL: `pg_catalog`, one query each for enum types, tables, columns, constraints,
//! indexes and triggers, all restricted to `current_schema()`. Column lists come back as JSON arrays built
//! by the query itself, so identifiers of any spelling survive the trip.

use std::collections::HashMap;

use super::{Catalog, Found, Row, json_strings, parse_default, unexpected};
use crate::exec::connection::DbError;
use crate::schema::model::{
    Check, Column, ColumnType, Dialect, EnumType, FkAction, ForeignKey, Index, PrimaryKey, Table,
    Trigger, TriggerEvent, TriggerTiming, Unique,
};

/// Ordinary and partitioned tables of the current schema (partitions are part of their parent).
const TABLE_FILTER: &str = "n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
                            AND NOT c.relispartition";

pub(super) async fn read(catalog: &mut Catalog<'_>) -> Result<Found, DbError> {
    let mut found = Found::default();

    // Every enum type of the database, by oid: a column may use one from another schema. Only
    // those of the current schema belong to the schema's `enums`.
    let mut enums_by_oid: HashMap<i64, EnumType> = HashMap::new();
    let mut in_current_schema: Vec<i64> = Vec::new();
    let sql = "SELECT t.oid::bigint, t.typname::text, n.nspname = current_schema(), \
                      e.enumlabel::text \
               FROM pg_type AS t \
               JOIN pg_namespace AS n ON n.oid = t.typnamespace \
               JOIN pg_enum AS e ON e.enumtypid = t.oid \
               ORDER BY t.typname, t.oid, e.enumsortorder";
    for cells in catalog.rows("enum types", sql).await? {
        let row = Row::new(&cells, "enum types");
        let oid = row.int(0)?;
        let label = row.text(3)?;
        if !enums_by_oid.contains_key(&oid) && row.flag(2) {
            in_current_schema.push(oid);
        }
        let name = row.text(1)?;
        enums_by_oid
            .entry(oid)
            .or_insert_with(|| EnumType {
                name,
                values: Vec::new(),
            })
            .values
            .push(label);
    }
    for oid in in_current_schema {
        if let Some(e) = enums_by_oid.get(&oid) {
            found.enums.insert(e.name.clone(), e.clone());
        }
    }

    let sql = format!(
        "SELECT c.relname::text FROM pg_class AS c \
         JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE {TABLE_FILTER}"
    );
    for cells in catalog.rows("tables", &sql).await? {
        let name = Row::new(&cells, "tables").text(0)?;
        found.tables.insert(name.clone(), Table::new(&name));
    }

    read_columns(catalog, &mut found, &enums_by_oid).await?;
    read_constraints(catalog, &mut found).await?;
    read_indexes(catalog, &mut found).await?;
    read_triggers(catalog, &mut found).await?;
    found.enums.sort_keys();
    Ok(found)
}

// `pg_trigger.tgtype` bits (PostgreSQL's `catalog/pg_trigger.h`).
const TRIGGER_ROW: i64 = 1;
const TRIGGER_BEFORE: i64 = 2;
const TRIGGER_INSERT: i64 = 4;
const TRIGGER_DELETE: i64 = 8;
const TRIGGER_UPDATE: i64 = 16;
const TRIGGER_TRUNCATE: i64 = 32;
const TRIGGER_INSTEAD: i64 = 64;

/// User triggers (`NOT tgisinternal`: foreign keys are implemented with internal ones) and
/// the function each runs: its body (`prosrc`) is the trigger's body. What the model has no
/// place for is noted: statement-level triggers, several events, `INSTEAD OF`, `UPDATE OF`
/// columns, a `WHEN` condition, arguments, a disabled trigger, a function in another schema
/// or language.
async fn read_triggers(catalog: &mut Catalog<'_>, found: &mut Found) -> Result<(), DbError> {
    let sql = format!(
        "SELECT c.relname::text, t.tgname::text, t.tgtype::int, p.proname::text, \
                pn.nspname = current_schema(), l.lanname::text, p.prosrc, t.tgnargs::int, \
                t.tgattr::text, t.tgqual IS NOT NULL, t.tgenabled::text, p.pronargs::int \
         FROM pg_trigger AS t \
         JOIN pg_class AS c ON c.oid = t.tgrelid \
         JOIN pg_namespace AS n ON n.oid = c.relnamespace \
         JOIN pg_proc AS p ON p.oid = t.tgfoid \
         JOIN pg_namespace AS pn ON pn.oid = p.pronamespace \
         JOIN pg_language AS l ON l.oid = p.prolang \
         WHERE {TABLE_FILTER} AND NOT t.tgisinternal \
         ORDER BY c.relname, t.tgname"
    );
    const WHAT: &str = "triggers";
    for cells in catalog.rows(WHAT, &sql).await? {
        let row = Row::new(&cells, WHAT);
        let table = row.text(0)?;
        let name = row.text(1)?;
        let bits = row.int(2)?;
        let function = row.text(3)?;
        let mut notes = Vec::new();
        if bits & TRIGGER_ROW == 0 {
            notes.push("fires FOR EACH STATEMENT".to_string());
        }
        let timing = if bits & TRIGGER_INSTEAD != 0 {
            notes.push("fires INSTEAD OF".to_string());
            TriggerTiming::Before
        } else if bits & TRIGGER_BEFORE != 0 {
            TriggerTiming::Before
        } else {
            TriggerTiming::After
        };
        let events: Vec<TriggerEvent> = [
            (TRIGGER_INSERT, TriggerEvent::Insert),
            (TRIGGER_UPDATE, TriggerEvent::Update),
            (TRIGGER_DELETE, TriggerEvent::Delete),
        ]
        .into_iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, e)| e)
        .collect();
        if events.len() != 1 || bits & TRIGGER_TRUNCATE != 0 {
            notes.push("fires on several events, or on TRUNCATE".to_string());
        }
        if !row.flag(4) {
            notes.push(format!("runs function `{function}` of another schema"));
        }
        let language = row.opt_text(5).unwrap_or_default();
        if language != "plpgsql" {
            notes.push(format!("runs a function in language `{language}`"));
        }
        if row.opt_int(7).unwrap_or(0) > 0 || row.opt_int(11).unwrap_or(0) > 0 {
            notes.push("passes arguments to its function".to_string());
        }
        if !row.opt_text(8).unwrap_or_default().trim().is_empty() {
            notes.push("fires on UPDATE OF some columns".to_string());
        }
        if row.flag(9) {
            notes.push("has a WHEN condition".to_string());
        }
        let enabled = row.opt_text(10).unwrap_or_default();
        if enabled != "O" {
            notes.push(format!("is not simply enabled (tgenabled `{enabled}`)"));
        }
        for n in notes {
            found.note(&table, format!("trigger `{name}` {n}"));
        }
        let Some(event) = events.first().copied() else {
            continue;
        };
        let mut trigger = Trigger::new(
            &name,
            &table,
            timing,
            event,
            &row.opt_text(6).unwrap_or_default(),
        );
        trigger.function = Some(function);
        if found.tables.contains_key(&table) {
            found.triggers.push(trigger);
        }
    }
    Ok(())
}

async fn read_columns(
    catalog: &mut Catalog<'_>,
    found: &mut Found,
    enums_by_oid: &HashMap<i64, EnumType>,
) -> Result<(), DbError> {
    let sql = format!(
        "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
                a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, \
                a.attgenerated::text, t.typtype::text, a.atttypid::bigint \
         FROM pg_attribute AS a \
         JOIN pg_class AS c ON c.oid = a.attrelid \
         JOIN pg_namespace AS n ON n.oid = c.relnamespace \
         JOIN pg_type AS t ON t.oid = a.atttypid \
         LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE {TABLE_FILTER} AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY c.relname, a.attnum"
    );
    for cells in catalog.rows("columns", &sql).await? {
        let row = Row::new(&cells, "columns");
        let table = row.text(0)?;
        let name = row.text(1)?;
        let native = row.text(2)?;
        let ty = if row.opt_text(7).as_deref() == Some("e") {
            let e = enums_by_oid.get(&row.int(8)?);
            ColumnType::Enum {
                name: Some(e.map_or_else(|| native.clone(), |e| e.name.clone())),
                values: e.map(|e| e.values.clone()).unwrap_or_default(),
            }
        } else {
            pg_type(&native).unwrap_or_else(|| {
                found.note(&table, format!("column `{name}` has type `{native}`"));
                ColumnType::Unsupported(native.clone())
            })
        };
        let mut column = Column::new(&name, ty);
        column.nullable = !row.flag(3);
        let default = row.opt_text(4);
        let identity = row.opt_text(5).unwrap_or_default();
        let generated = row.opt_text(6).unwrap_or_default();
        if !identity.is_empty() {
            // GENERATED … AS IDENTITY.
            column.autoincrement = true;
        } else if default
            .as_deref()
            .is_some_and(|d| d.trim_start().starts_with("nextval("))
        {
            // SERIAL / BIGSERIAL: an owned sequence feeding the column.
            column.autoincrement = true;
        } else if !generated.is_empty() {
            found.note(
                &table,
                format!(
                    "column `{name}` is generated as {}",
                    default.as_deref().unwrap_or("?")
                ),
            );
        } else {
            column.default = default
                .as_deref()
                .and_then(|d| parse_default(d, &column.ty, Dialect::Postgres));
        }
        if let Some(t) = found.tables.get_mut(&table) {
            t.columns.push(column);
        }
    }
    Ok(())
}

async fn read_constraints(catalog: &mut Catalog<'_>, found: &mut Found) -> Result<(), DbError> {
    // Column names in key order, as JSON (`conkey`/`confkey` are attribute-number arrays).
    let key_names = |key: &str, rel: &str| {
        format!(
            "(SELECT json_agg(a.attname::text ORDER BY k.ord) \
              FROM unnest(con.{key}) WITH ORDINALITY AS k(attnum, ord) \
              JOIN pg_attribute AS a ON a.attrelid = con.{rel} AND a.attnum = k.attnum)::text"
        )
    };
    let sql = format!(
        "SELECT c.relname::text, con.conname::text, con.contype::text, {}, \
                fc.relname::text, fn.nspname = current_schema(), {}, \
                con.confupdtype::text, con.confdeltype::text, con.confmatchtype::text, \
                pg_get_constraintdef(con.oid), con.condeferrable, con.convalidated \
         FROM pg_constraint AS con \
         JOIN pg_class AS c ON c.oid = con.conrelid \
         JOIN pg_namespace AS n ON n.oid = c.relnamespace \
         LEFT JOIN pg_class AS fc ON fc.oid = con.confrelid \
         LEFT JOIN pg_namespace AS fn ON fn.oid = fc.relnamespace \
         WHERE {TABLE_FILTER} AND con.contype IN ('p', 'u', 'f', 'c', 'x') \
         ORDER BY c.relname, con.conname",
        key_names("conkey", "conrelid"),
        key_names("confkey", "confrelid"),
    );
    const WHAT: &str = "constraints";
    for cells in catalog.rows(WHAT, &sql).await? {
        let row = Row::new(&cells, WHAT);
        let table_name = row.text(0)?;
        let name = row.text(1)?;
        let kind = row.text(2)?;
        let columns = match row.opt_text(3) {
            Some(json) => json_strings(&json, WHAT)?,
            None => Vec::new(),
        };
        let definition = row.opt_text(10).unwrap_or_default();
        if row.flag(11) {
            found.note(&table_name, format!("constraint `{name}` is deferrable"));
        }
        if !row.flag(12) {
            found.note(&table_name, format!("constraint `{name}` is NOT VALID"));
        }
        let mut note = None;
        let Some(table) = found.tables.get_mut(&table_name) else {
            continue;
        };
        match kind.as_str() {
            "p" => {
                table.primary_key = Some(PrimaryKey {
                    name: Some(name),
                    columns,
                })
            }
            "u" => {
                if definition.contains("NULLS NOT DISTINCT") {
                    note = Some(format!("unique constraint `{name}` is NULLS NOT DISTINCT"));
                }
                table.uniques.push(Unique {
                    name: Some(name),
                    columns,
                });
            }
            "f" => {
                let ref_table = row.text(4)?;
                if !row.flag(5) {
                    note = Some(format!(
                        "foreign key `{name}` references `{ref_table}` in another schema"
                    ));
                }
                if row.opt_text(9).as_deref() == Some("f") {
                    note = Some(format!("foreign key `{name}` is MATCH FULL"));
                }
                let ref_columns = match row.opt_text(6) {
                    Some(json) => json_strings(&json, WHAT)?,
                    None => Vec::new(),
                };
                table.foreign_keys.push(ForeignKey {
                    name: Some(name),
                    columns,
                    ref_table,
                    ref_columns,
                    on_update: fk_action(&row.opt_text(7).unwrap_or_default())?,
                    on_delete: fk_action(&row.opt_text(8).unwrap_or_default())?,
                });
            }
            "c" => match check_expression(&definition) {
                Some(expr) => table.checks.push(Check {
                    name: Some(name),
                    expr,
                    dialects: None,
                    written: None,
                }),
                None => note = Some(format!("check `{name}` is `{definition}`")),
            },
            _ => note = Some(format!("constraint `{name}` is `{definition}`")),
        }
        if let Some(note) = note {
            found.note(&table_name, note);
        }
    }
    Ok(())
}

/// `CHECK ((deleted = ANY (ARRAY[0, 1])))` → `(deleted = ANY (ARRAY[0, 1]))`: the outer
/// parentheses belong to the CHECK syntax. None for `NO INHERIT` checks (not modelled).
fn check_expression(definition: &str) -> Option<String> {
    let rest = definition.trim().strip_prefix("CHECK")?.trim();
    let rest = rest.strip_suffix("NOT VALID").unwrap_or(rest).trim_end();
    if rest.ends_with("NO INHERIT") {
        return None;
    }
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.trim().to_string())
}

fn fk_action(code: &str) -> Result<FkAction, DbError> {
    Ok(match code {
        "a" => FkAction::NoAction,
        "r" => FkAction::Restrict,
        "c" => FkAction::Cascade,
        "n" => FkAction::SetNull,
        "d" => FkAction::SetDefault,
        other => {
            return Err(unexpected(
                "constraints",
                &format!("unknown foreign key action `{other}`"),
            ));
        }
    })
}

async fn read_indexes(catalog: &mut Catalog<'_>, found: &mut Found) -> Result<(), DbError> {
    // Indexes that implement a PRIMARY KEY, UNIQUE or EXCLUDE constraint are that constraint.
    // Each key column: [column name or "", descending flag, its definition text].
    let sql = format!(
        "SELECT c.relname::text, i.relname::text, ix.indisunique, \
                pg_get_expr(ix.indpred, ix.indrelid), am.amname::text, \
                (SELECT json_agg(json_build_array( \
                            coalesce(a.attname::text, ''), \
                            (ix.indoption[k.n - 1]::int & 1), \
                            pg_get_indexdef(ix.indexrelid, k.n, true)) ORDER BY k.n) \
                 FROM generate_series(1, ix.indnkeyatts::int) AS k(n) \
                 LEFT JOIN pg_attribute AS a \
                   ON a.attrelid = ix.indrelid AND a.attnum = ix.indkey[k.n - 1] \
                  AND ix.indkey[k.n - 1] <> 0)::text, \
                ix.indnatts > ix.indnkeyatts \
         FROM pg_index AS ix \
         JOIN pg_class AS i ON i.oid = ix.indexrelid \
         JOIN pg_class AS c ON c.oid = ix.indrelid \
         JOIN pg_namespace AS n ON n.oid = c.relnamespace \
         JOIN pg_am AS am ON am.oid = i.relam \
         WHERE {TABLE_FILTER} \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint AS con \
                           WHERE con.conindid = ix.indexrelid AND con.conrelid = ix.indrelid \
                             AND con.contype IN ('p', 'u', 'x')) \
         ORDER BY c.relname, i.relname"
    );
    const WHAT: &str = "indexes";
    for cells in catalog.rows(WHAT, &sql).await? {
        let row = Row::new(&cells, WHAT);
        let table = row.text(0)?;
        let name = row.text(1)?;
        let mut columns = Vec::new();
        let keys: Vec<serde_json::Value> =
            serde_json::from_str(&row.opt_text(5).unwrap_or_else(|| "[]".into()))
                .map_err(|e| unexpected(WHAT, &format!("bad key list: {e}")))?;
        for key in keys {
            let column = key.get(0).and_then(|v| v.as_str()).unwrap_or_default();
            let definition = key.get(2).and_then(|v| v.as_str()).unwrap_or_default();
            if column.is_empty() {
                found.note(
                    &table,
                    format!("index `{name}` is on the expression `{definition}`"),
                );
                columns.push(definition.to_string());
            } else {
                columns.push(column.to_string());
            }
            if key.get(1).and_then(|v| v.as_i64()) == Some(1) {
                found.note(
                    &table,
                    format!("index `{name}` orders `{column}` descending"),
                );
            }
        }
        if let Some(predicate) = row.opt_text(3) {
            found.note(
                &table,
                format!("index `{name}` is partial: WHERE {predicate}"),
            );
        }
        let method = row.opt_text(4).unwrap_or_default();
        if method != "btree" {
            found.note(&table, format!("index `{name}` uses method `{method}`"));
        }
        if row.flag(6) {
            found.note(&table, format!("index `{name}` has INCLUDE columns"));
        }
        if let Some(t) = found.tables.get_mut(&table) {
            t.indexes.push(Index {
                name,
                columns,
                unique: row.flag(2),
                dialects: None,
            });
        }
    }
    Ok(())
}

/// Maps `format_type()` output onto the model.
fn pg_type(native: &str) -> Option<ColumnType> {
    let (base, args) = match native.find('(') {
        Some(open) => {
            let close = native[open..].find(')')? + open;
            let args: Option<Vec<u32>> = native[open + 1..close]
                .split(',')
                .map(|a| a.trim().parse().ok())
                .collect();
            let rest = native[close + 1..].trim();
            let base = format!("{} {rest}", native[..open].trim());
            (base.trim().to_string(), args?)
        }
        None => (native.trim().to_string(), Vec::new()),
    };
    Some(match (base.as_str(), args.as_slice()) {
        ("character varying", [n]) => ColumnType::String(*n),
        ("character", [n]) => ColumnType::Char(*n),
        ("text", []) => ColumnType::Text,
        ("smallint", []) => ColumnType::SmallInt,
        ("integer", []) => ColumnType::Integer,
        ("bigint", []) => ColumnType::BigInt,
        ("boolean", []) => ColumnType::Boolean,
        // The default precision of TIMESTAMP is 6, written out or not.
        ("timestamp without time zone", [] | [6]) => ColumnType::DateTime,
        ("date", []) => ColumnType::Date,
        ("numeric", []) => ColumnType::Numeric,
        ("numeric", [p, s]) => ColumnType::Decimal(*p, *s),
        ("numeric", [p]) => ColumnType::Decimal(*p, 0),
        ("double precision", []) => ColumnType::Double,
        ("real", []) => ColumnType::Float,
        ("bytea", []) => ColumnType::Blob,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_type_names() {
        assert_eq!(
            pg_type("character varying(36)"),
            Some(ColumnType::String(36))
        );
        assert_eq!(pg_type("character(2)"), Some(ColumnType::Char(2)));
        assert_eq!(
            pg_type("timestamp without time zone"),
            Some(ColumnType::DateTime)
        );
        assert_eq!(
            pg_type("timestamp(6) without time zone"),
            Some(ColumnType::DateTime)
        );
        assert_eq!(pg_type("timestamp(3) without time zone"), None);
        assert_eq!(pg_type("timestamp with time zone"), None);
        assert_eq!(pg_type("numeric(10,2)"), Some(ColumnType::Decimal(10, 2)));
        assert_eq!(pg_type("numeric"), Some(ColumnType::Numeric));
        assert_eq!(pg_type("character varying"), None);
        assert_eq!(pg_type("integer[]"), None);
        assert_eq!(pg_type("tsvector"), None);
    }

    #[test]
    fn check_definitions() {
        assert_eq!(
            check_expression("CHECK ((deleted = ANY (ARRAY[0, 1])))"),
            Some("(deleted = ANY (ARRAY[0, 1]))".into())
        );
        assert_eq!(
            check_expression("CHECK ((a > 0)) NOT VALID"),
            Some("(a > 0)".into())
        );
        assert_eq!(check_expression("CHECK ((a > 0)) NO INHERIT"), None);
    }
}
