//! Upgrade planning: from the live state and a target revision to the three phases.
//!
//! An upgrade to revision T from an applied set A runs:
//! 1. expand: the additive changes from the live schema to the schema of A ∪ (the non-contract
//!    part of T's closure); plus data steps bound to the expand phase;
//! 2. migrate: the data migrations the target needs (see [`needs_data`]): those of the
//!    revisions being applied and of applied expand revisions still owed rows, when the
//!    target applies the contract revision that depends on them. An upgrade to an
//!    expand-branch revision changes the schema only, as Glance's does; its data migrations
//!    are left for `db migrate` (listed in [`UpgradePlan::deferred`]);
//! 3. contract: every remaining change from there to the schema of A ∪ closure(T).

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;

use super::{EngineError, Live, applied_set, expected};
use crate::diff::{self, Change};
use crate::plan::{self, Phase, PlannedStep, Step};
use crate::revisions::RevisionSet;
use crate::schema::model::{Dialect, Schema};
use crate::snapshot::{Branch, DataPhase};

/// Everything any revision ever declared, per dialect: the objects `sync` may drop.
#[derive(Debug, Default)]
pub struct KnownObjects {
    tables: HashSet<String>,
    columns: HashSet<(String, String)>,
    indexes: HashSet<(String, String)>,
    /// Named unique, foreign-key and check constraints, per table.
    constraints: HashSet<(String, String)>,
    enums: HashSet<String>,
    triggers: HashSet<(String, String)>,
}

impl KnownObjects {
    pub fn collect(revs: &RevisionSet, dialect: Dialect) -> KnownObjects {
        let mut k = KnownObjects::default();
        for snap in revs.snapshots() {
            let s = snap.schema.resolve(dialect);
            for t in s.tables.values() {
                k.tables.insert(t.name.clone());
                for c in &t.columns {
                    k.columns.insert((t.name.clone(), c.name.clone()));
                }
                for i in &t.indexes {
                    k.indexes.insert((t.name.clone(), i.name.clone()));
                }
                let names = t
                    .uniques
                    .iter()
                    .map(|u| &u.name)
                    .chain(t.foreign_keys.iter().map(|f| &f.name))
                    .chain(t.checks.iter().map(|c| &c.name));
                for n in names.flatten() {
                    k.constraints.insert((t.name.clone(), n.clone()));
                }
            }
            k.enums.extend(s.enums.keys().cloned());
            for t in &s.triggers {
                k.triggers.insert((t.table.clone(), t.name.clone()));
            }
        }
        k
    }

    /// Whether some revision declared the object `change` drops — stricter than
    /// [`Self::may_drop`] for constraints: a named constraint must carry a declared name (an
    /// unnamed one, as SQLite reports them, counts as its table's). `db drift` never offers to
    /// drop anything else: it is another application's, or an operator's.
    pub fn declared(&self, change: &Change) -> bool {
        let named = |table: &str, name: &Option<String>| {
            self.tables.contains(table)
                && name
                    .as_ref()
                    .is_none_or(|n| self.constraints.contains(&(table.to_string(), n.clone())))
        };
        match change {
            Change::DropForeignKey { table, fk } => named(table, &fk.name),
            Change::DropUnique { table, unique } => named(table, &unique.name),
            Change::DropCheck { table, check } => named(table, &check.name),
            Change::DropEnum(e) => self.enums.contains(&e.name),
            other => self.may_drop(other),
        }
    }

    /// Whether dropping what `change` drops is allowed.
    pub fn may_drop(&self, change: &Change) -> bool {
        Self::allows(change, || self)
    }

