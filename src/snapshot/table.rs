//! One `[tables.NAME]` section: columns (types, defaults, per-dialect overrides), primary key,
//! indexes, unique constraints, foreign keys and checks, each checked against the table.

use std::collections::HashSet;
use std::ops::Range;

use toml::Spanned;

use super::Locations;
use super::error::{Ctx, SnapshotError};
use super::raw::RawTable;
use crate::schema::model::*;

/// Where a foreign key's target was written: (table, index of the FK, `ref_table` span,
/// `ref_columns` span), for the cross-table pass.
pub(super) type FkSpan = (String, usize, Range<usize>, Range<usize>);

/// Parses and checks one table.
pub(super) fn parse_table(
    cx: &Ctx,
    tname: Spanned<String>,
    raw_table: Spanned<RawTable>,
    schema: &Schema,
    fk_spans: &mut Vec<FkSpan>,
    locs: &mut Locations,
) -> Result<Table, SnapshotError> {
    let tspan = tname.span();
    let tname = tname.into_inner();
    check_ident(cx, &tname, tspan.clone(), "table")?;
    locs.insert(format!("tables.{tname}"), tspan.clone());
    let table_span = raw_table.span();
    let rt = raw_table.into_inner();
    let mut t = Table::new(&tname);
    // Columns that say `nullable = true` explicitly: a key column may omit it (NOT NULL is
    // implied, as in SQL) but may not contradict the key.
    let mut explicitly_nullable: HashSet<String> = HashSet::new();
    t.renamed_from = rt.renamed_from;
    if let Some(m) = rt.mysql {
        t.mysql = MysqlOptions {
            engine: m.engine,
            charset: m.charset,
            collation: m.collation,
        };
    }
    if rt.columns.is_empty() {
        return Err(cx.err(table_span, format!("table `{tname}` has no columns")));
    }
    for rc in rt.columns {
        let cspan = rc.span();
        let rc = rc.into_inner();
        let cname = rc.name.get_ref().clone();
        check_ident(cx, &cname, rc.name.span(), "column")?;
        locs.insert(format!("tables.{tname}.columns.{cname}"), cspan.clone());
        if t.has_column(&cname) {
            return Err(cx.err(
                rc.name.span(),
                format!("duplicate column `{cname}` in table `{tname}`"),
            ));
        }
        let ty = parse_type(cx, &rc.ty, schema)?;
        let mut col = Column::new(&cname, ty);
        col.nullable = rc.nullable.unwrap_or(true);
        if rc.nullable == Some(true) {
            explicitly_nullable.insert(cname.clone());
        }
        col.autoincrement = rc.autoincrement;
        col.renamed_from = rc.renamed_from;
        if let Some(d) = &rc.default {
            col.default = Some(parse_default(cx, d, &col.ty)?);
        }
        for (dialect, ov) in [
            (Dialect::Sqlite, rc.sqlite),
            (Dialect::Postgres, rc.postgresql),
            (Dialect::Mysql, rc.mysql),
        ] {
            let Some(ov) = ov else { continue };
            let ov = ov.into_inner();
            let oty = match &ov.ty {
                Some(t) => Some(parse_type(cx, t, schema)?),
                None => None,
            };
            let odef = match &ov.default {
                Some(d) => Some(Some(parse_default(cx, d, oty.as_ref().unwrap_or(&col.ty))?)),
                None => None,
            };
            col.overrides.insert(
                dialect,
                ColumnOverride {
                    ty: oty,
                    nullable: ov.nullable,
                    default: odef,
                },
            );
        }
        if rc.nullable == Some(true) && col.autoincrement {
            return Err(cx.err(
                cspan,
                format!("autoincrement column `{cname}` cannot be nullable"),
            ));
        }
        if col.autoincrement
            && !matches!(
                col.ty,
                ColumnType::Integer | ColumnType::BigInt | ColumnType::SmallInt
            )
        {
            return Err(cx.err(
                rc.ty.span(),
                format!(
                    "autoincrement column `{cname}` must be an integer type, not `{}`",
                    col.ty
                ),
            ));
        }
        t.columns.push(col);
    }
    if t.columns.iter().filter(|c| c.autoincrement).count() > 1 {
        return Err(cx.err(
            tspan,
            format!("table `{tname}` has more than one autoincrement column"),
        ));
    }

    if let Some(pk) = &rt.primary_key {
        locs.insert(format!("tables.{tname}.primary_key"), pk.span());
        let cols = check_columns(cx, &t, pk, "primary key")?;
        for c in &cols {
            let col = t.column_mut(c).expect("checked above");
            if col.nullable {
                if explicitly_nullable.contains(c) {
                    return Err(cx.err_help(
                        pk.span(),
                        format!("primary key column `{c}` of `{tname}` is declared nullable"),
                        "primary key columns are NOT NULL: remove `nullable = true`",
                    ));
                }
                col.nullable = false;
            }
        }
        t.primary_key = Some(PrimaryKey {
            name: rt.primary_key_name.clone(),
            columns: cols,
        });
    }
    if let Some(ai) = t.autoincrement_column() {
        let single = t
            .primary_key
            .as_ref()
            .is_some_and(|pk| pk.columns == [ai.name.clone()]);
        if !single {
            return Err(cx.err(
                tspan,
                format!(
                    "autoincrement column `{}` must be the whole primary key of `{tname}`",
                    ai.name
                ),
            ));
        }
    }
    for ri in rt.indexes {
        let ispan = ri.span();
        let ri = ri.into_inner();
        check_ident(cx, ri.name.get_ref(), ri.name.span(), "index")?;
        locs.insert(
            format!("tables.{tname}.indexes.{}", ri.name.get_ref()),
            ispan,
        );
        let cols = check_columns(cx, &t, &ri.columns, "index")?;
        if t.index(ri.name.get_ref()).is_some() {
            return Err(cx.err(
                ri.name.span(),
                format!("duplicate index `{}`", ri.name.get_ref()),
            ));
        }
        let dialects = parse_dialects(cx, ri.dialects.as_ref())?;
        t.indexes.push(Index {
            name: ri.name.into_inner(),
            columns: cols,
            unique: ri.unique,
            dialects,
        });
    }
    for ru in rt.unique {
        let uspan = ru.span();
        let ru = ru.into_inner();
        if let Some(n) = &ru.name {
            check_ident(cx, n.get_ref(), n.span(), "unique constraint")?;
        }
        let cols = check_columns(cx, &t, &ru.columns, "unique constraint")?;
        let key = ru
            .name
            .as_ref()
            .map_or_else(|| cols.join("+"), |n| n.get_ref().clone());
        locs.insert(format!("tables.{tname}.unique.{key}"), uspan);
        t.uniques.push(Unique {
            name: ru.name.map(Spanned::into_inner),
            columns: cols,
        });
    }
    for (i, rf) in rt.foreign_keys.into_iter().enumerate() {
        let fspan = rf.span();
        let rf = rf.into_inner();
        let cols = check_columns(cx, &t, &rf.columns, "foreign key")?;
        let key = rf
            .name
            .as_ref()
            .map_or_else(|| cols.join("+"), |n| n.get_ref().clone());
        locs.insert(format!("tables.{tname}.foreign_keys.{key}"), fspan);
        if rf.ref_columns.get_ref().len() != cols.len() {
            return Err(cx.err(
                rf.ref_columns.span(),
                format!(
                    "foreign key has {} column(s) but references {}",
                    cols.len(),
                    rf.ref_columns.get_ref().len()
                ),
            ));
        }
        let action = |a: &Option<Spanned<String>>| -> Result<FkAction, SnapshotError> {
            match a {
                None => Ok(FkAction::NoAction),
                Some(s) => FkAction::parse(s.get_ref()).ok_or_else(|| {
                    cx.err_help(
                        s.span(),
                        format!("unknown foreign key action `{}`", s.get_ref()),
                        "use one of: no action, restrict, cascade, set null, set default",
                    )
                }),
            }
        };
        fk_spans.push((tname.clone(), i, rf.ref_table.span(), rf.ref_columns.span()));
        t.foreign_keys.push(ForeignKey {
            name: rf.name.map(Spanned::into_inner),
            columns: cols,
            ref_table: rf.ref_table.get_ref().clone(),
            ref_columns: rf
                .ref_columns
                .get_ref()
                .iter()
                .map(|c| c.get_ref().clone())
                .collect(),
            on_delete: action(&rf.on_delete)?,
            on_update: action(&rf.on_update)?,
        });
    }
    for rk in rt.checks {
        let kspan = rk.span();
        let rk = rk.into_inner();
        if rk.expr.get_ref().trim().is_empty() {
            return Err(cx.err(rk.expr.span(), "check constraint has an empty expression"));
        }
        let dialects = parse_dialects(cx, rk.dialects.as_ref())?;
        let key = rk
            .name
            .as_ref()
            .map_or_else(|| rk.expr.get_ref().clone(), |n| n.get_ref().clone());
        locs.insert(format!("tables.{tname}.checks.{key}"), kspan);
        t.checks.push(Check {
            name: rk.name.map(Spanned::into_inner),
            expr: rk.expr.into_inner(),
            dialects,
            written: None,
        });
    }
    Ok(t)
}

