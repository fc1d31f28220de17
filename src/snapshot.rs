//! Revision snapshots: one TOML file per revision holding the *whole* schema at that revision,
//! plus the revision's metadata and data-migration steps. This module parses a file into the
//! model (with diagnostics pointing at the offending TOML line) and writes the model back as TOML.
//!
//! The format is documented in `docs/snapshot-format.md`.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use crate::error::SnapshotError;
use crate::model::*;

/// Which branch of the expand/contract scheme a revision belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Branch {
    /// Additive changes, safe while old code runs.
    Expand,
    /// Destructive changes, after every node runs new code.
    Contract,
}

impl Branch {
    pub fn as_str(self) -> &'static str {
        match self {
            Branch::Expand => "expand",
            Branch::Contract => "contract",
        }
    }
}

/// When a data-migration step runs relative to the schema changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataPhase {
    /// Right after the revision's expand-phase DDL (e.g. Mitaka's metadef rename).
    Expand,
    /// In the `migrate` phase, between expand and contract (`db migrate`).
    Migrate,
}

impl DataPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            DataPhase::Expand => "expand",
            DataPhase::Migrate => "migrate",
        }
    }
}

/// One data-migration step: SQL statements run in one transaction, plus an optional query that
/// counts rows still needing migration (`db check` answers 4 while it is non-zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMigration {
    pub name: String,
    pub phase: DataPhase,
    pub description: Option<String>,
    pub pending: Option<String>,
    pub sql: Vec<String>,
    pub sql_by_dialect: BTreeMap<Dialect, Vec<String>>,
}

impl DataMigration {
    pub fn statements(&self, dialect: Dialect) -> &[String] {
        self.sql_by_dialect
            .get(&dialect)
            .map(Vec::as_slice)
            .unwrap_or(&self.sql)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionMeta {
    pub name: String,
    pub parents: Vec<String>,
    pub depends_on: Vec<String>,
    pub branch: Option<Branch>,
    pub description: Option<String>,
}

/// A parsed revision file.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub meta: RevisionMeta,
    pub schema: Schema,
    pub data_migrations: Vec<DataMigration>,
    pub source: SourceFile,
}

/// Where a snapshot came from, kept for diagnostics raised after parsing (DAG errors).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
    /// Span of `[revision] name`, and of each parent / depends_on entry.
    pub name_span: Range<usize>,
    pub parent_spans: Vec<Range<usize>>,
    pub depends_spans: Vec<Range<usize>>,
}