    /// [`Self::may_drop`], with the objects fetched only for a change that needs them: what
    /// is not a drop is allowed as it is.
    pub fn allows<'a>(change: &Change, known: impl FnOnce() -> &'a KnownObjects) -> bool {
        match change {
            Change::DropTable(t) => known().tables.contains(&t.name),
            Change::DropColumn { table, column } => known()
                .columns
                .contains(&(table.clone(), column.name.clone())),
            Change::DropIndex { table, index } => known()
                .indexes
                .contains(&(table.clone(), index.name.clone())),
            // An operator's own trigger (auditing, say) is not ours to drop.
            Change::DropTrigger(t) => known()
                .triggers
                .contains(&(t.table.clone(), t.name.clone())),
            // Constraints on a known table are part of that table's definition.
            Change::DropForeignKey { table, .. }
            | Change::DropCheck { table, .. }
            | Change::DropUnique { table, .. } => known().tables.contains(table),
            _ => true,
        }
    }
}

/// A data-migration step as planned.
#[derive(Debug, Clone, Serialize)]
pub struct DataStep {
    pub revision: String,
    pub name: String,
    pub phase: Phase,
    pub description: Option<String>,
    pub pending: Option<String>,
    pub statements: Vec<String>,
}

/// What an upgrade will do.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradePlan {
    pub dialect: Dialect,
    pub target: String,
    pub from_heads: Vec<String>,
    /// Revisions applied by this upgrade, in order.
    pub revisions: Vec<String>,
    pub expand: Vec<PlannedStep>,
    /// Version rows after the expand phase.
    pub expand_heads: Vec<String>,
    /// Data steps run right after the expand DDL.
    pub expand_data: Vec<DataStep>,
    pub migrate: Vec<DataStep>,
    /// Migrate-phase data steps this upgrade leaves for `db migrate` (no revision it applies
    /// needs them yet).
    pub deferred: Vec<DataStep>,
    pub contract: Vec<PlannedStep>,
    pub final_heads: Vec<String>,
    /// Drops the engine refused to plan (objects no revision declared).
    pub left_alone: Vec<String>,
    /// Objects the engine cannot compare.
    pub unsupported: Vec<String>,
    /// A fresh database: planned straight to the target, without data steps.
    pub fresh: bool,
}

impl UpgradePlan {
    pub fn is_empty(&self) -> bool {
        self.revisions.is_empty()
            && self.expand.is_empty()
            && self.contract.is_empty()
            && self.migrate.is_empty()
            && self.expand_data.is_empty()
    }
}

/// Plans an upgrade of the live database to `target` (a revision name).
pub fn plan_upgrade(
    revs: &RevisionSet,
    live: &Live,
    target: &str,
) -> Result<UpgradePlan, EngineError> {
    plan_upgrade_to(revs, live, &[target.to_string()])
}