pub(super) fn effective(col: &Column, d: Dialect) -> Column {
    let mut c = col.clone();
    if let Some(ov) = col.overrides.get(&d)
        && let Some(t) = &ov.ty
    {
        c.ty = t.clone();
    }
    c
}

pub(super) fn check_ident(
    cx: &Ctx,
    name: &str,
    span: Range<usize>,
    what: &str,
) -> Result<(), SnapshotError> {
    if name.is_empty() {
        return Err(cx.err(span, format!("empty {what} name")));
    }
    if name.len() > 63 {
        return Err(cx.err_help(
            span,
            format!("{what} name `{name}` is {} bytes long", name.len()),
            "PostgreSQL truncates identifiers to 63 bytes; use a shorter name",
        ));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(cx.err(span, format!("{what} name contains a control character")));
    }
    Ok(())
}

fn parse_type(cx: &Ctx, s: &Spanned<String>, schema: &Schema) -> Result<ColumnType, SnapshotError> {
    let ty = ColumnType::parse(s.get_ref()).map_err(|m| cx.err(s.span(), m))?;
    if let ColumnType::Enum { name: Some(n), .. } = &ty {
        let Some(e) = schema.enums.get(n) else {
            return Err(cx.err_help(
                s.span(),
                format!("enum type `{n}` is not declared"),
                format!("declare it under [enums], e.g. {n} = [\"a\", \"b\"]"),
            ));
        };
        return Ok(ColumnType::Enum {
            name: Some(n.clone()),
            values: e.values.clone(),
        });
    }
    Ok(ty)
}

