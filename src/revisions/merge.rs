//! `revision merge A B`: when two lines of work each added revisions from the same base, a
//! merge revision (parents A and B) whose snapshot is the three-way merge of the schemas:
//! base = the schema of the revisions both lines share, ours = A's, theirs = B's.
//!
//! Each object (enum type, table, column, primary key, index, unique key, foreign key, check,
//! table options, trigger) is taken from the side that changed it; when both changed it and
//! differently (a column changed two ways, one name given to two different objects, an
//! object dropped on one side and changed on the other) that is a conflict. The working
//! schema resolves a conflict when it holds one side's version of the object (after merging
//! the two lines in version control, the developer settles `schema/` by hand); any other
//! conflict is reported, at its place in A's revision file, and nothing is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::author::{load_history, locate_change, write_files};
use super::author_error::{AuthorError, Written, invalid};
use super::compare::strip_hints;
use super::split::contract_reason;
use super::{Drafts, RevisionSet, read_sources};
use crate::diff;
use crate::schema::model::*;
use crate::snapshot::{
    self as snap, Branch, FileKind, RevisionMeta, SnapshotError, WorkingSchema, line_of,
};

/// What `revision merge` is asked for.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    pub ours: String,
    pub theirs: String,
    /// The merge revision's name; default: the next free `<release>_<branch>NN` of `ours`.
    pub name: Option<String>,
    pub description: Option<String>,
}

/// One object both sides changed, differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Where the object is, as `Change::source` names it (`tables.items.columns.sku`).
    pub path: String,
    pub base: String,
    pub ours: String,
    pub theirs: String,
}

/// The three-way merge of `base`, `ours` and `theirs`, conflicts resolved by `resolve` where
/// it holds one side's version; the conflicts left.
pub fn merge3(
    base: &Schema,
    ours: &Schema,
    theirs: &Schema,
    resolve: Option<&Schema>,
) -> (Schema, Vec<Conflict>) {
    let mut cx = Cx::default();
    let (b, o, t) = (strip_hints(base), strip_hints(ours), strip_hints(theirs));
    let r = resolve.map(strip_hints);
    let vals = |s: &Schema| s.enums.values().cloned().collect::<Vec<_>>();
    let enums = cx.list(
        &vals(&b),
        &vals(&o),
        &vals(&t),
        r.as_ref().map(vals).as_deref(),
        |e| e.name.clone(),
        |k| format!("enums.{k}"),
    );
    let mut out = Schema::default();
    for e in enums {
        out.enums.insert(e.name.clone(), e);
    }
    let tables = |s: &Schema| s.tables.values().cloned().collect::<Vec<_>>();
    let (tb, to, tt) = (tables(&b), tables(&o), tables(&t));
    let tr = r.as_ref().map(tables);
    for key in keys(&to, &tt, &tb, |x: &Table| x.name.clone()) {
        let find = |v: &[Table]| v.iter().find(|x| x.name == key).cloned();
        let (bv, ov, tv) = (find(&tb), find(&to), find(&tt));
        let merged = match (&bv, &ov, &tv) {
            (Some(bt), Some(ot), Some(tt)) if ot != tt && ot != bt && tt != bt => {
                Some(cx.table(bt, ot, tt, tr.as_deref().and_then(&find).as_ref()))
            }
            _ => cx.pick(
                &format!("tables.{key}"),
                bv,
                ov,
                tv,
                tr.as_deref().map(find),
            ),
        };
        if let Some(m) = merged {
            out.tables.insert(m.name.clone(), m);
        }
    }
    out.triggers = cx.list(
        &b.triggers,
        &o.triggers,
        &t.triggers,
        r.as_ref().map(|r| r.triggers.as_slice()),
        |x| x.name.clone(),
        |k| format!("triggers.{k}"),
    );
    (out, cx.conflicts)
}

#[derive(Default)]
struct Cx {
    conflicts: Vec<Conflict>,
}

impl Cx {
    /// One object: the side that changed it, or the working schema's choice between them.
    fn pick<T: Clone + PartialEq + Describe>(
        &mut self,
        path: &str,
        base: Option<T>,
        ours: Option<T>,
        theirs: Option<T>,
        resolve: Option<Option<T>>,
    ) -> Option<T> {
        if ours == theirs || theirs == base {
            return ours;
        }
        if ours == base {
            return theirs;
        }
        if let Some(r) = resolve
            && (r == ours || r == theirs)
        {
            return r;
        }
        self.conflicts.push(Conflict {
            path: path.to_string(),
            base: describe(&base),
            ours: describe(&ours),
            theirs: describe(&theirs),
        });
        ours
    }

