//! The revision DAG: every snapshot is a node; `parents` and `depends_on` are edges. Built with
//! petgraph, checked for cycles, dangling references, duplicates and unreachable revisions, and
//! queried for heads, ancestors and the ordered path an upgrade walks.

pub mod author;
mod author_error;
pub mod check;
pub mod compare;
mod entry;
mod load;
pub mod merge;
mod naming;
pub mod split;

use entry::Entry;
use load::unfinished;
pub use load::{Drafts, read_sources};

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use include_dir::{Dir, include_dir};
use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::diff;
use crate::schema::model::{Dialect, Schema};
use crate::snapshot::SnapshotError;
use crate::snapshot::{self, Branch, DataMigration, RevisionHead, RevisionMeta, Snapshot};

/// Glance's revision history, compiled into the binary so it works from any directory.
static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/revisions");

/// (dialect or portable, applied set) → expected schema.
type MemoKey = (Option<Dialect>, BTreeSet<String>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// `parents`: the revision's place in its chain (Alembic's `down_revision`).
    Parent,
    /// `depends_on`: must be applied first, without being on the same chain.
    DependsOn,
}

/// A loaded, validated set of revisions.
#[derive(Debug)]
pub struct RevisionSet {
    /// In file order; graph nodes index into it.
    revisions: Vec<Entry>,
    graph: DiGraph<usize, EdgeKind>,
    by_name: HashMap<String, NodeIndex>,
    /// Where the set came from, for messages.
    pub origin: String,
    /// Memo of [`RevisionSet::expected_schema`]: the fold recomputes the same sub-states many
    /// times otherwise.
    expected_memo: Mutex<HashMap<MemoKey, Schema>>,
}

/// Errors in a revision set: one or more files failed to parse, or the graph is malformed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RevisionError {
    #[error("{} revision file(s) are invalid", .0.len())]
    Files(#[related] Vec<SnapshotError>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Graph(SnapshotError),
    #[error("no revisions found in {0}")]
    #[diagnostic(help("a revisions directory holds one NAME.toml snapshot per revision"))]
    Empty(String),
    #[error("cannot read revisions directory {path}: {reason}")]
    Io { path: String, reason: String },
}

