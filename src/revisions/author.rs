//! Writing history from the working schema: `revision init` writes `schema/` from the heads,
//! `revision new` diffs `schema/` against the heads and writes the expand revision and, when
//! needed, the contract revision that depends on it (see [`super::split`] for which change
//! goes where). The whole history is validated with the new files, and the new heads are
//! checked to equal the working schema, before anything is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::author_error::invalid;
pub use super::author_error::{AuthorError, Written};
use super::compare::{compare, strip_hints};
use super::naming::{Names, check_name};
use super::split::{self, ColumnRename};
use super::{Drafts, RevisionSet, read_sources};
use crate::diff::{self, Change};
use crate::schema::model::Schema;
use crate::snapshot::{
    self as snap, Branch, DataMigration, RevisionMeta, SnapshotError, WorkingSchema, locate_in,
};

/// What `revision new` is asked for.
#[derive(Debug, Clone)]
pub struct NewRevision {
    /// A release (`2025_1`: the revisions are `2025_1_expand01` / `2025_1_contract01`, the
    /// number the next free one), or a full name with its number (`2025_1_expand02`).
    pub name: String,
    /// Write only this branch's revision.
    pub branch: Option<Branch>,
    pub description: Option<String>,
}

/// `revision init`: writes the working schema from the heads of `revisions_dir`, one file per
/// table plus `enums.toml`. Refuses to overwrite an existing working schema.
pub fn init(schema_dir: &Path, revisions_dir: &Path) -> Result<Vec<PathBuf>, AuthorError> {
    let set = RevisionSet::from_sources_with(
        &revisions_dir.display().to_string(),
        read_sources(revisions_dir).map_err(AuthorError::Revisions)?,
        Drafts::Allow,
    )
    .map_err(AuthorError::Revisions)?;
    if schema_dir.exists()
        && std::fs::read_dir(schema_dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(invalid(
            format!("{} already exists and is not empty", schema_dir.display()),
            Some(
                "the working schema is edited by hand once it exists; `revision check` compares it with the heads",
            ),
        ));
    }
    let files = snap::schema_dir_files(&strip_hints(&set.head_schema()));
    std::fs::create_dir_all(schema_dir)
        .map_err(|e| invalid(format!("cannot create {}: {e}", schema_dir.display()), None))?;
    let mut out = Vec::new();
    for (name, text) in files {
        let p = schema_dir.join(name);
        std::fs::write(&p, text)
            .map_err(|e| invalid(format!("cannot write {}: {e}", p.display()), None))?;
        out.push(p);
    }
    Ok(out)
}

/// The history of `dir` (drafts accepted: their author may be about to add their contract
/// revision), or None when there is none yet.
pub(super) fn load_history(dir: &Path) -> Result<Option<RevisionSet>, AuthorError> {
    let sources = if dir.is_dir() {
        read_sources(dir).map_err(AuthorError::Revisions)?
    } else {
        vec![]
    };
    if sources.is_empty() {
        return Ok(None);
    }
    RevisionSet::from_sources_with(&dir.display().to_string(), sources, Drafts::Allow)
        .map(Some)
        .map_err(AuthorError::Revisions)
}

/// `revision new`: see the module documentation.
pub fn new(
    schema_dir: &Path,
    revisions_dir: &Path,
    req: &NewRevision,
) -> Result<Vec<Written>, AuthorError> {
    let work = WorkingSchema::load(schema_dir).map_err(AuthorError::Snapshot)?;
    let Some(set) = load_history(revisions_dir)? else {
        return root(&work, revisions_dir, req);
    };
    if let Some((_, heads)) = set.forks().first() {
        return Err(invalid(
            format!(
                "the history has an unmerged fork (heads {}): a new revision would not know which to follow",
                heads.join(", ")
            ),
            Some(&format!(
                "merge the two lines first: `glance-manage revision merge {}`",
                heads.join(" ")
            )),
        ));
    }
    let heads = set.head_schema();
    // Renames are add, copy, drop across the two revisions; a contract revision alone renames
    // (its data steps run before its DDL, so there would be no new column to copy into).
    let (want, renames) = if req.branch == Some(Branch::Contract) {
        (work.schema.clone(), vec![])
    } else {
        split::take_column_renames(&heads, &work.schema)
    };
    let d = diff::diff(&heads, &want);
    if let Some(u) = d.unsupported.first() {
        return Err(unsupported(&work, u));
    }
    if compare(&heads, &want).is_none() {
        return Err(invalid(
            format!(
                "{} matches the heads of {}: there is nothing to write",
                schema_dir.display(),
                revisions_dir.display()
            ),
            Some("edit the working schema first, then run `revision new` again"),
        ));
    }
    let names = Names::choose(&set, &req.name, req.branch)?;
    let plan = Plan::build(&set, &heads, &want, &d.changes, &renames, &names, req)?;
    refuse_misplaced(&plan, &work, &set, req)?;
    plan.write(&set, revisions_dir, &want, req)
}

