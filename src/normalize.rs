//! Canonical form of a resolved schema, so that an unchanged schema diffs to nothing.
//!
//! The engine applies [`normalize`] to BOTH sides before diffing: the snapshot resolved for the
//! dialect and the schema introspected from the database. Each rule removes a difference that is
//! not a difference in what the database enforces: names the server generated for unnamed
//! objects, spellings of the same check expression or trigger body, charset aliases, MySQL's
//! implicit foreign-key indexes, and so on (`../shared/prior-art.md` §3.8). The function is pure
//! and idempotent.
//!
//! Rename hints (`renamed_from`) are kept: the diff needs them.

use std::collections::HashSet;

use crate::schema::model::{
    Check, ColumnType, Dialect, FkAction, ForeignKey, Index, MysqlOptions, Schema, Table, Trigger,
    Unique, WrittenCheck,
};
use crate::sql::expr::{canonical_body, canonical_check, referenced_columns};

/// PostgreSQL identifiers are at most NAMEDATALEN - 1 bytes.
const PG_MAX_IDENTIFIER: usize = 63;

/// Returns the canonical form of `schema` (already resolved for `dialect`).
pub fn normalize(schema: &Schema, dialect: Dialect) -> Schema {
    let mut out = schema.clone();
    if dialect != Dialect::Postgres {
        // Only PostgreSQL has named enum types.
        out.enums.clear();
    }
    for table in out.tables.values_mut() {
        normalize_table(table, dialect);
    }
    for trigger in &mut out.triggers {
        normalize_trigger(trigger, dialect);
    }
    out.triggers
        .sort_by(|a, b| (&a.table, &a.name).cmp(&(&b.table, &b.name)));
    out
}

/// A trigger's body is compared in its canonical spelling (whitespace, comments and keyword
/// case do not count); the written body stays for DDL. A PostgreSQL function named after its
/// trigger is the convention, so only another name is kept.
fn normalize_trigger(t: &mut Trigger, dialect: Dialect) {
    t.canonical = Some(canonical_body(&t.body, dialect));
    t.bodies.clear();
    t.dialects = None;
    if t.function.as_deref() == Some(t.name.as_str()) {
        t.function = None;
    }
}

fn normalize_table(t: &mut Table, dialect: Dialect) {
    normalize_columns(t, dialect);

    // No backend lets us name a primary key portably and Glance never names one.
    if let Some(pk) = &mut t.primary_key {
        pk.name = None;
    }

    if dialect == Dialect::Mysql {
        // MySQL has no unique constraint apart from a unique index: both are one object.
        let (unique_indexes, plain): (Vec<Index>, Vec<Index>) =
            t.indexes.drain(..).partition(|i| i.unique);
        t.indexes = plain;
        t.uniques.extend(unique_indexes.into_iter().map(|i| Unique {
            name: Some(i.name),
            columns: i.columns,
        }));
        // Before FK names are dropped: the implicit index may be named after the FK.
        drop_implicit_fk_indexes(t);
    }

    let table_name = t.name.clone();
    for fk in &mut t.foreign_keys {
        if fk
            .name
            .as_deref()
            .is_some_and(|n| is_generated_fk_name(n, &table_name, &fk.columns, dialect))
        {
            fk.name = None;
        }
        if dialect == Dialect::Mysql {
            // InnoDB checks immediately either way; MariaDB reports an omitted action as RESTRICT.
            for action in [&mut fk.on_delete, &mut fk.on_update] {
                if *action == FkAction::Restrict {
                    *action = FkAction::NoAction;
                }
            }
        }
    }

    let column_names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
    for (position, check) in t.checks.iter_mut().enumerate() {
        // DDL keeps the source's spelling; comparisons use the canonical form.
        check.written.get_or_insert_with(|| WrittenCheck {
            name: check.name.clone(),
            expr: check.expr.clone(),
            position,
        });
        check.expr = canonical_check(&check.expr, dialect);
        check.dialects = None;
        let referenced = referenced_columns(&check.expr, &column_names, dialect);
        if check
            .name
            .as_deref()
            .is_some_and(|n| is_generated_check_name(n, &table_name, &referenced, dialect))
        {
            check.name = None;
        }
    }
    for index in &mut t.indexes {
        index.dialects = None;
    }

    // Order is not meaningful for these lists; column order is kept (cosmetic, not drift).
    t.uniques
        .sort_by(|a, b| (&a.columns, &a.name).cmp(&(&b.columns, &b.name)));
    t.foreign_keys.sort_by(fk_order);
    t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    t.checks
        .sort_by(|a: &Check, b: &Check| (&a.expr, &a.name).cmp(&(&b.expr, &b.name)));

    t.mysql = if dialect == Dialect::Mysql {
        normalize_mysql_options(&t.mysql)
    } else {
        MysqlOptions::default()
    };
}