/// A revision file as the loader gets it.
enum Source {
    /// A built-in file whose head (`[revision]`, data migrations) was read alone, and its text.
    Lazy(Box<RevisionHead>, &'static str),
    /// (path, text), to parse in full.
    Text(String, String),
}

impl RevisionSet {
    /// Glance's own history, embedded in the binary. Only the files' heads are read
    /// now; a snapshot is read when a command first needs it (see `revisions/entry.rs`). A file the quick
    /// read cannot vouch for is parsed in full right away, with the usual diagnostics.
    pub fn builtin() -> Result<RevisionSet, RevisionError> {
        let mut files: Vec<(String, &'static [u8])> = BUILTIN
            .files()
            .filter(|f| f.path().extension().is_some_and(|e| e == "toml"))
            .map(|f| (format!("revisions/{}", f.path().display()), f.contents()))
            .collect();
        files.sort();
        let sources = files
            .into_iter()
            .map(|(path, bytes)| {
                let text = std::str::from_utf8(bytes).ok();
                match text.and_then(|t| Some((snapshot::parse_head(&path, t)?, t))) {
                    Some((head, text)) => Source::Lazy(Box::new(head), text),
                    None => Source::Text(path, String::from_utf8_lossy(bytes).into_owned()),
                }
            })
            .collect();
        Self::load("built-in Glance revisions", sources, Drafts::Refuse)
    }

    /// Every `*.toml` file of a directory.
    pub fn from_dir(dir: &Path) -> Result<RevisionSet, RevisionError> {
        Self::from_sources(&dir.display().to_string(), read_sources(dir)?)
    }

    /// Builds the set from (path, text) pairs. All files are parsed and every parse error is
    /// reported at once; then the graph is checked. A data migration still holding the `todo`
    /// of a `revision new` skeleton is refused: nothing may run it before someone wrote it.
    pub fn from_sources(
        origin: &str,
        files: Vec<(String, String)>,
    ) -> Result<RevisionSet, RevisionError> {
        Self::from_sources_with(origin, files, Drafts::Refuse)
    }

    /// [`from_sources`](Self::from_sources), optionally accepting unfinished data migrations
    /// (`revision new` validates the files it is about to write, skeletons included).
    pub fn from_sources_with(
        origin: &str,
        files: Vec<(String, String)>,
        drafts: Drafts,
    ) -> Result<RevisionSet, RevisionError> {
        let sources = files
            .into_iter()
            .map(|(path, text)| Source::Text(path, text))
            .collect();
        Self::load(origin, sources, drafts)
    }

    /// Parses the files given as text (every parse error is reported at once), then checks
    /// the graph.
    fn load(
        origin: &str,
        sources: Vec<Source>,
        drafts: Drafts,
    ) -> Result<RevisionSet, RevisionError> {
        if sources.is_empty() {
            return Err(RevisionError::Empty(origin.to_string()));
        }
        // The lazy entries in their places; the texts parsed together, on the machine's cores.
        let mut texts = Vec::new();
        let mut slots = Vec::new();
        for source in sources {
            match source {
                Source::Lazy(head, text) => slots.push(Some(Entry::lazy(*head, text))),
                Source::Text(path, text) => {
                    texts.push((path, text));
                    slots.push(None);
                }
            }
        }
        let mut parsed = entry::parse_all(&texts).into_iter();
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        // Unwritten data migrations are listed after every parse error.
        let mut drafts_left = Vec::new();
        for slot in slots {
            match slot {
                Some(e) => entries.push(e),
                None => match parsed.next().expect("one result per text") {
                    Ok(s) => {
                        if drafts == Drafts::Refuse {
                            drafts_left.extend(unfinished(&s));
                        }
                        entries.push(Entry::parsed(s));
                    }
                    Err(e) => errors.push(e),
                },
            }
        }
        errors.extend(drafts_left);
        if !errors.is_empty() {
            return Err(RevisionError::Files(errors));
        }
        Self::build(origin, entries).map_err(RevisionError::Graph)
    }

    fn build(origin: &str, revisions: Vec<Entry>) -> Result<RevisionSet, SnapshotError> {
        let mut graph: DiGraph<usize, EdgeKind> = DiGraph::new();
        let mut by_name: HashMap<String, NodeIndex> = HashMap::new();
        for (i, e) in revisions.iter().enumerate() {
            let s = &e.head;
            let stem = Path::new(&s.path)
                .file_stem()
                .and_then(|x| x.to_str())
                .unwrap_or_default();
            if stem != s.meta.name {
                return Err(graph_err(
                    e,
                    s.name_span.clone(),
                    format!("file `{stem}.toml` declares revision `{}`", s.meta.name),
                    Some(format!(
                        "rename the file to `{}.toml` or fix the name",
                        s.meta.name
                    )),
                ));
            }
            if let Some(&other) = by_name.get(&s.meta.name) {
                let first: &str = &revisions[graph[other]].head.path;
                return Err(graph_err(
                    e,
                    s.name_span.clone(),
                    format!(
                        "revision `{}` is declared twice: by {first} and by {}",
                        s.meta.name, s.path
                    ),
                    Some("every revision name must be unique".into()),
                ));
            }
            by_name.insert(s.meta.name.clone(), graph.add_node(i));
        }
        for (i, e) in revisions.iter().enumerate() {
            let s = &e.head;
            let me = by_name[&s.meta.name];
            let refs = s
                .meta
                .parents
                .iter()
                .zip(&s.parent_spans)
                .map(|(p, sp)| (p, sp, EdgeKind::Parent))
                .chain(
                    s.meta
                        .depends_on
                        .iter()
                        .zip(&s.depends_spans)
                        .map(|(p, sp)| (p, sp, EdgeKind::DependsOn)),
                );
            for (p, span, kind) in refs {
                let Some(&from) = by_name.get(p) else {
                    let what = if kind == EdgeKind::Parent {
                        "parent"
                    } else {
                        "dependency"
                    };
                    return Err(graph_err(
                        &revisions[i],
                        span.clone(),
                        format!("revision `{}` names unknown {what} `{p}`", s.meta.name),
                        Some(suggest(p, by_name.keys())),
                    ));
                };
                graph.add_edge(from, me, kind);
            }
        }
        // Cycles: any strongly connected component with more than one node (self-references are
        // rejected by the parser).
        for scc in tarjan_scc(&graph) {
            if scc.len() > 1 {
                let mut names: Vec<&str> = scc
                    .iter()
                    .map(|n| revisions[graph[*n]].head.meta.name.as_str())
                    .collect();
                names.sort();
                let s = &revisions[graph[scc[0]]];
                return Err(graph_err(
                    s,
                    s.head.name_span.clone(),
                    format!("revision cycle: {} -> {}", names.join(" -> "), names[0]),
                    Some(
                        "a revision cannot be its own ancestor; fix `parents`/`depends_on`".into(),
                    ),
                ));
            }
        }
        let roots: Vec<NodeIndex> = graph
            .node_indices()
            .filter(|n| {
                graph
                    .edges_directed(*n, Direction::Incoming)
                    .next()
                    .is_none()
            })
            .collect();
        if roots.len() != 1 {
            let mut names: Vec<&str> = roots
                .iter()
                .map(|n| revisions[graph[*n]].head.meta.name.as_str())
                .collect();
            names.sort();
            let s = &revisions[graph[*roots.last().unwrap_or(&NodeIndex::new(0))]];
            let msg = if roots.is_empty() {
                "no root revision (every revision has a parent)".to_string()
            } else {
                format!(
                    "revisions {} have no parents: only one root is allowed, so all but one are unreachable from the root",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(graph_err(
                s,
                s.head.name_span.clone(),
                msg,
                Some("give each revision but the first a parent".into()),
            ));
        }
        Ok(RevisionSet {
            revisions,
            graph,
            by_name,
            origin: origin.to_string(),
            expected_memo: Mutex::new(HashMap::new()),
        })
    }

    pub fn len(&self) -> usize {
        self.revisions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.revisions.is_empty()
    }

    /// The whole snapshot of a revision (read now if it was not yet: prefer
    /// [`meta`](Self::meta) when the metadata is enough).
    pub fn get(&self, name: &str) -> Option<&Snapshot> {
        self.entry(name).map(Entry::snapshot)
    }

    /// A revision's `[revision]` metadata (name, parents, dependencies, branch).
    pub fn meta(&self, name: &str) -> Option<&RevisionMeta> {
        self.entry(name).map(|e| &e.head.meta)
    }

    /// A revision's data migrations (without reading its schema).
    pub fn data_migrations(&self, name: &str) -> Option<&[DataMigration]> {
        self.entry(name).map(|e| e.head.data_migrations.as_slice())
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.by_name
            .get(name)
            .map(|n| &self.revisions[self.graph[*n]])
    }

    fn meta_at(&self, n: NodeIndex) -> &RevisionMeta {
        &self.revisions[self.graph[n]].head.meta
    }

    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.revisions.iter().map(|e| e.head.meta.name.as_str())
    }

    /// The root revision (no parents).
    pub fn root(&self) -> &str {
        self.revisions
            .iter()
            .map(|e| &e.head.meta)
            .find(|m| m.parents.is_empty() && m.depends_on.is_empty())
            .map(|m| m.name.as_str())
            .unwrap_or_default()
    }

    /// Revisions nothing descends from along `parents`, in walk order.
    pub fn heads(&self) -> Vec<&str> {
        let heads: HashSet<NodeIndex> = self
            .graph
            .node_indices()
            .filter(|n| {
                !self
                    .graph
                    .edges_directed(*n, Direction::Outgoing)
                    .any(|e| *e.weight() == EdgeKind::Parent)
            })
            .collect();
        self.walk_order()
            .into_iter()
            .filter(|n| heads.contains(&self.by_name[*n]))
            .collect()
    }

    /// The head of a branch (`expand` / `contract`), like Alembic's `get_current_head(branch)`.
    pub fn branch_head(&self, branch: Branch) -> Option<&str> {
        self.heads()
            .into_iter()
            .find(|h| self.meta(h).is_some_and(|m| m.branch == Some(branch)))
    }

    /// Every head of a branch (several when two lines of work forked and were not merged).
    pub fn branch_heads(&self, branch: Branch) -> Vec<&str> {
        self.heads()
            .into_iter()
            .filter(|h| self.meta(h).is_some_and(|m| m.branch == Some(branch)))
            .collect()
    }

    /// What an upgrade to "every head" must reach: the heads that no other revision needs
    /// (a contract head that `depends_on` its expand head covers it), in walk order. For
    /// Glance's history this is the contract head alone.
    pub fn targets(&self) -> Vec<String> {
        let all: BTreeSet<String> = self.names().map(str::to_string).collect();
        self.heads_of(&all)
    }

    /// The schema of a database that has applied every revision: what the working schema
    /// must equal. Portable (no dialect resolved).
    pub fn head_schema(&self) -> Schema {
        let all: BTreeSet<String> = self.names().map(str::to_string).collect();
        self.expected_in(&all, None)
    }

    /// [`expected_schema`](Self::expected_schema) without resolving a dialect.
    pub fn expected_portable(&self, applied: &BTreeSet<String>) -> Schema {
        self.expected_in(applied, None)
    }

    /// Unmerged forks: per line (main, expand, contract) with more than one head, the heads.
    /// A main-line head next to branch heads is a fork too (the main line went on after the
    /// expand/contract split).
    pub fn forks(&self) -> Vec<(Option<Branch>, Vec<String>)> {
        let heads = self.heads();
        let of = |b: Option<Branch>| -> Vec<String> {
            heads
                .iter()
                .filter(|h| self.meta(h).is_some_and(|m| m.branch == b))
                .map(|h| h.to_string())
                .collect()
        };
        let (main, expand, contract) = (
            of(None),
            of(Some(Branch::Expand)),
            of(Some(Branch::Contract)),
        );
        let split = !expand.is_empty() || !contract.is_empty();
        let mut out = Vec::new();
        if main.len() > 1 || (split && !main.is_empty()) {
            let mut all = main;
            all.extend(expand.iter().chain(contract.iter()).cloned());
            out.push((None, all));
            return out;
        }
        for (b, hs) in [(Branch::Expand, expand), (Branch::Contract, contract)] {
            if hs.len() > 1 {
                out.push((Some(b), hs));
            }
        }
        out
    }

    /// Every revision's snapshot, in file order (the ones not read yet are read now, on the
    /// machine's cores).
    pub fn snapshots(&self) -> impl Iterator<Item = &Snapshot> {
        self.read_all();
        self.revisions.iter().map(Entry::snapshot)
    }

    /// Reads every snapshot not read yet, on the machine's cores: for a command that is about
    /// to need them all, one by one.
    pub fn read_all(&self) {
        entry::read_all(&self.revisions);
    }

    /// All revisions that must be applied before `name` (both edge kinds), not including it.
    pub fn ancestors(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let Some(&start) = self.by_name.get(name) else {
            return out;
        };
        let mut stack = vec![start];
        while let Some(n) = stack.pop() {
            for e in self.graph.edges_directed(n, Direction::Incoming) {
                let p = e.source();
                if out.insert(self.meta_at(p).name.clone()) {
                    stack.push(p);
                }
            }
        }
        out
    }

    /// `name` and everything before it: what a database at `name` has applied.
    pub fn closure(&self, name: &str) -> BTreeSet<String> {
        let mut s = self.ancestors(name);
        if self.contains(name) {
            s.insert(name.to_string());
        }
        s
    }

    /// The applied set implied by version rows (the union of their closures).
    pub fn applied_from_heads<'a>(
        &self,
        heads: impl IntoIterator<Item = &'a str>,
    ) -> BTreeSet<String> {
        heads.into_iter().flat_map(|h| self.closure(h)).collect()
    }

    /// The version rows that describe an applied set: its maximal elements, i.e. the applied
    /// revisions that no other applied revision has as ancestor (Alembic's heads).
    pub fn heads_of(&self, applied: &BTreeSet<String>) -> Vec<String> {
        let covered: HashSet<String> = applied.iter().flat_map(|a| self.ancestors(a)).collect();
        self.walk_order()
            .into_iter()
            .filter(|n| applied.contains(*n) && !covered.contains(*n))
            .map(str::to_string)
            .collect()
    }

    /// Every revision in the order an upgrade from nothing applies them: dependencies first;
    /// among revisions ready at the same time, the main line, then the expand branch, then the
    /// contract branch (Glance applies the whole expand chain before the contract chain), then
    /// file order.
    pub fn walk_order(&self) -> Vec<&str> {
        let all: BTreeSet<String> = self.names().map(str::to_string).collect();
        self.order(&all)
    }

    /// Orders a subset of revisions with the rules of [`RevisionSet::walk_order`].
    pub fn order(&self, subset: &BTreeSet<String>) -> Vec<&str> {
        let rank = |n: NodeIndex| {
            let b = match self.meta_at(n).branch {
                None => 0,
                Some(Branch::Expand) => 1,
                Some(Branch::Contract) => 2,
            };
            (b, self.graph[n])
        };
        let in_subset = |n: NodeIndex| subset.contains(&self.meta_at(n).name);
        let mut indeg: HashMap<NodeIndex, usize> = HashMap::new();
        for n in self.graph.node_indices().filter(|n| in_subset(*n)) {
            let d = self
                .graph
                .edges_directed(n, Direction::Incoming)
                .filter(|e| in_subset(e.source()))
                .count();
            indeg.insert(n, d);
        }
        let mut ready: BinaryHeap<Reverse<((i32, usize), NodeIndex)>> = indeg
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| Reverse((rank(*n), *n)))
            .collect();
        let mut out = Vec::new();
        while let Some(Reverse((_, n))) = ready.pop() {
            out.push(self.meta_at(n).name.as_str());
            for e in self.graph.edges_directed(n, Direction::Outgoing) {
                if let Some(d) = indeg.get_mut(&e.target()) {
                    *d -= 1;
                    if *d == 0 {
                        ready.push(Reverse((rank(e.target()), e.target())));
                    }
                }
            }
        }
        out
    }

