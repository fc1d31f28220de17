//! Planning trigger changes: which steps drop and create triggers, including the triggers a
//! SQLite table rebuild takes away with the old table. Their SQL is [`super::trigger_sql`]'s.

use std::collections::HashSet;

use super::step::{Op, Phase, PlannedStep};
use crate::diff::{self, Change};
use crate::schema::model::{Dialect, Schema, Trigger};

pub(super) fn is_trigger(c: &Change) -> bool {
    matches!(
        c,
        Change::AddTrigger(_) | Change::DropTrigger(_) | Change::AlterTrigger { .. }
    )
}

/// Trigger steps: drops (the `DropTriggers` stage, early) and creations (`CreateTriggers`,
/// last). A SQLite table rebuild drops the table's triggers with the old table, so the
/// triggers the rebuilt table keeps are dropped first and created again after it.
pub(super) fn plan(
    dialect: Dialect,
    live: &Schema,
    live_raw: &Schema,
    changes: &[Change],
    rebuilt: &HashSet<String>,
    steps: &mut Vec<PlannedStep>,
) {
    let step = |change: &Change, summary: String, op: Op| PlannedStep {
        phase: if change.is_destructive() {
            Phase::Contract
        } else {
            Phase::Expand
        },
        summary,
        source: change.source(),
        op,
    };
    let drop = |t: &Trigger| Op::DropTrigger {
        table: t.table.clone(),
        name: t.name.clone(),
        function: own_function(dialect, live_raw, t),
    };
    let create = |t: &Trigger| Op::CreateTrigger {
        trigger: Box::new(t.clone()),
    };
    let mut touched: Vec<(&str, &str)> = Vec::new();
    for c in changes {
        match c {
            Change::AddTrigger(t) => {
                steps.push(step(c, c.to_string(), create(t)));
                touched.push((&t.table, &t.name));
            }
            Change::DropTrigger(t) => {
                steps.push(step(c, c.to_string(), drop(t)));
                touched.push((&t.table, &t.name));
            }
            Change::AlterTrigger { from, to } => {
                steps.push(step(c, format!("{c} (drop)"), drop(from)));
                steps.push(step(c, format!("{c} (create)"), create(to)));
                touched.push((&to.table, &to.name));
            }
            _ => {}
        }
    }
    if rebuilt.is_empty() {
        return;
    }
    let after = diff::apply_all(live, changes);
    for t in after.triggers.iter().filter(|t| rebuilt.contains(&t.table)) {
        if touched.contains(&(t.table.as_str(), t.name.as_str())) {
            continue;
        }
        let c = Change::AddTrigger(t.clone());
        let why = format!("trigger {} on {}: the table is rebuilt", t.name, t.table);
        steps.push(step(&c, format!("drop {why}"), drop(t)));
        steps.push(step(&c, format!("recreate {why}"), create(t)));
    }
}

/// The PostgreSQL function a trigger drop also drops: the live trigger's function when it is
/// named after the trigger (the one created with it), else none.
fn own_function(dialect: Dialect, live_raw: &Schema, t: &Trigger) -> Option<String> {
    if dialect != Dialect::Postgres {
        return None;
    }
    let live = live_raw
        .triggers
        .iter()
        .find(|l| l.name == t.name && l.table == t.table)
        .or_else(|| live_raw.triggers.iter().find(|l| l.name == t.name));
    match live.and_then(|l| l.function.as_deref()) {
        Some(f) if f != t.name => None,
        _ => Some(t.name.clone()),
    }
}