fn fk_order(a: &ForeignKey, b: &ForeignKey) -> std::cmp::Ordering {
    (&a.columns, &a.ref_table, &a.ref_columns, &a.name).cmp(&(
        &b.columns,
        &b.ref_table,
        &b.ref_columns,
        &b.name,
    ))
}

fn normalize_columns(t: &mut Table, dialect: Dialect) {
    let pk_columns: Vec<String> = t
        .primary_key
        .as_ref()
        .map(|pk| pk.columns.clone())
        .unwrap_or_default();
    for column in &mut t.columns {
        // `0` and `false` on a boolean column, `'5'` and `5` on an integer column are one value.
        column.default = column.default.take().map(|d| d.coerced(&column.ty));
        // PostgreSQL and MySQL force primary-key columns NOT NULL whatever the DDL says.
        if dialect != Dialect::Sqlite && pk_columns.contains(&column.name) {
            column.nullable = false;
        }
    }
    // SQLite: a single INTEGER primary key is the rowid, generated and never NULL, whether or not
    // the snapshot says autoincrement.
    if dialect == Dialect::Sqlite
        && let [only] = pk_columns.as_slice()
        && let Some(c) = t.column_mut(only)
        && c.ty == ColumnType::Integer
    {
        c.autoincrement = true;
        c.nullable = false;
    }
}

/// MySQL creates an index for a foreign key that no index covers, named after the constraint
/// (or its first column when unnamed). It is the server's, not the schema's: drop it when no
/// other index, unique or primary key has the FK's columns as a prefix (if one did, MySQL would
/// not have created this one, so it was made on purpose).
fn drop_implicit_fk_indexes(t: &mut Table) {
    let is_prefix =
        |cols: &[String], of: &[String]| of.len() >= cols.len() && of[..cols.len()] == *cols;
    let mut implicit: HashSet<String> = HashSet::new();
    for fk in &t.foreign_keys {
        let Some(first) = fk.columns.first() else {
            continue;
        };
        for index in &t.indexes {
            let named_like_implicit =
                fk.name.as_deref() == Some(index.name.as_str()) || index.name == *first;
            if index.unique || index.columns != fk.columns || !named_like_implicit {
                continue;
            }
            let covered_elsewhere = t
                .primary_key
                .iter()
                .any(|pk| is_prefix(&fk.columns, &pk.columns))
                || t.uniques.iter().any(|u| is_prefix(&fk.columns, &u.columns))
                || t.indexes
                    .iter()
                    .any(|o| o.name != index.name && is_prefix(&fk.columns, &o.columns));
            if !covered_elsewhere {
                implicit.insert(index.name.clone());
            }
        }
    }
    t.indexes.retain(|i| !implicit.contains(&i.name));
}

fn normalize_mysql_options(o: &MysqlOptions) -> MysqlOptions {
    // `utf8` is an alias of `utf8mb3` (MariaDB ≥ 10.6 and MySQL 8 report the latter).
    let alias = |s: &str| {
        let s = s.to_ascii_lowercase();
        match s.strip_prefix("utf8") {
            Some("") => "utf8mb3".to_string(),
            Some(rest) if rest.starts_with('_') => format!("utf8mb3{rest}"),
            _ => s,
        }
    };
    let collation = o.collation.as_deref().map(alias);
    let charset = o.charset.as_deref().map(alias).or_else(|| {
        // A collation implies its charset (`latin1_swedish_ci` → `latin1`).
        collation
            .as_deref()
            .and_then(|c| c.split('_').next())
            .map(str::to_string)
    });
    // A collation that is the charset's default says nothing a snapshot naming only the charset
    // does not.
    let collation = collation.filter(|c| {
        !charset
            .as_deref()
            .is_some_and(|cs| default_collations(cs).contains(&c.as_str()))
    });
    let engine = o.engine.as_deref().map(|e| {
        // Engine names are case-insensitive; keep the spelling the server reports.
        match e.to_ascii_lowercase().as_str() {
            "innodb" => "InnoDB".to_string(),
            "myisam" => "MyISAM".to_string(),
            "aria" => "Aria".to_string(),
            "memory" => "MEMORY".to_string(),
            "csv" => "CSV".to_string(),
            "archive" => "ARCHIVE".to_string(),
            _ => e.to_string(),
        }
    });
    MysqlOptions {
        engine,
        charset,
        collation,
    }
}