    /// A keyed list, each element merged with [`Cx::pick`]; ours' order, then theirs' new ones.
    fn list<T: Clone + PartialEq + Describe>(
        &mut self,
        base: &[T],
        ours: &[T],
        theirs: &[T],
        resolve: Option<&[T]>,
        key: impl Fn(&T) -> String,
        path: impl Fn(&str) -> String,
    ) -> Vec<T> {
        let find = |v: &[T], k: &str| v.iter().find(|x| key(x) == k).cloned();
        let mut out = Vec::new();
        for k in keys(ours, theirs, base, &key) {
            let r = resolve.map(|r| find(r, &k));
            if let Some(x) = self.pick(
                &path(&k),
                find(base, &k),
                find(ours, &k),
                find(theirs, &k),
                r,
            ) {
                out.push(x);
            }
        }
        out
    }

    /// A table both sides changed: merged part by part.
    fn table(&mut self, b: &Table, o: &Table, t: &Table, r: Option<&Table>) -> Table {
        let n = &o.name;
        let mut m = o.clone();
        m.columns = self.list(
            &b.columns,
            &o.columns,
            &t.columns,
            r.map(|r| r.columns.as_slice()),
            |c| c.name.clone(),
            |k| format!("tables.{n}.columns.{k}"),
        );
        m.primary_key = self
            .pick(
                &format!("tables.{n}.primary_key"),
                Some(b.primary_key.clone()),
                Some(o.primary_key.clone()),
                Some(t.primary_key.clone()),
                r.map(|r| Some(r.primary_key.clone())),
            )
            .flatten();
        m.indexes = self.list(
            &b.indexes,
            &o.indexes,
            &t.indexes,
            r.map(|r| r.indexes.as_slice()),
            |i| i.name.clone(),
            |k| format!("tables.{n}.indexes.{k}"),
        );
        m.uniques = self.list(
            &b.uniques,
            &o.uniques,
            &t.uniques,
            r.map(|r| r.uniques.as_slice()),
            |u| u.name.clone().unwrap_or_else(|| u.columns.join("+")),
            |k| format!("tables.{n}.unique.{k}"),
        );
        m.foreign_keys = self.list(
            &b.foreign_keys,
            &o.foreign_keys,
            &t.foreign_keys,
            r.map(|r| r.foreign_keys.as_slice()),
            |f| f.name.clone().unwrap_or_else(|| f.columns.join("+")),
            |k| format!("tables.{n}.foreign_keys.{k}"),
        );
        m.checks = self.list(
            &b.checks,
            &o.checks,
            &t.checks,
            r.map(|r| r.checks.as_slice()),
            |c| c.name.clone().unwrap_or_else(|| c.expr.clone()),
            |k| format!("tables.{n}.checks.{k}"),
        );
        m.mysql = self
            .pick(
                &format!("tables.{n}.mysql"),
                Some(b.mysql.clone()),
                Some(o.mysql.clone()),
                Some(t.mysql.clone()),
                r.map(|r| Some(r.mysql.clone())),
            )
            .unwrap_or_default();
        m
    }
}

/// Keys of ours, then theirs, then base, each once.
fn keys<T>(ours: &[T], theirs: &[T], base: &[T], key: impl Fn(&T) -> String) -> Vec<String> {
    let mut seen = BTreeSet::new();
    ours.iter()
        .chain(theirs)
        .chain(base)
        .map(key)
        .filter(|k| seen.insert(k.clone()))
        .collect()
}

/// How a conflict names an object's version.
trait Describe {
    fn describe(&self) -> String;
}

fn describe<T: Describe>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "absent".to_string(), Describe::describe)
}

impl<T: Describe> Describe for Option<T> {
    fn describe(&self) -> String {
        describe(self)
    }
}

impl Describe for EnumType {
    fn describe(&self) -> String {
        format!("values ({})", self.values.join(", "))
    }
}

impl Describe for Table {
    fn describe(&self) -> String {
        let cols: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        format!("a table of columns {}", cols.join(", "))
    }
}

impl Describe for Column {
    fn describe(&self) -> String {
        let mut s = self.ty.to_string();
        if !self.nullable {
            s.push_str(" not null");
        }
        if let Some(d) = &self.default {
            s.push_str(&format!(" default {d}"));
        }
        s
    }
}

impl Describe for PrimaryKey {
    fn describe(&self) -> String {
        format!("({})", self.columns.join(", "))
    }
}

impl Describe for Index {
    fn describe(&self) -> String {
        format!(
            "{}index on ({})",
            if self.unique { "unique " } else { "" },
            self.columns.join(", ")
        )
    }
}

impl Describe for Unique {
    fn describe(&self) -> String {
        format!("unique ({})", self.columns.join(", "))
    }
}

