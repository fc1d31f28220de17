//! Parsing a snapshot file into the model, with diagnostics that point at the offending TOML
//! line: the file as serde shapes ([`super::raw`]), then each section checked in turn —
//! `[revision]`, `[enums]`, each table ([`super::table`]), the cross-table references, the
//! triggers ([`super::triggers`]) and the data migrations.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use indexmap::IndexMap;
use toml::Spanned;

use super::error::{Ctx, SnapshotError};
use super::raw::{RawData, RawFile, RawRevision};
use super::table::{FkSpan, effective, parse_table};
use super::triggers::parse_triggers;
use super::{
    Branch, DataMigration, DataPhase, FileKind, Locations, RevisionMeta, Snapshot, SourceFile,
    is_revision_name,
};
use crate::schema::model::{Dialect, EnumType, Schema, lower_type};

pub fn parse_file(path: &Path) -> Result<Snapshot, SnapshotError> {
    let text = std::fs::read_to_string(path).map_err(|e| SnapshotError::io(path, &e))?;
    parse_str(&path.display().to_string(), &text, FileKind::Revision)
}

/// One file of a parse and where its objects are written.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    pub path: String,
    pub text: String,
    pub locations: Locations,
}

/// Parses one snapshot or working-schema file.
pub fn parse_str(path: &str, text: &str, kind: FileKind) -> Result<Snapshot, SnapshotError> {
    let files = [(path.to_string(), text.to_string())];
    let mut p = parse_set(&files, kind)?;
    let file = p.files.pop().expect("one file");
    let (meta, name_span, parent_spans, depends_spans, built_on_span) = p.meta;
    Ok(Snapshot {
        meta,
        schema: p.schema,
        data_migrations: p.data_migrations,
        source: SourceFile {
            path: file.path,
            text: file.text,
            name_span,
            parent_spans,
            depends_spans,
            built_on_span,
            locations: file.locations,
        },
    })
}

/// Parses the files of a working schema (`schema/*.toml`) as one schema: an enum or a table
/// may be used or referenced from another file, and every error points at the file and line
/// it is in. A table, enum or trigger defined in two files is an error.
pub fn parse_files(files: &[(String, String)]) -> Result<(Schema, Vec<ParsedFile>), SnapshotError> {
    let p = parse_set(files, FileKind::WorkingSchema)?;
    Ok((p.schema, p.files))
}

/// What [`parse_set`] found.
struct Parts {
    meta: MetaSpans,
    schema: Schema,
    data_migrations: Vec<DataMigration>,
    files: Vec<ParsedFile>,
}