/// The first revision of a new history: the working schema as the root.
fn root(work: &WorkingSchema, dir: &Path, req: &NewRevision) -> Result<Vec<Written>, AuthorError> {
    check_name(&req.name)?;
    let meta = meta(&req.name, vec![], vec![], None, req);
    let text = snap::snapshot_to_toml(&meta, &[], &strip_hints(&work.schema));
    let path = dir.join(format!("{}.toml", req.name));
    let files = vec![(path.display().to_string(), text.clone())];
    let set = RevisionSet::from_sources(&dir.display().to_string(), files)
        .map_err(AuthorError::Revisions)?;
    write_files(dir, &[(path.clone(), text)])?;
    Ok(vec![Written {
        path,
        name: req.name.clone(),
        branch: None,
        parents: vec![],
        depends_on: vec![],
        changes: set.change_summary(&BTreeSet::new(), &req.name),
        data_migrations: vec![],
    }])
}

fn meta(
    name: &str,
    parents: Vec<String>,
    depends_on: Vec<String>,
    branch: Option<Branch>,
    req: &NewRevision,
) -> RevisionMeta {
    RevisionMeta {
        name: name.to_string(),
        parents,
        depends_on,
        branch,
        description: req.description.clone(),
        built_on: BTreeMap::new(),
    }
}

/// What `revision new` is about to write.
struct Plan {
    /// The expand revision: name, parent, snapshot, data migrations.
    expand: Option<(String, String, Schema, Vec<DataMigration>)>,
    /// The contract revision: name, parent, dependencies, data migrations.
    contract: Option<(String, String, Vec<String>, Vec<DataMigration>)>,
    /// What the contract revision has to change after the expand state.
    leftover: Vec<Change>,
}

impl Plan {
    fn build(
        set: &RevisionSet,
        heads: &Schema,
        want: &Schema,
        changes: &[Change],
        renames: &[ColumnRename],
        names: &Names,
        req: &NewRevision,
    ) -> Result<Plan, AuthorError> {
        let expand_parent = parent_on(set, Branch::Expand);
        let contract_parent = parent_on(set, Branch::Contract);
        let mut expand = None;
        let mut after_expand = heads.clone();
        if req.branch != Some(Branch::Contract) {
            let adds = split::expand_changes(changes, heads, renames);
            let base = &set.get(&expand_parent).expect("a head").schema;
            let x = diff::apply_all(base, &adds);
            after_expand = state_with(set, &names.expand, &expand_parent, &x)?;
            expand = Some((names.expand.clone(), expand_parent, x, Vec::new()));
        }
        let leftover = match compare(&after_expand, want) {
            None => vec![],
            Some(_) => {
                let l = diff::diff(&after_expand, want).changes;
                if l.is_empty() {
                    // Only details `diff` does not plan (per-dialect overrides) differ.
                    vec![]
                } else {
                    l
                }
            }
        };
        let contract_needed =
            req.branch == Some(Branch::Contract) || compare(&after_expand, want).is_some();
        let data = split::data_migrations(
            &leftover,
            heads,
            want,
            renames,
            &names.release,
            &names.number,
            &names.contract,
        );
        let mut contract = None;
        if contract_needed {
            let depends = expand
                .as_ref()
                .map(|e| vec![e.0.clone()])
                .unwrap_or_default();
            contract = Some((names.contract.clone(), contract_parent, depends, vec![]));
        }
        match (&mut expand, &mut contract) {
            (Some(e), _) => e.3 = data,
            (None, Some(c)) => c.3 = data,
            (None, None) => {}
        }
        // An expand revision that changes nothing and migrates nothing is not written: the
        // contract revision stands alone (its parent is the contract head).
        if let Some(e) = &expand
            && contract.is_some()
            && e.3.is_empty()
            && compare(&set.get(&e.1).expect("a head").schema, &e.2).is_none()
        {
            expand = None;
            if let Some(c) = &mut contract {
                c.2.clear();
            }
        }
        Ok(Plan {
            expand,
            contract,
            leftover,
        })
    }