/// The server default collation(s) of a charset: MariaDB's, plus MySQL 8's for utf8mb4.
fn default_collations(charset: &str) -> &'static [&'static str] {
    match charset {
        "utf8mb3" => &["utf8mb3_general_ci"],
        "utf8mb4" => &["utf8mb4_general_ci", "utf8mb4_0900_ai_ci"],
        "latin1" => &["latin1_swedish_ci"],
        "ascii" => &["ascii_general_ci"],
        "binary" => &["binary"],
        _ => &[],
    }
}

// ---------------------------------------------------------------------------------------------
// Generated constraint names

fn is_generated_fk_name(name: &str, table: &str, columns: &[String], dialect: Dialect) -> bool {
    match dialect {
        // PostgreSQL: `<table>_<col1>_<col2>_fkey`, truncated to 63 bytes, `fkey1`… on collision.
        Dialect::Postgres => is_pg_generated_name(name, table, Some(&columns.join("_")), "fkey"),
        // MySQL/MariaDB: `<table>_ibfk_<n>`.
        Dialect::Mysql => has_numbered_suffix(name, &format!("{table}_ibfk_")),
        // SQLite reports only the names written in the DDL.
        Dialect::Sqlite => false,
    }
}

fn is_generated_check_name(
    name: &str,
    table: &str,
    referenced: &[String],
    dialect: Dialect,
) -> bool {
    match dialect {
        // PostgreSQL: `<table>_<col>_check` when the expression uses one column, else
        // `<table>_check`; numbered on collision.
        Dialect::Postgres => {
            let column = match referenced {
                [only] => Some(only.as_str()),
                _ => None,
            };
            is_pg_generated_name(name, table, column, "check")
        }
        // MariaDB: `CONSTRAINT_<n>`; MySQL 8: `<table>_chk_<n>`; MariaDB names a column-level
        // check after its column.
        Dialect::Mysql => {
            has_numbered_suffix(name, "CONSTRAINT_")
                || has_numbered_suffix(name, &format!("{table}_chk_"))
                || matches!(referenced, [only] if only == name)
        }
        Dialect::Sqlite => false,
    }
}