/// Plans an upgrade of the live database to every revision of `targets` (several heads: the
/// default target, or the expand heads of `db expand`).
pub fn plan_upgrade_to(
    revs: &RevisionSet,
    live: &Live,
    targets: &[String],
) -> Result<UpgradePlan, EngineError> {
    if let Some(t) = targets.iter().find(|t| !revs.contains(t)) {
        return Err(EngineError::UnknownRevision {
            name: t.to_string(),
            suggestions: revs.suggestions(t),
        });
    }
    let target = targets.join(", ");
    let target = target.as_str();
    let dialect = live.dialect;
    let from_heads = live.heads();
    let applied = applied_set(revs, &from_heads)?;
    let closure: BTreeSet<String> = targets.iter().flat_map(|t| revs.closure(t)).collect();
    let mut final_set = applied.clone();
    final_set.extend(closure.iter().cloned());
    let todo: BTreeSet<String> = closure.difference(&applied).cloned().collect();
    let revisions: Vec<String> = revs.order(&todo).into_iter().map(str::to_string).collect();
    // Read every revision's schema only for a plan that drops something (not a fresh one).
    let known = std::cell::OnceCell::new();
    let mut left_alone = Vec::new();
    let mut unsupported = live.unsupported.clone();

    let keep = |changes: Vec<Change>, left_alone: &mut Vec<String>| -> Vec<Change> {
        changes
            .into_iter()
            .filter(|c| {
                let ok = KnownObjects::allows(c, || {
                    known.get_or_init(|| KnownObjects::collect(revs, dialect))
                });
                let line = format!("{c} (no revision declares it)");
                if !ok && !left_alone.contains(&line) {
                    left_alone.push(line);
                }
                ok
            })
            .collect()
    };

    let fresh = applied.is_empty() && !live.has_rows;
    let final_target = expected(revs, &final_set, dialect);
    if fresh {
        let d = diff::diff(&live.schema, &final_target);
        unsupported.extend(d.unsupported);
        let changes = keep(d.changes, &mut left_alone);
        let steps = plan::plan(dialect, &live.schema, &live.raw, &changes)?;
        let final_heads = revs.heads_of(&final_set);
        return Ok(UpgradePlan {
            dialect,
            target: target.to_string(),
            from_heads,
            revisions,
            expand: steps,
            expand_heads: final_heads.clone(),
            expand_data: vec![],
            migrate: vec![],
            deferred: vec![],
            contract: vec![],
            final_heads,
            left_alone,
            unsupported,
            fresh: true,
        });
    }

    // 1. expand
    let mut expand_set = applied.clone();
    expand_set.extend(
        closure
            .iter()
            .filter(|r| {
                revs.meta(r)
                    .is_some_and(|m| m.branch != Some(Branch::Contract))
            })
            .cloned(),
    );
    let expand_target = expected(revs, &expand_set, dialect);
    let d = diff::diff(&live.schema, &expand_target);
    unsupported.extend(d.unsupported);
    // Drops of tables, columns, indexes and enum types wait for the contract phase (old code may
    // still use them); everything else the expand revisions declare happens now — e.g. SQLite's
    // batch rebuild of `images` in ocata_expand01 also removes its CHECKs.
    let expand_changes: Vec<Change> = keep(d.changes, &mut left_alone)
        .into_iter()
        .filter(|c| !defer_to_contract(c) && survives_contract(c, &final_target))
        .collect();
    let expand = plan::plan(dialect, &live.schema, &live.raw, &expand_changes)?;
    let after_expand = diff::apply_all(&live.schema, &expand_changes);

    // 2. data steps
    let new_expand: Vec<&str> = revs.order(&expand_set.difference(&applied).cloned().collect());
    let mut expand_data = Vec::new();
    let mut migrate = Vec::new();
    let mut deferred = Vec::new();
    for r in &new_expand {
        for dm in revs.data_migrations(r).expect("listed") {
            let step = data_step(r, dm, dialect);
            match dm.phase {
                DataPhase::Expand => expand_data.push(step),
                DataPhase::Migrate if needs_data(revs, r, &final_set, targets) => {
                    migrate.push(step)
                }
                DataPhase::Migrate => deferred.push(step),
            }
        }
    }
    for step in active_migrations(revs, &applied, dialect) {
        if migrate.iter().any(|m| m.name == step.name)
            || new_expand.contains(&step.revision.as_str())
        {
            continue;
        }
        if needs_data(revs, &step.revision, &final_set, targets) {
            migrate.push(step);
        } else {
            deferred.push(step);
        }
    }
    // Data steps of contract revisions run with the contract phase, before its DDL.
    let new_contract: Vec<&str> = revs.order(&final_set.difference(&expand_set).cloned().collect());
    for r in &new_contract {
        for dm in revs.data_migrations(r).expect("listed") {
            migrate.push(data_step(r, dm, dialect));
        }
    }

    // 3. contract
    let mut contract = Vec::new();
    if final_set != expand_set || after_expand != final_target {
        let d = diff::diff(&after_expand, &final_target);
        unsupported.extend(d.unsupported);
        let changes = keep(d.changes, &mut left_alone);
        contract = plan::plan(dialect, &after_expand, &live.raw, &changes)?;
    }
    unsupported.sort();
    unsupported.dedup();
    Ok(UpgradePlan {
        dialect,
        target: target.to_string(),
        from_heads,
        revisions,
        expand,
        expand_heads: revs.heads_of(&expand_set),
        expand_data,
        migrate,
        deferred,
        contract,
        final_heads: revs.heads_of(&final_set),
        left_alone,
        unsupported,
        fresh: false,
    })
}

