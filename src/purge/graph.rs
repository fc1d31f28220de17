//! The purge plan, generated from the schema's foreign-key graph rather than hard-coded. The
//! SQL of each step is [`super::sql`]'s.
//!
//! Which tables: a table is *soft-deleted* when the target snapshot declares a `deleted_at`
//! column for it and the live table has that column. A table without `deleted_at` that has a
//! foreign key to a table being purged is *dependent*: its rows reachable from an eligible parent
//! row must go first (Glance's forced purge of `task_info` for deleted `tasks`, bug 1803643).
//! Dependents of dependents follow the same rule, so a step carries the FK path from its table
//! up to the soft-deleted root whose `deleted_at` decides.
//!
//! Order: a petgraph topological sort of the FK graph among the step tables, children before
//! parents. Self-referencing FKs are left out of the sort (the executor loops such tables until
//! a pass deletes nothing); a real cycle is reported with the tables `tarjan_scc` finds.
//!
//! Safety: every DELETE carries a `NOT EXISTS` guard per FK that references the table (from any
//! live table, ours or not), so a purge never fails on a foreign key: rows still referenced are
//! kept and counted as skipped.

use std::collections::{BTreeSet, HashMap};

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::DiGraph;
use serde::Serialize;

use crate::schema::model::{ColumnType, Schema};

/// The column that marks a soft-deleted row and dates its deletion.
pub const DELETED_AT: &str = "deleted_at";
/// The table `db purge` never touches (OSSN-0075) and `db purge_images_table` purges alone.
pub const IMAGES: &str = "images";

/// Which command the plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `db purge`: every soft-deleted table but `images`, plus dependents.
    Purge,
    /// `db purge_images_table`: `images` only.
    ImagesTable,
}

/// A foreign key as the purge sees it: `table(columns) → ref_table(ref_columns)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Fk {
    pub table: String,
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
    /// Whether `table` has its own `deleted_at` (its rows can be soft-deleted and purged).
    pub soft_delete: bool,
}

impl Fk {
    pub fn describe(&self) -> String {
        format!(
            "{}({}) → {}({})",
            self.table,
            self.columns.join(", "),
            self.ref_table,
            self.ref_columns.join(", ")
        )
    }
}

/// One hop of a dependent step's path: from the current table to its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub fk: Fk,
    /// The parent's primary key (for the deterministic tie-breaker).
    pub parent_pk: Vec<String>,
    pub parent_pk_numeric: Vec<bool>,
}

/// One step of the plan: delete eligible rows of `table`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub table: String,
    pub pk: Vec<String>,
    /// Whether each PK column is an integer (for rendering key literals).
    pub pk_numeric: Vec<bool>,
    /// Empty: the table's own `deleted_at` decides. Otherwise the FK chain from `table` to the
    /// soft-deleted root table whose `deleted_at` decides.
    pub path: Vec<Hop>,
    /// Every FK that references `table` (self-references included).
    pub guards: Vec<Fk>,
    pub self_referencing: bool,
}

impl Step {
    /// The table whose `deleted_at` makes a row of this step eligible.
    pub fn root(&self) -> &str {
        self.path
            .last()
            .map(|h| h.fk.ref_table.as_str())
            .unwrap_or(&self.table)
    }

    /// Whether each column of [`Sql::window_end`](super::sql::Sql::window_end)'s key is an integer (`deleted_at` is not).
    pub fn window_key_numeric(&self) -> Vec<bool> {
        let mut out = vec![false];
        for hop in self.path.iter().rev() {
            out.extend(hop.parent_pk_numeric.iter().copied());
        }
        out.extend(self.pk_numeric.iter().copied());
        out
    }

    /// Names of the columns of the window key, for placeholders.
    pub fn window_key_names(&self) -> Vec<String> {
        let mut out = vec![format!("{}.{DELETED_AT}", self.root())];
        for hop in self.path.iter().rev() {
            out.extend(
                hop.parent_pk
                    .iter()
                    .map(|c| format!("{}.{c}", hop.fk.ref_table)),
            );
        }
        out.extend(self.pk.iter().map(|c| format!("{}.{c}", self.table)));
        out
    }