fn parse_set(files: &[(String, String)], kind: FileKind) -> Result<Parts, SnapshotError> {
    let ctxs: Vec<Ctx> = files
        .iter()
        .map(|(path, text)| Ctx { path, text })
        .collect();
    let mut raws: Vec<RawFile> = Vec::new();
    for cx in &ctxs {
        raws.push(read_raw(cx)?);
    }
    let mut locations: Vec<Locations> = vec![Locations::new(); files.len()];
    let mut meta = None;
    for (cx, raw) in ctxs.iter().zip(raws.iter_mut()) {
        let m = parse_meta(cx, raw.revision.take(), kind)?;
        meta.get_or_insert(m);
    }
    let meta = meta.expect("at least one file");
    // Enums first (tables use them), from every file.
    let mut schema = Schema::default();
    let mut enum_file: HashMap<String, usize> = HashMap::new();
    for (i, (cx, raw)) in ctxs.iter().zip(raws.iter_mut()).enumerate() {
        let spans: Vec<(String, Range<usize>)> = raw
            .enums
            .iter()
            .map(|(n, v)| (n.clone(), v.span()))
            .collect();
        for (name, e) in parse_enums(cx, std::mem::take(&mut raw.enums))? {
            let span = spans
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, s)| s.clone())
                .unwrap_or(0..0);
            if let Some(&first) = enum_file.get(&name) {
                return Err(twice(cx, span, "enum type", &name, &ctxs[first]));
            }
            enum_file.insert(name.clone(), i);
            locations[i].insert(format!("enums.{name}"), span);
            schema.enums.insert(name, e);
        }
    }
    // Tables, from every file; spans kept for the cross-table pass.
    let mut fk_spans: Vec<(usize, FkSpan)> = Vec::new();
    let mut table_file: HashMap<String, usize> = HashMap::new();
    for (i, (cx, raw)) in ctxs.iter().zip(raws.iter_mut()).enumerate() {
        for (name, table) in std::mem::take(&mut raw.tables) {
            let span = name.span();
            let mut spans = Vec::new();
            let t = parse_table(cx, name, table, &schema, &mut spans, &mut locations[i])?;
            if let Some(&first) = table_file.get(&t.name) {
                return Err(twice(cx, span, "table", &t.name, &ctxs[first]));
            }
            table_file.insert(t.name.clone(), i);
            fk_spans.extend(spans.into_iter().map(|s| (i, s)));
            schema.tables.insert(t.name.clone(), t);
        }
    }
    check_references(&ctxs, &schema, &fk_spans, &table_file)?;
    // Triggers, against the tables of every file.
    let mut trigger_file: HashMap<String, usize> = HashMap::new();
    for (i, (cx, raw)) in ctxs.iter().zip(raws.iter_mut()).enumerate() {
        let raw_triggers = std::mem::take(&mut raw.triggers);
        let spans: Vec<(String, Range<usize>)> = raw_triggers
            .iter()
            .map(|t| (t.get_ref().name.get_ref().clone(), t.get_ref().name.span()))
            .collect();
        for t in parse_triggers(cx, raw_triggers, &schema, &mut locations[i])? {
            if let Some(&first) = trigger_file.get(&t.name) {
                let span = spans
                    .iter()
                    .find(|(n, _)| *n == t.name)
                    .map(|(_, s)| s.clone())
                    .unwrap_or(0..0);
                return Err(twice(cx, span, "trigger", &t.name, &ctxs[first]));
            }
            trigger_file.insert(t.name.clone(), i);
            schema.triggers.push(t);
        }
    }
    let mut data_migrations = Vec::new();
    for (i, (cx, raw)) in ctxs.iter().zip(raws.iter_mut()).enumerate() {
        let raw_data = std::mem::take(&mut raw.data_migrations);
        if kind == FileKind::WorkingSchema
            && let Some(first) = raw_data.first()
        {
            return Err(cx.err_help(
                first.span(),
                "the working schema has no data migrations",
                "a data migration belongs to a revision: `revision new` writes a skeleton into \
                 the revision that needs one; edit it there",
            ));
        }
        data_migrations.extend(parse_data_migrations(cx, raw_data, &mut locations[i])?);
    }
    let files = files
        .iter()
        .zip(locations)
        .map(|((path, text), locations)| ParsedFile {
            path: path.clone(),
            text: text.clone(),
            locations,
        })
        .collect();
    Ok(Parts {
        meta,
        schema,
        data_migrations,
        files,
    })
}

/// The file as serde shapes, or the TOML error at its place.
fn read_raw(cx: &Ctx) -> Result<RawFile, SnapshotError> {
    toml::from_str(cx.text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let msg = e.message().trim().to_string();
        let help = if msg.contains("unknown field") {
            Some("see docs/snapshot-format.md for the keys each section accepts".to_string())
        } else {
            None
        };
        SnapshotError::at(
            cx.path,
            cx.text,
            span,
            format!("invalid snapshot TOML: {msg}"),
            help,
        )
    })
}

/// An object defined a second time, in `cx`, after `first`'s definition.
fn twice(cx: &Ctx, span: Range<usize>, what: &str, name: &str, first: &Ctx) -> SnapshotError {
    let where_ = if first.path == cx.path {
        "earlier in this file".to_string()
    } else {
        format!("in {}", first.path)
    };
    cx.err_help(
        span,
        format!("{what} `{name}` is defined twice (also {where_})"),
        "define each table, enum type and trigger in one file only",
    )
}