/// Whether the final target still has the check, index, unique key or foreign key an additive
/// change creates. After an interrupted run on MySQL (DDL is not transactional) the live schema
/// can already be past the expand target — e.g. `images` created with the head's columns, or
/// `is_public`'s CHECK dropped by the contract phase — and re-adding such an object in expand
/// only for the contract phase to drop it is not just wasted work: the database has reported no
/// name for an object this run creates, so the drop cannot be planned and the database could not
/// be upgraded at all ("the database did not report a name for it").
fn survives_contract(c: &Change, final_target: &Schema) -> bool {
    let table = |name: &str| final_target.table(name);
    match c {
        Change::AddCheck { table: t, check } => {
            table(t).is_some_and(|t| t.checks.iter().any(|k| k.expr == check.expr))
        }
        Change::AddIndex { table: t, index } => {
            table(t).is_some_and(|t| t.indexes.iter().any(|i| i.name == index.name))
        }
        Change::AddUnique { table: t, unique } => {
            table(t).is_some_and(|t| t.uniques.iter().any(|u| u.columns == unique.columns))
        }
        Change::AddForeignKey { table: t, fk } => table(t).is_some_and(|t| {
            t.foreign_keys
                .iter()
                .any(|f| f.columns == fk.columns && f.ref_table == fk.ref_table)
        }),
        // A trigger the contract phase drops again (Glance's Ocata triggers, which keep
        // `is_public` and `visibility` in step while old and new API nodes write) is only
        // wanted by a database that stops at an expand revision; an upgrade through the
        // contract revision does not create it (as Glance's offline `db sync` does not).
        Change::AddTrigger(tr) => final_target.trigger(&tr.table, &tr.name).is_some(),
        _ => true,
    }
}

fn data_step(revision: &str, dm: &crate::snapshot::DataMigration, dialect: Dialect) -> DataStep {
    DataStep {
        revision: revision.to_string(),
        name: dm.name.clone(),
        phase: match dm.phase {
            DataPhase::Expand => Phase::Expand,
            DataPhase::Migrate => Phase::Migrate,
        },
        description: dm.description.clone(),
        pending: dm.pending.clone(),
        statements: dm.statements(dialect).to_vec(),
    }
}

/// Whether an upgrade to `targets` that ends with `final_set` applied runs the migrate-phase
/// data migrations of `revision`: when it applies a revision that depends on `revision` (its
/// contract counterpart, which may drop what the migration reads, e.g. `ocata_contract01`
/// dropping `is_public` after `ocata_migrate01` filled `visibility` from it). A migration no
/// revision depends on runs unless the target is on the expand branch. Anything else waits
/// for `db migrate`: an upgrade to expand revisions changes the schema only, like Glance's.
pub fn needs_data(
    revs: &RevisionSet,
    revision: &str,
    final_set: &BTreeSet<String>,
    targets: &[String],
) -> bool {
    let dependents = revs.dependents(revision);
    if dependents.is_empty() {
        return !targets.iter().all(|t| {
            revs.meta(t)
                .is_some_and(|m| m.branch == Some(Branch::Expand))
        });
    }
    dependents.iter().any(|d| final_set.contains(*d))
}