// ---------------------------------------------------------------------------------------------
// Raw serde shapes (with spans)

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    revision: Option<Spanned<RawRevision>>,
    #[serde(default)]
    data_migrations: Vec<Spanned<RawData>>,
    #[serde(default)]
    enums: IndexMap<String, Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    tables: IndexMap<Spanned<String>, Spanned<RawTable>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRevision {
    name: Spanned<String>,
    #[serde(default)]
    parents: Vec<Spanned<String>>,
    #[serde(default)]
    depends_on: Vec<Spanned<String>>,
    branch: Option<Spanned<String>>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    name: Spanned<String>,
    phase: Spanned<String>,
    description: Option<String>,
    pending: Option<String>,
    #[serde(default)]
    sql: Vec<String>,
    sqlite: Option<Vec<String>>,
    postgresql: Option<Vec<String>>,
    mysql: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    renamed_from: Option<String>,
    primary_key: Option<Spanned<Vec<Spanned<String>>>>,
    primary_key_name: Option<String>,
    mysql: Option<RawMysql>,
    #[serde(default)]
    columns: Vec<Spanned<RawColumn>>,
    #[serde(default)]
    indexes: Vec<Spanned<RawIndex>>,
    #[serde(default)]
    unique: Vec<Spanned<RawUnique>>,
    #[serde(default)]
    foreign_keys: Vec<Spanned<RawForeignKey>>,
    #[serde(default)]
    checks: Vec<Spanned<RawCheck>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMysql {
    engine: Option<String>,
    charset: Option<String>,
    collation: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: Spanned<String>,
    #[serde(rename = "type")]
    ty: Spanned<String>,
    nullable: Option<bool>,
    default: Option<Spanned<toml::Value>>,
    #[serde(default)]
    autoincrement: bool,
    renamed_from: Option<String>,
    sqlite: Option<Spanned<RawOverride>>,
    postgresql: Option<Spanned<RawOverride>>,
    mysql: Option<Spanned<RawOverride>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    #[serde(rename = "type")]
    ty: Option<Spanned<String>>,
    nullable: Option<bool>,
    default: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndex {
    name: Spanned<String>,
    columns: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    unique: bool,
    dialects: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnique {
    name: Option<Spanned<String>>,
    columns: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForeignKey {
    name: Option<Spanned<String>>,
    columns: Spanned<Vec<Spanned<String>>>,
    ref_table: Spanned<String>,
    ref_columns: Spanned<Vec<Spanned<String>>>,
    on_delete: Option<Spanned<String>>,
    on_update: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    name: Option<Spanned<String>>,
    expr: Spanned<String>,
    dialects: Option<Spanned<Vec<String>>>,
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// What a file must contain: a revision snapshot needs `[revision]`; the working schema in
/// `schema/` must not have one (its metadata is given when it is frozen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Revision,
    WorkingSchema,
}

struct Ctx<'a> {
    path: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, msg: impl Into<String>) -> SnapshotError {
        SnapshotError::at(self.path, self.text, span, msg.into(), None)
    }
    fn err_help(
        &self,
        span: Range<usize>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) -> SnapshotError {
        SnapshotError::at(self.path, self.text, span, msg.into(), Some(help.into()))
    }
}

pub fn parse_file(path: &Path) -> Result<Snapshot, SnapshotError> {
    let text = std::fs::read_to_string(path).map_err(|e| SnapshotError::io(path, &e))?;
    parse_str(&path.display().to_string(), &text, FileKind::Revision)
}

/// Parses one snapshot or working-schema file.
pub fn parse_str(path: &str, text: &str, kind: FileKind) -> Result<Snapshot, SnapshotError> {
    let cx = Ctx { path, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let msg = e.message().trim().to_string();
        let help = if msg.contains("unknown field") {
            Some("see docs/snapshot-format.md for the keys each section accepts".to_string())
        } else {
            None
        };
        SnapshotError::at(
            path,
            text,
            span,
            format!("invalid snapshot TOML: {msg}"),
            help,
        )
    })?;

    let (meta, name_span, parent_spans, depends_spans) = match (raw.revision, kind) {
        (Some(r), FileKind::Revision) => {
            let r = r.into_inner();
            let name_span = r.name.span();
            let name = r.name.get_ref().clone();
            if !is_revision_name(&name) {
                return Err(cx.err_help(
                    name_span,
                    format!("invalid revision name `{name}`"),
                    "revision names use letters, digits and underscores (e.g. `2025_1_expand01`)",
                ));
            }
            let branch = match &r.branch {
                None => None,
                Some(b) => Some(match b.get_ref().as_str() {
                    "expand" => Branch::Expand,
                    "contract" => Branch::Contract,
                    other => {
                        return Err(cx.err_help(
                            b.span(),
                            format!("unknown branch `{other}`"),
                            "branch is `expand` or `contract`, or omitted for a revision on the main line",
                        ));
                    }
                }),
            };
            let mut seen = HashSet::new();
            for p in r.parents.iter().chain(r.depends_on.iter()) {
                if !seen.insert(p.get_ref().clone()) {
                    return Err(cx.err(p.span(), format!("`{}` is listed twice", p.get_ref())));
                }
                if p.get_ref() == &name {
                    return Err(cx.err(
                        p.span(),
                        format!("revision `{name}` cannot depend on itself"),
                    ));
                }
            }
            let meta = RevisionMeta {
                name,
                parents: r.parents.iter().map(|p| p.get_ref().clone()).collect(),
                depends_on: r.depends_on.iter().map(|p| p.get_ref().clone()).collect(),
                branch,
                description: r.description,
            };
            (
                meta,
                name_span,
                r.parents.iter().map(Spanned::span).collect(),
                r.depends_on.iter().map(Spanned::span).collect(),
            )
        }
        (None, FileKind::Revision) => {
            return Err(cx.err_help(
                0..0,
                "snapshot has no [revision] section",
                "a revision file starts with [revision] name = \"...\" and parents = [...]",
            ));
        }
        (Some(r), FileKind::WorkingSchema) => {
            return Err(cx.err_help(
                r.span(),
                "the working schema must not have a [revision] section",
                "`glance-manage revision new NAME` adds the revision metadata when it freezes the schema",
            ));
        }
        (None, FileKind::WorkingSchema) => (
            RevisionMeta {
                name: String::new(),
                parents: vec![],
                depends_on: vec![],
                branch: None,
                description: None,
            },
            0..0,
            vec![],
            vec![],
        ),
    };

    let mut schema = Schema::default();
    for (name, values) in raw.enums {
        let span = values.span();
        let values: Vec<String> = values
            .into_inner()
            .into_iter()
            .map(Spanned::into_inner)
            .collect();
        if values.is_empty() {
            return Err(cx.err(span, format!("enum `{name}` has no values")));
        }
        let mut seen = HashSet::new();
        if let Some(dup) = values.iter().find(|v| !seen.insert(*v)) {
            return Err(cx.err(span, format!("enum `{name}` lists `{dup}` twice")));
        }
        schema.enums.insert(name.clone(), EnumType { name, values });
    }

    // Spans kept for the cross-table pass.
    let mut fk_spans: Vec<(String, usize, Range<usize>, Range<usize>)> = Vec::new();
    for (tname, raw_table) in raw.tables {
        let tspan = tname.span();
        let tname = tname.into_inner();
        check_ident(&cx, &tname, tspan.clone(), "table")?;
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
            check_ident(&cx, &cname, rc.name.span(), "column")?;
            if t.has_column(&cname) {
                return Err(cx.err(
                    rc.name.span(),
                    format!("duplicate column `{cname}` in table `{tname}`"),
                ));
            }
            let ty = parse_type(&cx, &rc.ty, &schema)?;
            let mut col = Column::new(&cname, ty);
            col.nullable = rc.nullable.unwrap_or(true);
            if rc.nullable == Some(true) {
                explicitly_nullable.insert(cname.clone());
            }
            col.autoincrement = rc.autoincrement;
            col.renamed_from = rc.renamed_from;
            if let Some(d) = &rc.default {
                col.default = Some(parse_default(&cx, d, &col.ty)?);
            }
            for (dialect, ov) in [
                (Dialect::Sqlite, rc.sqlite),
                (Dialect::Postgres, rc.postgresql),
                (Dialect::Mysql, rc.mysql),
            ] {
                let Some(ov) = ov else { continue };
                let ov = ov.into_inner();
                let oty = match &ov.ty {
                    Some(t) => Some(parse_type(&cx, t, &schema)?),
                    None => None,
                };
                let odef = match &ov.default {
                    Some(d) => Some(Some(parse_default(
                        &cx,
                        d,
                        oty.as_ref().unwrap_or(&col.ty),
                    )?)),
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
            let cols = check_columns(&cx, &t, pk, "primary key")?;
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
            let ri = ri.into_inner();
            check_ident(&cx, ri.name.get_ref(), ri.name.span(), "index")?;
            let cols = check_columns(&cx, &t, &ri.columns, "index")?;
            if t.index(ri.name.get_ref()).is_some() {
                return Err(cx.err(
                    ri.name.span(),
                    format!("duplicate index `{}`", ri.name.get_ref()),
                ));
            }
            let dialects = parse_dialects(&cx, ri.dialects.as_ref())?;
            t.indexes.push(Index {
                name: ri.name.into_inner(),
                columns: cols,
                unique: ri.unique,
                dialects,
            });
        }
        for ru in rt.unique {
            let ru = ru.into_inner();
            if let Some(n) = &ru.name {
                check_ident(&cx, n.get_ref(), n.span(), "unique constraint")?;
            }
            let cols = check_columns(&cx, &t, &ru.columns, "unique constraint")?;
            t.uniques.push(Unique {
                name: ru.name.map(Spanned::into_inner),
                columns: cols,
            });
        }
        for (i, rf) in rt.foreign_keys.into_iter().enumerate() {
            let rf = rf.into_inner();
            let cols = check_columns(&cx, &t, &rf.columns, "foreign key")?;
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
            let rk = rk.into_inner();
            if rk.expr.get_ref().trim().is_empty() {
                return Err(cx.err(rk.expr.span(), "check constraint has an empty expression"));
            }
            let dialects = parse_dialects(&cx, rk.dialects.as_ref())?;
            t.checks.push(Check {
                name: rk.name.map(Spanned::into_inner),
                expr: rk.expr.into_inner(),
                dialects,
            });
        }
        schema.tables.insert(tname, t);
    }

    // Cross-table checks: FK targets, index name uniqueness across the schema.
    for (tname, i, ref_span, refcols_span) in &fk_spans {
        let fk = &schema.tables[tname].foreign_keys[*i];
        let Some(target) = schema.tables.get(&fk.ref_table) else {
            return Err(cx.err(
                ref_span.clone(),
                format!(
                    "foreign key on `{tname}` references unknown table `{}`",
                    fk.ref_table
                ),
            ));
        };
        for (c, rc) in fk.columns.iter().zip(&fk.ref_columns) {
            let Some(rcol) = target.column(rc) else {
                return Err(cx.err(
                    refcols_span.clone(),
                    format!(
                        "foreign key on `{tname}` references unknown column `{}.{rc}`",
                        fk.ref_table
                    ),
                ));
            };
            let col = schema.tables[tname].column(c).expect("checked");
            for d in Dialect::ALL {
                let a = lower_type(&effective(col, d).ty, d, &schema.enums);
                let b = lower_type(&effective(rcol, d).ty, d, &schema.enums);
                if !a.fk_compatible(&b) {
                    return Err(cx.err_help(
                        refcols_span.clone(),
                        format!(
                            "foreign key type mismatch: `{tname}.{c}` is {} but `{}.{rc}` is {} (on {d})",
                            a, fk.ref_table, b
                        ),
                        "a foreign key column must have the type of the column it references",
                    ));
                }
            }
        }
        let keyed = target
            .primary_key
            .as_ref()
            .is_some_and(|pk| pk.columns == fk.ref_columns)
            || target.uniques.iter().any(|u| u.columns == fk.ref_columns)
            || target
                .indexes
                .iter()
                .any(|ix| ix.unique && ix.columns == fk.ref_columns);
        if !keyed {
            return Err(cx.err_help(
                refcols_span.clone(),
                format!(
                    "foreign key on `{tname}` references `{}({})`, which is not a primary key or unique",
                    fk.ref_table,
                    fk.ref_columns.join(", ")
                ),
                "PostgreSQL and MySQL require the referenced columns to be a key",
            ));
        }
    }
    let mut index_names: HashSet<&str> = HashSet::new();
    for t in schema.tables.values() {
        for n in t
            .indexes
            .iter()
            .map(|i| i.name.as_str())
            .chain(t.uniques.iter().filter_map(|u| u.name.as_deref()))
        {
            if !index_names.insert(n) {
                let span = find_name_span(text, n).unwrap_or(0..0);
                return Err(cx.err_help(
                    span,
                    format!("index or constraint name `{n}` is used twice"),
                    "index names are unique per schema on PostgreSQL and SQLite",
                ));
            }
        }
    }

    let mut data_migrations = Vec::new();
    for rd in raw.data_migrations {
        let dspan = rd.span();
        let rd = rd.into_inner();
        let phase = match rd.phase.get_ref().as_str() {
            "expand" => DataPhase::Expand,
            "migrate" => DataPhase::Migrate,
            other => {
                return Err(cx.err_help(
                    rd.phase.span(),
                    format!("unknown data-migration phase `{other}`"),
                    "phase is `expand` (runs with the revision's DDL) or `migrate` (runs in `db migrate`)",
                ));
            }
        };
        let mut by = BTreeMap::new();
        for (d, v) in [
            (Dialect::Sqlite, rd.sqlite),
            (Dialect::Postgres, rd.postgresql),
            (Dialect::Mysql, rd.mysql),
        ] {
            if let Some(v) = v {
                by.insert(d, v);
            }
        }
        if rd.sql.is_empty() && by.len() < 3 {
            return Err(cx.err_help(
                dspan,
                format!("data migration `{}` has no SQL", rd.name.get_ref()),
                "give `sql = [...]` (portable) or `sqlite`, `postgresql` and `mysql` lists",
            ));
        }
        data_migrations.push(DataMigration {
            name: rd.name.into_inner(),
            phase,
            description: rd.description,
            pending: rd.pending,
            sql: rd.sql,
            sql_by_dialect: by,
        });
    }

    Ok(Snapshot {
        meta,
        schema,
        data_migrations,
        source: SourceFile {
            path: path.to_string(),
            text: text.to_string(),
            name_span,
            parent_spans,
            depends_spans,
        },
    })
}

fn effective(col: &Column, d: Dialect) -> Column {
    let mut c = col.clone();
    if let Some(ov) = col.overrides.get(&d)
        && let Some(t) = &ov.ty
    {
        c.ty = t.clone();
    }
    c
}

pub fn is_revision_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_ident(cx: &Ctx, name: &str, span: Range<usize>, what: &str) -> Result<(), SnapshotError> {
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

fn parse_dialects(
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

fn find_name_span(text: &str, name: &str) -> Option<Range<usize>> {
    let needle = format!("\"{name}\"");
    let first = text.find(&needle)?;
    let second = text[first + 1..]
        .find(&needle)
        .map(|i| i + first + 1)
        .unwrap_or(first);
    Some(second + 1..second + 1 + name.len())
}

// ---------------------------------------------------------------------------------------------
// Writing

fn q(s: &str) -> String {
    // TOML basic string.
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn key(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        s.to_string()
    } else {
        q(s)
    }
}

fn list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

fn default_toml(d: &DefaultValue) -> String {
    match d {
        DefaultValue::Bool(b) => b.to_string(),
        DefaultValue::Int(i) => i.to_string(),
        DefaultValue::Str(s) => q(s),
        DefaultValue::CurrentTimestamp => "{ expr = \"CURRENT_TIMESTAMP\" }".into(),
        DefaultValue::Expr(e) => format!("{{ expr = {} }}", q(e)),
    }
}

fn dialect_list(d: &Option<Vec<Dialect>>) -> String {
    match d {
        None => String::new(),
        Some(v) => format!(
            ", dialects = {}",
            list(&v.iter().map(|d| d.key().to_string()).collect::<Vec<_>>())
        ),
    }
}

fn column_attrs(ty: &ColumnType, nullable: bool, default: &Option<DefaultValue>) -> String {
    let mut s = format!("type = {}", q(&ty.to_string()));
    if !nullable {
        s.push_str(", nullable = false");
    }
    if let Some(d) = default {
        s.push_str(&format!(", default = {}", default_toml(d)));
    }
    s
}

/// Writes the schema part of a snapshot (enums and tables) in the canonical layout.
pub fn schema_to_toml(schema: &Schema) -> String {
    let mut out = String::new();
    if !schema.enums.is_empty() {
        out.push_str("[enums]\n");
        for e in schema.enums.values() {
            out.push_str(&format!("{} = {}\n", key(&e.name), list(&e.values)));
        }
        out.push('\n');
    }
    for t in schema.tables.values() {
        out.push_str(&table_to_toml(t));
        out.push('\n');
    }
    out
}

pub fn table_to_toml(t: &Table) -> String {
    let mut out = format!("[tables.{}]\n", key(&t.name));
    if let Some(r) = &t.renamed_from {
        out.push_str(&format!("renamed_from = {}\n", q(r)));
    }
    if let Some(pk) = &t.primary_key {
        out.push_str(&format!("primary_key = {}\n", list(&pk.columns)));
        if let Some(n) = &pk.name {
            out.push_str(&format!("primary_key_name = {}\n", q(n)));
        }
    }
    if !t.mysql.is_empty() {
        let mut parts = Vec::new();
        if let Some(e) = &t.mysql.engine {
            parts.push(format!("engine = {}", q(e)));
        }
        if let Some(c) = &t.mysql.charset {
            parts.push(format!("charset = {}", q(c)));
        }
        if let Some(c) = &t.mysql.collation {
            parts.push(format!("collation = {}", q(c)));
        }
        out.push_str(&format!("mysql = {{ {} }}\n", parts.join(", ")));
    }
    out.push_str("columns = [\n");
    for c in &t.columns {
        let mut s = format!(
            "  {{ name = {}, {}",
            q(&c.name),
            column_attrs(&c.ty, c.nullable, &c.default)
        );
        if c.autoincrement {
            s.push_str(", autoincrement = true");
        }
        if let Some(r) = &c.renamed_from {
            s.push_str(&format!(", renamed_from = {}", q(r)));
        }
        for (d, ov) in &c.overrides {
            let mut parts = Vec::new();
            if let Some(t) = &ov.ty {
                parts.push(format!("type = {}", q(&t.to_string())));
            }
            if let Some(n) = ov.nullable {
                parts.push(format!("nullable = {n}"));
            }
            if let Some(Some(dv)) = &ov.default {
                parts.push(format!("default = {}", default_toml(dv)));
            }
            if !parts.is_empty() {
                s.push_str(&format!(", {} = {{ {} }}", d.key(), parts.join(", ")));
            }
        }
        s.push_str(" },\n");
        out.push_str(&s);
    }
    out.push_str("]\n");
    if !t.indexes.is_empty() {
        out.push_str("indexes = [\n");
        for i in &t.indexes {
            out.push_str(&format!(
                "  {{ name = {}, columns = {}{}{} }},\n",
                q(&i.name),
                list(&i.columns),
                if i.unique { ", unique = true" } else { "" },
                dialect_list(&i.dialects)
            ));
        }
        out.push_str("]\n");
    }
    if !t.uniques.is_empty() {
        out.push_str("unique = [\n");
        for u in &t.uniques {
            let name = u
                .name
                .as_ref()
                .map(|n| format!("name = {}, ", q(n)))
                .unwrap_or_default();
            out.push_str(&format!("  {{ {name}columns = {} }},\n", list(&u.columns)));
        }
        out.push_str("]\n");
    }
    if !t.foreign_keys.is_empty() {
        out.push_str("foreign_keys = [\n");
        for f in &t.foreign_keys {
            let name = f
                .name
                .as_ref()
                .map(|n| format!("name = {}, ", q(n)))
                .unwrap_or_default();
            let mut s = format!(
                "  {{ {name}columns = {}, ref_table = {}, ref_columns = {}",
                list(&f.columns),
                q(&f.ref_table),
                list(&f.ref_columns)
            );
            if f.on_delete != FkAction::NoAction {
                s.push_str(&format!(
                    ", on_delete = {}",
                    q(&f.on_delete.sql().to_ascii_lowercase())
                ));
            }
            if f.on_update != FkAction::NoAction {
                s.push_str(&format!(
                    ", on_update = {}",
                    q(&f.on_update.sql().to_ascii_lowercase())
                ));
            }
            s.push_str(" },\n");
            out.push_str(&s);
        }
        out.push_str("]\n");
    }
    if !t.checks.is_empty() {
        out.push_str("checks = [\n");
        for c in &t.checks {
            let name = c
                .name
                .as_ref()
                .map(|n| format!("name = {}, ", q(n)))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {{ {name}expr = {}{} }},\n",
                q(&c.expr),
                dialect_list(&c.dialects)
            ));
        }
        out.push_str("]\n");
    }
    out
}

/// Writes a whole revision file.
pub fn snapshot_to_toml(meta: &RevisionMeta, data: &[DataMigration], schema: &Schema) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Revision `{}`: the whole schema at this revision. See docs/snapshot-format.md.\n",
        meta.name
    ));
    out.push_str("[revision]\n");
    out.push_str(&format!("name = {}\n", q(&meta.name)));
    out.push_str(&format!("parents = {}\n", list(&meta.parents)));
    if !meta.depends_on.is_empty() {
        out.push_str(&format!("depends_on = {}\n", list(&meta.depends_on)));
    }
    if let Some(b) = meta.branch {
        out.push_str(&format!("branch = {}\n", q(b.as_str())));
    }
    if let Some(d) = &meta.description {
        out.push_str(&format!("description = {}\n", q(d)));
    }
    out.push('\n');
    for dm in data {
        out.push_str("[[data_migrations]]\n");
        out.push_str(&format!(
            "name = {}\nphase = {}\n",
            q(&dm.name),
            q(dm.phase.as_str())
        ));
        if let Some(d) = &dm.description {
            out.push_str(&format!("description = {}\n", q(d)));
        }
        if let Some(p) = &dm.pending {
            out.push_str(&format!("pending = {}\n", q(p)));
        }
        if !dm.sql.is_empty() {
            out.push_str(&format!("sql = {}\n", multiline_list(&dm.sql)));
        }
        for (d, v) in &dm.sql_by_dialect {
            out.push_str(&format!("{} = {}\n", d.key(), multiline_list(v)));
        }
        out.push('\n');
    }
    out.push_str(&schema_to_toml(schema));
    // Exactly one trailing newline.
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn multiline_list(v: &[String]) -> String {
    if v.is_empty() {
        return "[]".to_string();
    }
    let mut s = String::from("[\n");
    for x in v {
        s.push_str(&format!("  {},\n", q(x)));
    }
    s.push(']');
    s
}