    /// The revisions to apply, in order, to go from an applied set to `target` (and everything
    /// it needs).
    pub fn path(&self, applied: &BTreeSet<String>, target: &str) -> Vec<&str> {
        let todo: BTreeSet<String> = self.closure(target).difference(applied).cloned().collect();
        self.order(&todo)
    }

    /// The schema a database holds when exactly `applied` (a set closed under ancestry) has been
    /// applied, resolved for `dialect`.
    ///
    /// With one version row this is that revision's snapshot. With several (a rolling upgrade:
    /// e.g. `2023_1_contract01` + `2024_1_expand01`) it is the first head's snapshot plus, for
    /// every other applied revision, the change that revision made to the schema before it
    /// (its snapshot diffed against the state of its own ancestors).
    pub fn expected_schema(&self, applied: &BTreeSet<String>, dialect: Dialect) -> Schema {
        self.expected_in(applied, Some(dialect))
    }

    /// [`expected_schema`] in the portable form (no dialect resolution), or resolved.
    fn expected_in(&self, applied: &BTreeSet<String>, dialect: Option<Dialect>) -> Schema {
        let key = (dialect, applied.clone());
        if let Some(s) = self.expected_memo.lock().expect("memo lock").get(&key) {
            return s.clone();
        }
        let s = self.expected_uncached(applied, dialect);
        self.expected_memo
            .lock()
            .expect("memo lock")
            .insert(key, s.clone());
        s
    }