pub(super) type MetaSpans = (
    RevisionMeta,
    Range<usize>,
    Vec<Range<usize>>,
    Vec<Range<usize>>,
    Option<Range<usize>>,
);

/// `[revision]`: name, parents, dependencies, branch; with the spans DAG errors point at.
pub(super) fn parse_meta(
    cx: &Ctx,
    revision: Option<Spanned<RawRevision>>,
    kind: FileKind,
) -> Result<MetaSpans, SnapshotError> {
    Ok(match (revision, kind) {
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
            let mut built_on = BTreeMap::new();
            let built_on_span = r.built_on.as_ref().map(Spanned::span);
            // Entries are checked by `revision check` (a stale one must not hide a graph error
            // such as an unknown parent, which the loader reports with its line).
            for (k, v) in r.built_on.map(Spanned::into_inner).unwrap_or_default() {
                built_on.insert(k.into_inner(), v.into_inner());
            }
            let meta = RevisionMeta {
                name,
                parents: r.parents.iter().map(|p| p.get_ref().clone()).collect(),
                depends_on: r.depends_on.iter().map(|p| p.get_ref().clone()).collect(),
                branch,
                description: r.description,
                built_on,
            };
            (
                meta,
                name_span,
                r.parents.iter().map(Spanned::span).collect(),
                r.depends_on.iter().map(Spanned::span).collect(),
                built_on_span,
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
                built_on: BTreeMap::new(),
            },
            0..0,
            vec![],
            vec![],
            None,
        ),
    })
}

/// `[enums]`: named value lists, none empty, no value twice.
fn parse_enums(
    cx: &Ctx,
    enums: IndexMap<String, Spanned<Vec<Spanned<String>>>>,
) -> Result<IndexMap<String, EnumType>, SnapshotError> {
    let mut out = IndexMap::new();
    for (name, values) in enums {
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
        out.insert(name.clone(), EnumType { name, values });
    }
    Ok(out)
}

/// Checks across tables: foreign-key targets exist, are keys and have matching types; index
/// and constraint names are unique in the schema.
fn check_references(
    ctxs: &[Ctx],
    schema: &Schema,
    fk_spans: &[(usize, FkSpan)],
    table_file: &HashMap<String, usize>,
) -> Result<(), SnapshotError> {
    // Cross-table checks: FK targets, index name uniqueness across the schema.
    for (file, (tname, i, ref_span, refcols_span)) in fk_spans {
        let cx = &ctxs[*file];
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
        let cx = &ctxs[table_file.get(&t.name).copied().unwrap_or(0)];
        for n in t
            .indexes
            .iter()
            .map(|i| i.name.as_str())
            .chain(t.uniques.iter().filter_map(|u| u.name.as_deref()))
        {
            if !index_names.insert(n) {
                let span = find_name_span(cx.text, n).unwrap_or(0..0);
                return Err(cx.err_help(
                    span,
                    format!("index or constraint name `{n}` is used twice"),
                    "index names are unique per schema on PostgreSQL and SQLite",
                ));
            }
        }
    }
    Ok(())
}

/// `[[data_migrations]]`: a phase and SQL (portable, or one list per dialect).
pub(super) fn parse_data_migrations(
    cx: &Ctx,
    raw: Vec<Spanned<RawData>>,
    locs: &mut Locations,
) -> Result<Vec<DataMigration>, SnapshotError> {
    let mut data_migrations = Vec::new();
    for rd in raw {
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
        let name = rd.name.into_inner();
        locs.insert(format!("data_migrations.{name}"), dspan.clone());
        if let Some(t) = &rd.todo {
            locs.insert(format!("data_migrations.{name}.todo"), t.span());
        }
        data_migrations.push(DataMigration {
            name,
            phase,
            description: rd.description,
            pending: rd.pending,
            sql: rd.sql,
            sql_by_dialect: by,
            todo: rd.todo.map(Spanned::into_inner),
        });
    }
    Ok(data_migrations)
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