impl Describe for ForeignKey {
    fn describe(&self) -> String {
        format!(
            "({}) -> {}({})",
            self.columns.join(", "),
            self.ref_table,
            self.ref_columns.join(", ")
        )
    }
}

impl Describe for Check {
    fn describe(&self) -> String {
        format!("check ({})", self.expr)
    }
}

impl Describe for MysqlOptions {
    fn describe(&self) -> String {
        format!(
            "engine {}, charset {}",
            self.engine.as_deref().unwrap_or("-"),
            self.charset.as_deref().unwrap_or("-")
        )
    }
}

impl Describe for Trigger {
    fn describe(&self) -> String {
        format!("{} {} on {}", self.timing, self.event, self.table)
    }
}

/// `revision merge`: see the module documentation.
pub fn merge(
    schema_dir: &Path,
    revisions_dir: &Path,
    req: &MergeRequest,
) -> Result<Written, AuthorError> {
    let Some(set) = load_history(revisions_dir)? else {
        return Err(invalid(
            format!("no revisions in {}", revisions_dir.display()),
            None,
        ));
    };
    let (a, b) = (req.ours.as_str(), req.theirs.as_str());
    for r in [a, b] {
        if !set.contains(r) {
            return Err(invalid(
                format!("unknown revision `{r}`"),
                Some(&set.suggestions(r)),
            ));
        }
    }
    let (ca, cb) = (set.closure(a), set.closure(b));
    if ca.contains(b) || cb.contains(a) {
        return Err(invalid(
            format!(
                "`{a}` and `{b}` are on one line (one comes after the other): there is nothing to merge"
            ),
            None,
        ));
    }
    let branch_of = |r: &str| set.meta(r).and_then(|m| m.branch);
    let branch = branch_of(a);
    if branch != branch_of(b) {
        return Err(invalid(
            format!(
                "`{a}` and `{b}` are on different branches: a merge joins two lines of one branch"
            ),
            Some(
                "an expand head and a contract head are not a fork: `revision check` says which heads are",
            ),
        ));
    }
    let common: BTreeSet<String> = ca.intersection(&cb).cloned().collect();
    let base = set.expected_portable(&common);
    let ours = set.expected_portable(&ca);
    let theirs = set.expected_portable(&cb);
    let work = WorkingSchema::load(schema_dir).ok();
    let (merged, conflicts) = merge3(&base, &ours, &theirs, work.as_ref().map(|w| &w.schema));
    if !conflicts.is_empty() {
        return Err(conflict_error(&set, a, b, &conflicts, work.is_some()));
    }
    // What the merge revision itself changes, over a database with both lines applied: on the
    // expand branch it must be additive like any expand revision.
    let both: BTreeSet<String> = ca.union(&cb).cloned().collect();
    let replayed = set.expected_portable(&both);
    if branch == Some(Branch::Expand) {
        let heads = set.head_schema();
        let bad: Vec<SnapshotError> = diff::diff(&replayed, &merged)
            .changes
            .iter()
            .filter_map(|c| {
                let why = contract_reason(c, &heads)?;
                let msg = format!("the merge would `{c}` on the expand branch: {why}");
                Some(match &work {
                    Some(w) => locate_change(w, &set, c, msg),
                    None => SnapshotError::plain(
                        revisions_dir.display().to_string().as_str(),
                        msg,
                        None,
                    ),
                })
            })
            .collect();
        if !bad.is_empty() {
            return Err(AuthorError::Changes {
                message: "the merged schema needs a contract change; nothing was written".into(),
                help: Some("settle schema/ on what the expand lines can reach, merge, then `revision new` for the rest".into()),
                at: bad,
            });
        }
    }
    let name = match &req.name {
        Some(n) => n.clone(),
        None => default_name(&set, a, branch)?,
    };
    if !snap::is_revision_name(&name) {
        return Err(invalid(format!("invalid revision name `{name}`"), None));
    }
    let path = revisions_dir.join(format!("{name}.toml"));
    if path.exists() || set.contains(&name) {
        return Err(invalid(
            format!("{} already exists", path.display()),
            Some("choose another name with --name"),
        ));
    }
    let mut built_on = BTreeMap::new();
    for r in [a, b] {
        built_on.insert(r.to_string(), snap::digest(set.get(r).expect("checked")));
    }
    let meta = RevisionMeta {
        name: name.clone(),
        parents: vec![a.to_string(), b.to_string()],
        depends_on: vec![],
        branch,
        description: Some(
            req.description
                .clone()
                .unwrap_or_else(|| format!("merge of {a} and {b}")),
        ),
        built_on,
    };
    let text = snap::snapshot_to_toml(&meta, &[], &merged);
    snap::parse_str(&path.display().to_string(), &text, FileKind::Revision)
        .map_err(AuthorError::Snapshot)?;
    let mut sources = read_sources(revisions_dir).map_err(AuthorError::Revisions)?;
    sources.push((path.display().to_string(), text.clone()));
    let new_set = RevisionSet::from_sources_with(
        &revisions_dir.display().to_string(),
        sources,
        Drafts::Allow,
    )
    .map_err(AuthorError::Revisions)?;
    write_files(revisions_dir, &[(path.clone(), text)])?;
    Ok(Written {
        path,
        branch,
        parents: meta.parents.clone(),
        depends_on: vec![],
        changes: new_set.change_summary(&new_set.ancestors(&name), &name),
        data_migrations: vec![],
        name,
    })
}