    pub fn is_dependent(&self) -> bool {
        !self.path.is_empty()
    }

    /// "rows of soft-deleted tasks (task_info(task_id) → tasks(id))".
    pub fn describe(&self) -> String {
        if self.path.is_empty() {
            format!("soft-deleted rows ({}.{DELETED_AT} < cutoff)", self.table)
        } else {
            let chain: Vec<String> = self.path.iter().map(|h| h.fk.describe()).collect();
            format!(
                "rows of soft-deleted {} ({}; {}.{DELETED_AT} < cutoff)",
                self.root(),
                chain.join(", "),
                self.root()
            )
        }
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    #[error("cannot order the purge: the foreign keys among {tables} form a cycle")]
    #[diagnostic(help(
        "break the cycle (e.g. make one of the foreign keys nullable and clear it) or purge these tables by hand"
    ))]
    Cycle { tables: String },
    #[error("cannot purge table {table} in batches: it has no primary key")]
    NoPrimaryKey { table: String },
    #[error("there is no soft-deleted `images` table in this database")]
    #[diagnostic(help(
        "purge_images_table purges Glance's `images` table; run `glance-manage db sync` first"
    ))]
    NoImagesTable,
}

fn is_numeric(ty: &ColumnType) -> bool {
    matches!(
        ty,
        ColumnType::SmallInt | ColumnType::Integer | ColumnType::BigInt
    )
}

/// Every FK the purge must respect: the live database's, plus the snapshot's between tables
/// that exist (a constraint the snapshot declares but the database lost is still honoured).
pub fn foreign_keys(live: &Schema, target: &Schema) -> Vec<Fk> {
    let mut set = BTreeSet::new();
    let mut out = Vec::new();
    let mut push = |fk: Fk| {
        if set.insert(fk.clone()) {
            out.push(fk);
        }
    };
    for t in live.tables.values() {
        for fk in &t.foreign_keys {
            push(Fk {
                table: t.name.clone(),
                columns: fk.columns.clone(),
                ref_table: fk.ref_table.clone(),
                ref_columns: fk.ref_columns.clone(),
                soft_delete: t.has_column(DELETED_AT),
            });
        }
    }
    for t in target.tables.values() {
        let Some(lt) = live.table(&t.name) else {
            continue;
        };
        for fk in &t.foreign_keys {
            let Some(parent) = live.table(&fk.ref_table) else {
                continue;
            };
            if fk.columns.iter().all(|c| lt.has_column(c))
                && fk.ref_columns.iter().all(|c| parent.has_column(c))
            {
                push(Fk {
                    table: t.name.clone(),
                    columns: fk.columns.clone(),
                    ref_table: fk.ref_table.clone(),
                    ref_columns: fk.ref_columns.clone(),
                    soft_delete: lt.has_column(DELETED_AT),
                });
            }
        }
    }
    out
}