    fn write(
        &self,
        set: &RevisionSet,
        dir: &Path,
        want: &Schema,
        req: &NewRevision,
    ) -> Result<Vec<Written>, AuthorError> {
        let mut sources: Vec<(String, String)> =
            read_sources(dir).map_err(AuthorError::Revisions)?;
        let mut new_files: Vec<(PathBuf, String)> = Vec::new();
        let mut digests: BTreeMap<String, String> = BTreeMap::new();
        let digest_of = |name: &str, digests: &BTreeMap<String, String>| {
            digests
                .get(name)
                .cloned()
                .or_else(|| set.get(name).map(snap::digest))
                .unwrap_or_default()
        };
        let mut emit = |name: &str,
                        parents: Vec<String>,
                        depends: Vec<String>,
                        branch: Branch,
                        schema: &Schema,
                        data: &[DataMigration],
                        digests: &mut BTreeMap<String, String>|
         -> Result<(), AuthorError> {
            let path = dir.join(format!("{name}.toml"));
            if path.exists() {
                return Err(invalid(
                    format!("{} already exists", path.display()),
                    Some("choose another release, or another number"),
                ));
            }
            let mut m = meta(name, parents.clone(), depends.clone(), Some(branch), req);
            for p in parents.iter().chain(depends.iter()) {
                m.built_on.insert(p.clone(), digest_of(p, digests));
            }
            let text = snap::snapshot_to_toml(&m, data, schema);
            let parsed =
                snap::parse_str(&path.display().to_string(), &text, snap::FileKind::Revision)
                    .map_err(AuthorError::Snapshot)?;
            digests.insert(name.to_string(), snap::digest(&parsed));
            sources.push((path.display().to_string(), text.clone()));
            new_files.push((path, text));
            Ok(())
        };
        if let Some((name, parent, schema, data)) = &self.expand {
            emit(
                name,
                vec![parent.clone()],
                vec![],
                Branch::Expand,
                schema,
                data,
                &mut digests,
            )?;
        }
        if let Some((name, parent, depends, data)) = &self.contract {
            emit(
                name,
                vec![parent.clone()],
                depends.clone(),
                Branch::Contract,
                want,
                data,
                &mut digests,
            )?;
        }
        let new_set =
            RevisionSet::from_sources_with(&dir.display().to_string(), sources, Drafts::Allow)
                .map_err(AuthorError::Revisions)?;
        if let Some(m) = compare(&new_set.head_schema(), want) {
            return Err(invalid(
                format!(
                    "the revisions would not reach the working schema (left: {}); nothing was written",
                    m.changes.join("; ")
                ),
                Some("write this change in two steps, or with --branch contract"),
            ));
        }
        write_files(dir, &new_files)?;
        Ok(new_files
            .iter()
            .map(|(path, _)| {
                let name = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string();
                let s = new_set.get(&name).expect("just written");
                Written {
                    path: path.clone(),
                    branch: s.meta.branch,
                    parents: s.meta.parents.clone(),
                    depends_on: s.meta.depends_on.clone(),
                    changes: new_set.change_summary(&new_set.ancestors(&name), &name),
                    data_migrations: s
                        .data_migrations
                        .iter()
                        .map(|d| (d.name.clone(), d.phase.as_str(), d.todo.is_some()))
                        .collect(),
                    name,
                }
            })
            .collect())
    }
}

/// The revision a new revision on `branch` follows: the branch's head, else the newest
/// main-line revision (the split point), else the only head.
fn parent_on(set: &RevisionSet, branch: Branch) -> String {
    if let Some(h) = set.branch_head(branch) {
        return h.to_string();
    }
    let order = set.walk_order();
    order
        .iter()
        .rev()
        .find(|r| set.meta(r).is_some_and(|m| m.branch.is_none()))
        .or(order.last())
        .map(|r| r.to_string())
        .unwrap_or_default()
}