    fn expected_uncached(&self, applied: &BTreeSet<String>, dialect: Option<Dialect>) -> Schema {
        let view = |s: &Schema| match dialect {
            Some(d) => s.resolve(d),
            None => s.clone(),
        };
        let heads = self.heads_of(applied);
        let Some(first) = heads.first() else {
            return Schema::default();
        };
        let mut state = view(&self.get(first).expect("head is a revision").schema);
        if heads.len() == 1 {
            return state;
        }
        let covered = self.closure(first);
        let rest: BTreeSet<String> = applied.difference(&covered).cloned().collect();
        for r in self.order(&rest) {
            let before: BTreeSet<String> = self.ancestors(r);
            let base = self.expected_in(&before, dialect);
            let after = view(&self.get(r).expect("revision exists").schema);
            let delta = diff::diff(&base, &after);
            state = diff::apply_all(&state, &delta.changes);
        }
        state
    }

    /// What revision `name` changes, in words, against the schema of `before` (its ancestors).
    pub fn change_summary(&self, before: &BTreeSet<String>, name: &str) -> Vec<String> {
        let Some(snap) = self.get(name) else {
            return vec![];
        };
        let base = self.expected_in(before, None);
        diff::diff(&base, &snap.schema)
            .changes
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    /// Revisions that list `name` in `depends_on` (an expand revision's contract counterpart).
    pub fn dependents(&self, name: &str) -> Vec<&str> {
        let Some(&n) = self.by_name.get(name) else {
            return vec![];
        };
        self.graph
            .edges_directed(n, Direction::Outgoing)
            .filter(|e| *e.weight() == EdgeKind::DependsOn)
            .map(|e| self.meta_at(e.target()).name.as_str())
            .collect()
    }

    /// Children along `parents` (for history output).
    pub fn children(&self, name: &str) -> Vec<&str> {
        let Some(&n) = self.by_name.get(name) else {
            return vec![];
        };
        self.graph
            .edges_directed(n, Direction::Outgoing)
            .filter(|e| *e.weight() == EdgeKind::Parent)
            .map(|e| self.meta_at(e.target()).name.as_str())
            .collect()
    }

    /// Known names closest to `name`, for "unknown revision" messages.
    pub fn suggestions(&self, name: &str) -> String {
        suggest(name, self.by_name.keys())
    }
}

fn graph_err(
    e: &Entry,
    span: std::ops::Range<usize>,
    msg: String,
    help: Option<String>,
) -> SnapshotError {
    SnapshotError::at(&e.head.path, e.text(), span, msg, help)
}

/// "did you mean" text listing the known names nearest to `name` by edit distance.
pub fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let mut scored: Vec<(usize, &String)> =
        known.map(|k| (strsim::levenshtein(name, k), k)).collect();
    scored.sort();
    let near: Vec<String> = scored
        .iter()
        .take(3)
        .map(|(_, k)| format!("`{k}`"))
        .collect();
    if near.is_empty() {
        "no revisions are known".to_string()
    } else {
        format!("nearest known revisions: {}", near.join(", "))
    }
}