/// Builds the ordered steps for `mode` from the live schema (as introspected) and the target
/// snapshot (resolved for the dialect).
pub fn build(live: &Schema, target: &Schema, mode: Mode) -> Result<Vec<Step>, PlanError> {
    let fks = foreign_keys(live, target);
    // Only tables the snapshot declares are ever deleted from; the live table must exist.
    let owned: Vec<&str> = target
        .tables
        .keys()
        .map(String::as_str)
        .filter(|t| live.table(t).is_some())
        .collect();
    let soft_delete = |t: &str| {
        target.table(t).is_some_and(|x| x.has_column(DELETED_AT))
            && live.table(t).is_some_and(|x| x.has_column(DELETED_AT))
    };
    let roots: Vec<&str> = match mode {
        Mode::Purge => owned
            .iter()
            .copied()
            .filter(|t| soft_delete(t) && *t != IMAGES)
            .collect(),
        Mode::ImagesTable => {
            if !soft_delete(IMAGES) {
                return Err(PlanError::NoImagesTable);
            }
            vec![IMAGES]
        }
    };

    let pk_of = |t: &str| -> Result<(Vec<String>, Vec<bool>), PlanError> {
        let lt = live.table(t).expect("owned tables exist live");
        let pk = lt
            .primary_key
            .as_ref()
            .filter(|p| !p.columns.is_empty())
            .ok_or_else(|| PlanError::NoPrimaryKey {
                table: t.to_string(),
            })?;
        let numeric = pk
            .columns
            .iter()
            .map(|c| lt.column(c).is_some_and(|c| is_numeric(&c.ty)))
            .collect();
        Ok((pk.columns.clone(), numeric))
    };

    // Paths: soft-deleted roots first, then dependents level by level.
    let mut paths: Vec<(String, Vec<Hop>)> =
        roots.iter().map(|t| (t.to_string(), vec![])).collect();
    if mode == Mode::Purge {
        let mut frontier: Vec<(String, Vec<Hop>)> = paths.clone();
        // A path never revisits a table, so the depth is bounded by the number of tables.
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for (parent, parent_path) in &frontier {
                let (ppk, ppk_num) = pk_of(parent)?;
                for child in &owned {
                    if soft_delete(child) || *child == IMAGES {
                        continue;
                    }
                    let visited =
                        |t: &str| t == parent || parent_path.iter().any(|h| h.fk.ref_table == t);
                    if visited(child) {
                        continue;
                    }
                    for fk in fks
                        .iter()
                        .filter(|f| f.table == *child && f.ref_table == *parent)
                    {
                        let mut path = vec![Hop {
                            fk: fk.clone(),
                            parent_pk: ppk.clone(),
                            parent_pk_numeric: ppk_num.clone(),
                        }];
                        path.extend(parent_path.iter().cloned());
                        next.push((child.to_string(), path));
                    }
                }
            }
            paths.extend(next.iter().cloned());
            frontier = next;
        }
    }

    // Order the tables: edges child → parent, self-loops left out.
    let tables: Vec<String> = {
        let mut seen = BTreeSet::new();
        paths
            .iter()
            .filter(|(t, _)| seen.insert(t.clone()))
            .map(|(t, _)| t.clone())
            .collect()
    };
    let mut graph: DiGraph<String, ()> = DiGraph::new();
    let idx: HashMap<String, _> = tables
        .iter()
        .map(|t| (t.clone(), graph.add_node(t.clone())))
        .collect();
    for fk in &fks {
        if fk.table == fk.ref_table {
            continue;
        }
        if let (Some(&c), Some(&p)) = (idx.get(&fk.table), idx.get(&fk.ref_table)) {
            graph.update_edge(c, p, ());
        }
    }
    let order = toposort(&graph, None).map_err(|_| {
        let cycles: Vec<String> = tarjan_scc(&graph)
            .into_iter()
            .filter(|scc| scc.len() > 1)
            .map(|scc| {
                let mut names: Vec<&str> = scc.iter().map(|n| graph[*n].as_str()).collect();
                names.sort();
                names.join(" ↔ ")
            })
            .collect();
        PlanError::Cycle {
            tables: cycles.join("; "),
        }
    })?;

    let mut steps = Vec::new();
    for node in order {
        let table = &graph[node];
        let (pk, pk_numeric) = pk_of(table)?;
        let guards: Vec<Fk> = fks
            .iter()
            .filter(|f| f.ref_table == *table)
            .cloned()
            .collect();
        let self_referencing = guards.iter().any(|g| g.table == *table);
        for (_, path) in paths.iter().filter(|(t, _)| t == table) {
            steps.push(Step {
                table: table.clone(),
                pk: pk.clone(),
                pk_numeric: pk_numeric.clone(),
                path: path.clone(),
                guards: guards.clone(),
                self_referencing,
            });
        }
    }
    Ok(steps)
}