/// `name` is `prefix` followed by a positive decimal number.
fn has_numbered_suffix(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `name` is what PostgreSQL's `ChooseConstraintName(name1, name2, label)` generates,
/// including the numbered variants (`label1`, `label2`, …) used on collision.
fn is_pg_generated_name(name: &str, name1: &str, name2: Option<&str>, label: &str) -> bool {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let suffix = &name[name.len() - digits..];
    let numbered_label = format!("{label}{suffix}");
    pg_object_name(name1, name2, &numbered_label) == name
}

/// PostgreSQL's `makeObjectName`: `name1_name2_label`, truncating the longer of the two names
/// first so the result fits in 63 bytes (never splitting a UTF-8 character).
pub fn pg_object_name(name1: &str, name2: Option<&str>, label: &str) -> String {
    let overhead = label.len() + 1 + usize::from(name2.is_some());
    let available = PG_MAX_IDENTIFIER.saturating_sub(overhead);
    let mut len1 = name1.len();
    let mut len2 = name2.map_or(0, str::len);
    while len1 + len2 > available {
        if len1 > len2 {
            len1 -= 1;
        } else {
            len2 -= 1;
        }
    }
    let clip = |s: &str, mut n: usize| {
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s[..n].to_string()
    };
    let mut out = clip(name1, len1);
    if let Some(n2) = name2 {
        out.push('_');
        out.push_str(&clip(n2, len2));
    }
    out.push('_');
    out.push_str(label);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::{Column, DefaultValue, PrimaryKey};

    #[test]
    fn pg_generated_names() {
        assert_eq!(pg_object_name("images", None, "pkey"), "images_pkey");
        assert!(is_pg_generated_name(
            "image_members_image_id_fkey",
            "image_members",
            Some("image_id"),
            "fkey"
        ));
        assert!(is_pg_generated_name("t_c_check1", "t", Some("c"), "check"));
        assert!(!is_pg_generated_name("fk_custom", "t", Some("c"), "fkey"));
        // 63-byte truncation: the longer part is shortened first.
        let table = "metadef_namespace_resource_types_with_a_very_long_name_indeed";
        let name = pg_object_name(table, Some("resource_type_id"), "fkey");
        assert_eq!(name.len(), 63);
        assert!(name.starts_with("metadef_namespace_resource_types_with_a_v"));
        assert!(name.ends_with("_resource_type_id_fkey"));
        assert!(is_pg_generated_name(
            &name,
            table,
            Some("resource_type_id"),
            "fkey"
        ));
    }

    fn table_with(name: &str) -> Table {
        let mut t = Table::new(name);
        for c in ["id", "node_reference_id", "deleted"] {
            t.columns.push(Column::new(c, ColumnType::Integer));
        }
        t.primary_key = Some(PrimaryKey {
            name: Some("PRIMARY".into()),
            columns: vec!["id".into()],
        });
        t
    }

    #[test]
    fn mysql_rules() {
        let mut t = table_with("cached_images");
        t.foreign_keys.push(ForeignKey {
            name: Some("cached_images_ibfk_1".into()),
            columns: vec!["node_reference_id".into()],
            ref_table: "node_reference".into(),
            ref_columns: vec!["node_reference_id".into()],
            on_delete: FkAction::Restrict,
            on_update: FkAction::Restrict,
        });
        t.indexes.push(Index {
            name: "node_reference_id".into(),
            columns: vec!["node_reference_id".into()],
            unique: false,
            dialects: None,
        });
        t.checks.push(Check {
            name: Some("CONSTRAINT_1".into()),
            expr: "`deleted` in (0,1)".into(),
            dialects: None,
            written: None,
        });
        t.checks.push(Check {
            name: Some("deleted".into()),
            expr: "`deleted` >= 0".into(),
            dialects: None,
            written: None,
        });
        t.mysql = MysqlOptions {
            engine: Some("innodb".into()),
            charset: Some("utf8".into()),
            collation: Some("utf8mb3_general_ci".into()),
        };
        let mut s = Schema::default();
        s.tables.insert(t.name.clone(), t);
        let n = normalize(&s, Dialect::Mysql);
        assert_eq!(normalize(&n, Dialect::Mysql), n, "idempotent");
        let t = &n.tables["cached_images"];
        assert!(t.indexes.is_empty(), "implicit FK index dropped");
        assert_eq!(t.primary_key.as_ref().unwrap().name, None);
        let fk = &t.foreign_keys[0];
        assert_eq!(fk.name, None);
        assert_eq!(
            (fk.on_delete, fk.on_update),
            (FkAction::NoAction, FkAction::NoAction)
        );
        let checks: Vec<_> = t
            .checks
            .iter()
            .map(|c| (c.name.clone(), c.expr.as_str()))
            .collect();
        assert_eq!(
            checks,
            vec![(None, "deleted >= 0"), (None, "deleted in (0, 1)")]
        );
        assert_eq!(
            t.mysql,
            MysqlOptions {
                engine: Some("InnoDB".into()),
                charset: Some("utf8mb3".into()),
                collation: None
            }
        );
    }

    #[test]
    fn explicit_fk_index_is_kept_when_another_covers_it() {
        let mut t = table_with("t");
        t.foreign_keys.push(ForeignKey {
            name: None,
            columns: vec!["node_reference_id".into()],
            ref_table: "n".into(),
            ref_columns: vec!["id".into()],
            on_delete: FkAction::NoAction,
            on_update: FkAction::NoAction,
        });
        for (name, cols) in [
            ("node_reference_id", vec!["node_reference_id"]),
            ("ix_both", vec!["node_reference_id", "deleted"]),
        ] {
            t.indexes.push(Index {
                name: name.into(),
                columns: cols.into_iter().map(String::from).collect(),
                unique: false,
                dialects: None,
            });
        }
        let mut s = Schema::default();
        s.tables.insert("t".into(), t);
        assert_eq!(normalize(&s, Dialect::Mysql).tables["t"].indexes.len(), 2);
    }

    #[test]
    fn defaults_and_sqlite_rowid() {
        let mut t = Table::new("t");
        let mut id = Column::new("id", ColumnType::Integer);
        id.nullable = true;
        let mut flag = Column::new("flag", ColumnType::Boolean);
        flag.default = Some(DefaultValue::Int(0));
        let mut label = Column::new("label", ColumnType::String(5));
        label.default = Some(DefaultValue::Int(7));
        t.columns = vec![id, flag, label];
        t.primary_key = Some(PrimaryKey {
            name: None,
            columns: vec!["id".into()],
        });
        let mut s = Schema::default();
        s.tables.insert("t".into(), t);
        let n = normalize(&s, Dialect::Sqlite);
        let t = &n.tables["t"];
        assert!(t.columns[0].autoincrement && !t.columns[0].nullable);
        assert_eq!(t.columns[1].default, Some(DefaultValue::Bool(false)));
        assert_eq!(t.columns[2].default, Some(DefaultValue::Str("7".into())));
        let pg = normalize(&s, Dialect::Postgres);
        assert!(!pg.tables["t"].columns[0].nullable);
        assert!(!pg.tables["t"].columns[0].autoincrement);
    }
}