fn parse_default(
    cx: &Ctx,
    v: &Spanned<toml::Value>,
    ty: &ColumnType,
) -> Result<DefaultValue, SnapshotError> {
    let bad = |m: String| cx.err(v.span(), m);
    let d = match v.get_ref() {
        toml::Value::Boolean(b) => DefaultValue::Bool(*b),
        toml::Value::Integer(i) => DefaultValue::Int(*i),
        toml::Value::String(s) => DefaultValue::Str(s.clone()),
        toml::Value::Table(t) => match (t.get("expr"), t.len()) {
            (Some(toml::Value::String(e)), 1) => {
                if e.trim().eq_ignore_ascii_case("current_timestamp") {
                    DefaultValue::CurrentTimestamp
                } else {
                    DefaultValue::Expr(e.clone())
                }
            }
            _ => {
                return Err(bad(
                    "a default is a literal or { expr = \"SQL expression\" }".into(),
                ));
            }
        },
        other => return Err(bad(format!("unsupported default value {other}"))),
    };
    let ok = match (&d, ty) {
        (DefaultValue::Bool(_), ColumnType::Boolean) => true,
        (DefaultValue::Bool(_), _) => false,
        (DefaultValue::Int(_), t) => matches!(
            t,
            ColumnType::SmallInt
                | ColumnType::Integer
                | ColumnType::BigInt
                | ColumnType::Decimal(..)
                | ColumnType::Numeric
                | ColumnType::Float
                | ColumnType::Double
        ),
        (DefaultValue::Str(s), ColumnType::Enum { values, .. }) => {
            if !values.contains(s) {
                return Err(bad(format!(
                    "default `{s}` is not one of the enum's values {values:?}"
                )));
            }
            true
        }
        (DefaultValue::Str(s), ColumnType::String(n) | ColumnType::Char(n)) => {
            if s.chars().count() > *n as usize {
                return Err(bad(format!(
                    "default `{s}` is longer than the column ({n})"
                )));
            }
            true
        }
        (DefaultValue::Str(_), t) => !matches!(
            t,
            ColumnType::Boolean | ColumnType::SmallInt | ColumnType::Integer | ColumnType::BigInt
        ),
        (DefaultValue::CurrentTimestamp, t) => matches!(t, ColumnType::DateTime | ColumnType::Date),
        (DefaultValue::Expr(_), _) => true,
    };
    if !ok {
        return Err(bad(format!(
            "default {d} does not fit a column of type {ty}"
        )));
    }
    Ok(d)
}

pub(super) fn parse_dialects(
    cx: &Ctx,
    v: Option<&Spanned<Vec<String>>>,
) -> Result<Option<Vec<Dialect>>, SnapshotError> {
    let Some(v) = v else { return Ok(None) };
    let mut out = Vec::new();
    for s in v.get_ref() {
        match Dialect::from_key(s) {
            Some(d) => out.push(d),
            None => {
                return Err(cx.err_help(
                    v.span(),
                    format!("unknown dialect `{s}`"),
                    "dialects are `sqlite`, `postgresql` and `mysql`",
                ));
            }
        }
    }
    Ok(Some(out))
}

fn check_columns(
    cx: &Ctx,
    t: &Table,
    cols: &Spanned<Vec<Spanned<String>>>,
    what: &str,
) -> Result<Vec<String>, SnapshotError> {
    if cols.get_ref().is_empty() {
        return Err(cx.err(
            cols.span(),
            format!("{what} on `{}` lists no columns", t.name),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for c in cols.get_ref() {
        if !t.has_column(c.get_ref()) {
            return Err(cx.err_help(
                c.span(),
                format!(
                    "{what} on `{}` names unknown column `{}`",
                    t.name,
                    c.get_ref()
                ),
                format!(
                    "columns of `{}`: {}",
                    t.name,
                    t.columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if out.contains(c.get_ref()) {
            return Err(cx.err(
                c.span(),
                format!("{what} lists column `{}` twice", c.get_ref()),
            ));
        }
        out.push(c.get_ref().clone());
    }
    Ok(out)
}