/// The schema of a database with every revision plus a candidate expand revision `name`
/// (parent `parent`, snapshot `schema`) applied: what the expand phase reaches.
fn state_with(
    set: &RevisionSet,
    name: &str,
    parent: &str,
    schema: &Schema,
) -> Result<Schema, AuthorError> {
    let mut m = RevisionMeta {
        name: name.to_string(),
        parents: vec![parent.to_string()],
        depends_on: vec![],
        branch: Some(Branch::Expand),
        description: None,
        built_on: BTreeMap::new(),
    };
    m.built_on.clear();
    let text = snap::snapshot_to_toml(&m, &[], schema);
    let mut sources: Vec<(String, String)> = set
        .snapshots()
        .map(|s| (s.source.path.clone(), s.source.text.clone()))
        .collect();
    let path = Path::new(&set.origin).join(format!("{name}.toml"));
    sources.push((path.display().to_string(), text));
    let with = RevisionSet::from_sources_with(&set.origin, sources, Drafts::Allow)
        .map_err(AuthorError::Revisions)?;
    Ok(with.head_schema())
}

/// `--branch expand` with changes only a contract revision may make: refused, each change
/// pointing at where it is written (the working schema, or the revision that declares what
/// it drops).
fn refuse_misplaced(
    plan: &Plan,
    work: &WorkingSchema,
    set: &RevisionSet,
    req: &NewRevision,
) -> Result<(), AuthorError> {
    if req.branch != Some(Branch::Expand) || plan.contract.is_none() {
        return Ok(());
    }
    let heads = set.head_schema();
    let at: Vec<SnapshotError> = plan
        .leftover
        .iter()
        .map(|c| {
            let why = split::contract_reason(c, &heads)
                .unwrap_or("the expand revision cannot reach it from the expand branch");
            locate_change(
                work,
                set,
                c,
                format!("`{c}` cannot go into an expand revision: {why}"),
            )
        })
        .collect();
    Err(AuthorError::Changes {
        message: format!(
            "--branch expand: {} change(s) belong to a contract revision; nothing was written",
            at.len().max(1)
        ),
        help: Some(format!(
            "run `glance-manage revision new {}` without --branch to write the contract revision \
             too, or keep these changes out of schema/ for now",
            req.name
        )),
        at,
    })
}

/// A diagnostic at the place `change` is about: in the working schema, else in the newest
/// revision that declares the object (a drop).
pub(super) fn locate_change(
    work: &WorkingSchema,
    set: &RevisionSet,
    change: &Change,
    message: String,
) -> SnapshotError {
    let path = change.source();
    if work.locate(&path).is_some() && !is_drop(change) {
        return work.error_at(&path, message, None);
    }
    let newest_first: Vec<&str> = set.walk_order().into_iter().rev().collect();
    for r in newest_first {
        let s = set.get(r).expect("listed");
        if let Some(span) = s.source.locations.get(&path) {
            return SnapshotError::at(&s.source.path, &s.source.text, span.clone(), message, None);
        }
    }
    let files: Vec<_> = work.files.to_vec();
    match locate_in(files.iter(), &path) {
        Some((f, span)) => SnapshotError::at(&f.path, &f.text, span, message, None),
        None => work.error_at(&path, message, None),
    }
}

fn is_drop(c: &Change) -> bool {
    matches!(
        c,
        Change::DropEnum(_)
            | Change::DropTable(_)
            | Change::DropColumn { .. }
            | Change::DropIndex { .. }
            | Change::DropUnique { .. }
            | Change::DropForeignKey { .. }
            | Change::DropCheck { .. }
            | Change::DropTrigger(_)
    )
}

/// A change the engine cannot plan (an enum type losing or reordering values).
fn unsupported(work: &WorkingSchema, what: &str) -> AuthorError {
    let name = what
        .split('`')
        .nth(1)
        .map(|n| format!("enums.{n}"))
        .unwrap_or_default();
    AuthorError::Changes {
        message: "the working schema changes what no revision can change".into(),
        help: Some(
            "values can only be appended to an enum type: declare a new enum type with the \
             values you want, point the columns at it and remove the old one"
                .into(),
        ),
        at: vec![work.error_at(&name, what.to_string(), None)],
    }
}

/// Writes the files; on failure removes those already written (all or nothing).
pub(super) fn write_files(dir: &Path, files: &[(PathBuf, String)]) -> Result<(), AuthorError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| invalid(format!("cannot create {}: {e}", dir.display()), None))?;
    for (i, (path, text)) in files.iter().enumerate() {
        if let Err(e) = std::fs::write(path, text) {
            for (p, _) in &files[..i] {
                let _ = std::fs::remove_file(p);
            }
            return Err(invalid(
                format!("cannot write {}: {e}", path.display()),
                None,
            ));
        }
    }
    Ok(())
}
