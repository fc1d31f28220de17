//! Which steps of a purge plan may run at once, each on its own connection (`--jobs`).
//!
//! Two steps that touch no common table commute: neither's deletes change which rows the other
//! finds eligible, which rows its guards keep, or which foreign keys its batches meet. Every
//! other pair keeps the plan's order. A step that must be ordered against every other one (it
//! runs alone, e.g. `images` in `purge_images_table`) may instead split its own walk into
//! disjoint primary-key spans, one per connection.

use std::collections::BTreeSet;

use super::graph::Step;
use super::report::Options;
use crate::exec::connection::Conn;
use crate::schema::model::Dialect;

/// A connection a step runs on: the one the purge was given, or one it opened for `--jobs`.
pub enum Lane<'c> {
    Given(&'c mut Conn),
    Opened(Conn),
}

impl Lane<'_> {
    pub fn conn(&mut self) -> &mut Conn {
        match self {
            Lane::Given(c) => c,
            Lane::Opened(c) => c,
        }
    }
}

/// The connections a run uses at once: `--jobs`, except on SQLite (one writer at a time: a
/// second connection would only wait for the first) and in a dry run (which counts, and predicts
/// each step from the ones before it).
pub fn effective_jobs(opts: &Options, dialect: Dialect) -> usize {
    if opts.dry_run || dialect == Dialect::Sqlite {
        1
    } else {
        opts.jobs.max(1)
    }
}

/// The tables a step reads or writes: its own, those along its FK path (its eligibility joins
/// them) and those whose rows reference it (its guards, and the database's own FK checks).
fn touched(step: &Step) -> BTreeSet<&str> {
    let mut t: BTreeSet<&str> = BTreeSet::new();
    t.insert(&step.table);
    t.extend(step.path.iter().map(|h| h.fk.ref_table.as_str()));
    t.extend(step.guards.iter().map(|g| g.table.as_str()));
    t
}

/// For each step, the earlier steps it waits for: those touching a table it touches.
pub fn waits_for(steps: &[Step]) -> Vec<Vec<usize>> {
    let sets: Vec<BTreeSet<&str>> = steps.iter().map(touched).collect();
    (0..steps.len())
        .map(|j| (0..j).filter(|&i| !sets[i].is_disjoint(&sets[j])).collect())
        .collect()
}

/// For each step, whether it runs alone: every other step is, directly or through others,
/// before it or after it. Such a step has every connection to itself.
pub fn runs_alone(waits: &[Vec<usize>]) -> Vec<bool> {
    let n = waits.len();
    // before[j][i]: step i finishes before step j starts (transitively); waits only point back.
    let mut before = vec![vec![false; n]; n];
    for (j, w) in waits.iter().enumerate() {
        let (earlier, rest) = before.split_at_mut(j);
        let row = &mut rest[0];
        for &i in w {
            row[i] = true;
            for (k, &b) in earlier[i].iter().enumerate() {
                row[k] |= b;
            }
        }
    }
    (0..n)
        .map(|k| (0..n).all(|m| m == k || before[k][m] || before[m][k]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::purge::graph::{Fk, Hop};

    fn fk(table: &str, ref_table: &str) -> Fk {
        Fk {
            table: table.into(),
            columns: vec![format!("{ref_table}_id")],
            ref_table: ref_table.into(),
            ref_columns: vec!["id".into()],
            soft_delete: true,
        }
    }

    fn step(table: &str, path: &[&str], guards: &[&str]) -> Step {
        let mut hops = Vec::new();
        let mut child = table;
        for p in path {
            hops.push(Hop {
                fk: fk(child, p),
                parent_pk: vec!["id".into()],
                parent_pk_numeric: vec![true],
            });
            child = p;
        }
        Step {
            table: table.into(),
            pk: vec!["id".into()],
            pk_numeric: vec![true],
            path: hops,
            guards: guards.iter().map(|g| fk(g, table)).collect(),
            self_referencing: false,
        }
    }

    /// Glance's `db purge`: task_info (via tasks) before tasks; the four image children
    /// reference `images` (not purged here) and nothing references them.
    #[test]
    fn glance_purge_runs_the_image_children_beside_each_other() {
        let steps = [
            step("task_info", &["tasks"], &[]),
            step("tasks", &[], &["task_info"]),
            step("image_tags", &[], &[]),
            step("image_members", &[], &[]),
            step("image_locations", &[], &[]),
            step("image_properties", &[], &[]),
        ];
        let waits = waits_for(&steps);
        assert_eq!(waits[1], vec![0], "tasks waits for task_info");
        for (j, w) in waits.iter().enumerate().skip(2) {
            assert!(w.is_empty(), "step {j} waits for {w:?}");
        }
        assert_eq!(runs_alone(&waits), vec![false; 6]);
    }

    /// `purge_images_table`: one step, alone; a parent purged with its children waits for all
    /// of them and runs alone once they are done only if nothing else is left beside it.
    #[test]
    fn a_parent_waits_for_its_children_and_a_lone_step_is_alone() {
        assert_eq!(
            runs_alone(&waits_for(&[step("images", &[], &["image_tags"])])),
            [true]
        );

        let steps = [
            step("image_tags", &[], &[]),
            step("image_members", &[], &[]),
            step("images", &[], &["image_tags", "image_members"]),
            step("tasks", &[], &[]),
        ];
        let waits = waits_for(&steps);
        assert_eq!(waits[2], vec![0, 1]);
        assert!(waits[3].is_empty());
        // tasks can run beside every image step, so nothing here is alone.
        assert_eq!(runs_alone(&waits), vec![false; 4]);

        let chain = [
            step("a", &[], &[]),
            step("b", &[], &["a"]),
            step("c", &[], &["b"]),
        ];
        let waits = waits_for(&chain);
        assert_eq!(waits, vec![vec![], vec![0], vec![1]]);
        // a → b → c: each is ordered against both others (a against c through b).
        assert_eq!(runs_alone(&waits), vec![true; 3]);
    }

    /// Two paths into the same parent share it: the dependent step waits.
    #[test]
    fn a_dependent_step_waits_for_steps_on_its_path() {
        let steps = [step("tasks", &[], &[]), step("task_info", &["tasks"], &[])];
        assert_eq!(waits_for(&steps)[1], vec![0]);
    }
}