/// Migrate-phase data steps of applied revisions that still matter: a revision that depends on
/// them (their contract counterpart) is not applied yet, or nothing depends on them at all.
pub fn active_migrations(
    revs: &RevisionSet,
    applied: &BTreeSet<String>,
    dialect: Dialect,
) -> Vec<DataStep> {
    let mut out = Vec::new();
    for r in revs.order(applied) {
        let dependents = revs.dependents(r);
        let active = dependents.is_empty() || dependents.iter().any(|d| !applied.contains(*d));
        if !active {
            continue;
        }
        // Once its revision is applied, a step can only still be owed if it can say so.
        for dm in revs
            .data_migrations(r)
            .expect("listed")
            .iter()
            .filter(|d| d.phase == DataPhase::Migrate && d.pending.is_some())
        {
            out.push(data_step(r, dm, dialect));
        }
    }
    out
}

/// Changes that only the contract phase may make: drops of what old code may still use,
/// including the triggers that keep old code's writes consistent.
fn defer_to_contract(c: &Change) -> bool {
    matches!(
        c,
        Change::DropTable(_)
            | Change::DropColumn { .. }
            | Change::DropIndex { .. }
            | Change::DropEnum(_)
            | Change::DropTrigger(_)
    )
}

/// The schema steps of a plan in execution order, rendered for its dialect (for display).
pub fn all_steps(plan: &UpgradePlan) -> Vec<Step> {
    plan::render(plan.dialect, &plan.expand)
        .into_iter()
        .chain(plan::render(plan.dialect, &plan.contract))
        .collect()
}

/// Whether any revision on the path needs the contract phase.
pub fn needs_contract(revs: &RevisionSet, plan: &UpgradePlan) -> bool {
    plan.revisions.iter().any(|r| {
        revs.meta(r)
            .is_some_and(|m| m.branch == Some(Branch::Contract))
    })
}

/// What a view of the plan adds to [`UpgradePlan::script_with`]: lines after the header, how a
/// phase's steps are written, and comment lines before each data migration's statements.
pub struct ScriptView<'a> {
    pub preamble: String,
    pub steps: &'a dyn Fn(&[PlannedStep]) -> String,
    pub data_note: &'a dyn Fn(&DataStep) -> String,
}

impl UpgradePlan {
    /// The plan as one SQL script with comments (what `db plan` prints): every phase's steps,
    /// data migrations and the objects left alone, in execution order.
    pub fn script(&self) -> String {
        self.script_with(ScriptView {
            preamble: String::new(),
            steps: &|steps| plan::to_sql_script(steps, self.dialect),
            data_note: &|_| String::new(),
        })
    }

    /// [`Self::script`], with what `view` adds (the hazards of `db plan`, its online forms).
    pub fn script_with(&self, view: ScriptView<'_>) -> String {
        let p = self;
        let mut s = String::new();
        s.push_str(&format!(
            "-- glance-manage plan: {} -> {} on {}\n",
            if p.from_heads.is_empty() {
                "(empty)".to_string()
            } else {
                p.from_heads.join(", ")
            },
            p.final_heads.join(", "),
            p.dialect
        ));
        if !p.revisions.is_empty() {
            s.push_str(&format!("-- revisions: {}\n", p.revisions.join(", ")));
        }
        s.push_str(&view.preamble);
        s.push_str(&(view.steps)(&p.expand));
        for d in p.expand_data.iter().chain(p.migrate.iter()) {
            s.push_str(&format!(
                "-- phase: {}\n-- data migration {} ({})\n",
                d.phase, d.name, d.revision
            ));
            s.push_str(&(view.data_note)(d));
            for st in &d.statements {
                s.push_str(st);
                s.push_str(";\n");
            }
        }
        for d in &p.deferred {
            s.push_str(&format!(
                "-- left for `db migrate`: data migration {} ({})\n",
                d.name, d.revision
            ));
        }
        s.push_str(&(view.steps)(&p.contract));
        for l in &p.left_alone {
            s.push_str(&format!("-- left alone: {l}\n"));
        }
        for u in &p.unsupported {
            s.push_str(&format!("-- unsupported: {u}\n"));
        }
        s
    }
}