/// The next free `<release>_<branch>NN` after `ours`'s release.
fn default_name(
    set: &RevisionSet,
    ours: &str,
    branch: Option<Branch>,
) -> Result<String, AuthorError> {
    let Some(b) = branch else {
        return Err(invalid(
            "a merge on the main line needs a name",
            Some("give it with --name"),
        ));
    };
    let tag = format!("_{}", b.as_str());
    let release = ours
        .rfind(&tag)
        .map(|i| &ours[..i])
        .filter(|r| !r.is_empty())
        .unwrap_or(ours);
    (1..100)
        .map(|i| format!("{release}{tag}{i:02}"))
        .find(|n| !set.contains(n))
        .ok_or_else(|| invalid("no free merge name", Some("give one with --name")))
}

fn conflict_error(
    set: &RevisionSet,
    a: &str,
    b: &str,
    conflicts: &[Conflict],
    have_schema: bool,
) -> AuthorError {
    let (sa, sb) = (set.get(a).expect("known"), set.get(b).expect("known"));
    let place = |s: &crate::snapshot::Snapshot, path: &str| {
        s.source
            .locations
            .get(path)
            .map(|sp| format!("{}:{}", s.source.path, line_of(&s.source.text, sp.start)))
            .unwrap_or_else(|| s.source.path.clone())
    };
    let at = conflicts
        .iter()
        .map(|c| {
            let msg = format!(
                "`{}` changed two ways: `{a}` has {}, `{b}` has {} ({}); the base had {}",
                c.path,
                c.ours,
                c.theirs,
                place(sb, &c.path),
                c.base
            );
            match sa.source.locations.get(&c.path) {
                Some(span) => {
                    SnapshotError::at(&sa.source.path, &sa.source.text, span.clone(), msg, None)
                }
                None => SnapshotError::plain(&sa.source.path, msg, None),
            }
        })
        .collect();
    AuthorError::Changes {
        message: format!(
            "revision merge {a} {b}: {} conflict(s); nothing was written",
            conflicts.len()
        ),
        help: Some(if have_schema {
            "resolve each in schema/: give the object the version of the side that should win, \
             then merge again"
                .into()
        } else {
            "there is no schema/ to resolve them with: write it (`revision init` from one \
             side), give each object the winning side's version, then merge again"
                .into()
        }),
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cols: &[(&str, ColumnType)]) -> Schema {
        let mut t = Table::new("items");
        for (n, ty) in cols {
            t.columns.push(Column::new(n, ty.clone()));
        }
        let mut s = Schema::default();
        s.tables.insert("items".into(), t);
        s
    }

    #[test]
    fn changes_on_both_sides_are_combined() {
        let base = table(&[("id", ColumnType::Integer)]);
        let ours = table(&[("id", ColumnType::Integer), ("a", ColumnType::Text)]);
        let theirs = table(&[("id", ColumnType::BigInt), ("b", ColumnType::Text)]);
        let (m, conflicts) = merge3(&base, &ours, &theirs, None);
        assert!(conflicts.is_empty(), "{conflicts:?}");
        let names: Vec<&str> = m.tables["items"]
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["id", "a", "b"]);
        assert_eq!(m.tables["items"].columns[0].ty, ColumnType::BigInt);
    }

    #[test]
    fn a_column_changed_two_ways_is_a_conflict_unless_resolved() {
        let base = table(&[("sku", ColumnType::String(40))]);
        let ours = table(&[("sku", ColumnType::String(64))]);
        let theirs = table(&[("sku", ColumnType::String(32))]);
        let (_, conflicts) = merge3(&base, &ours, &theirs, None);
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].path, "tables.items.columns.sku");
        assert_eq!(conflicts[0].ours, "string(64)");
        let (m, conflicts) = merge3(&base, &ours, &theirs, Some(&theirs));
        assert!(conflicts.is_empty());
        assert_eq!(m.tables["items"].columns[0].ty, ColumnType::String(32));
        let other = table(&[("sku", ColumnType::String(50))]);
        assert_eq!(merge3(&base, &ours, &theirs, Some(&other)).1.len(), 1);
    }
}
