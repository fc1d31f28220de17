//! Orders a list of changes into typed steps ([`step::Op`]), tags each with its phase; SQL
//! comes last, per dialect ([`render`](mod@render)).
//!
//! Order within a phase: the variant order of [`Stage`] — enum types → table renames →
//! trigger drops → column renames → FK drops → check/unique/index drops → new tables
//! (referenced tables first) → new columns → column alters → SQLite rebuilds → primary keys →
//! new indexes, uniques, checks → new FKs → column drops → table drops (children first) → enum
//! drops → table options → new triggers. A trigger is dropped before anything it reads changes
//! and created after everything it reads exists, on every backend (MariaDB would let a column
//! a trigger reads be dropped first; PostgreSQL and SQLite would not be so forgiving of a
//! rebuilt table).
//!
//! On SQLite every change `ALTER TABLE` cannot do on a table (alter/drop column, add/drop FK,
//! unique or check, primary key) turns into one rebuild step for that table, which builds the
//! table as it will be after all of that table's changes ([`sqlite_rebuild`]).

pub mod hazard;
pub mod online;
pub mod render;
pub mod script;
pub mod sizes;
pub mod sqlite_rebuild;
pub mod step;
pub mod trigger_sql;
mod trigger_steps;

use std::collections::HashSet;

use crate::diff::{self, Change};
use crate::schema::model::*;
pub use script::{to_sql_script, to_sql_script_with};
pub use step::{Op, Phase, PlannedStep, Stage, Step};

#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
#[error("cannot plan `{change}`: {reason}")]
pub struct PlanError {
    pub change: String,
    pub reason: String,
    #[help]
    pub help: Option<String>,
}

/// Renders planned steps for `dialect`.
pub fn render(dialect: Dialect, steps: &[PlannedStep]) -> Vec<Step> {
    steps.iter().map(|s| render_step(dialect, s)).collect()
}

/// Every statement of `steps` rendered for `dialect`, in order (what the executor runs).
pub fn statements(dialect: Dialect, steps: &[PlannedStep]) -> Vec<String> {
    steps
        .iter()
        .flat_map(|s| render_op(dialect, &s.op))
        .collect()
}

/// The statements of one op on `dialect`, in order.
pub fn render_op(dialect: Dialect, op: &Op) -> Vec<String> {
    use render::*;
    match op {
        Op::CreateEnum { enum_type } => vec![create_enum(enum_type)],
        Op::AddEnumValues { name, values } => {
            values.iter().map(|v| add_enum_value(name, v)).collect()
        }
        Op::DropEnum { name } => vec![drop_enum(name)],
        Op::CreateTable {
            table,
            inline_foreign_keys,
        } if dialect == Dialect::Mysql => vec![create_table_indexed(table, inline_foreign_keys)],
        Op::CreateTable {
            table,
            inline_foreign_keys,
        } => {
            let mut out = vec![create_table(dialect, table, inline_foreign_keys)];
            out.extend(
                table
                    .indexes
                    .iter()
                    .map(|ix| create_index(dialect, &table.name, ix)),
            );
            out
        }
        Op::DropTable { table } => vec![drop_table(dialect, table)],
        Op::RenameTable { from, to } => vec![rename_table(dialect, from, to)],
        Op::AddColumn { table, column } => vec![add_column(dialect, table, column)],
        Op::DropColumn { table, column } => vec![drop_column(dialect, table, column)],
        Op::RenameColumn { table, from, to } => vec![rename_column(dialect, table, from, to)],
        Op::AlterColumn { table, from, to } => alter_column(dialect, table, from, to),
        Op::SetPrimaryKey {
            table,
            from_name,
            to,
        } => set_primary_key(dialect, table, from_name.as_deref(), to.as_ref()),
        Op::AddIndex { table, index } => vec![create_index(dialect, table, index)],
        Op::DropIndex { table, name } => vec![drop_index(dialect, table, name)],
        Op::AddUnique { table, unique } => vec![add_unique(dialect, table, unique)],
        Op::DropUnique { table, name } => vec![drop_unique(dialect, table, name)],
        Op::AddCheck { table, check } => vec![add_check(dialect, table, check)],
        Op::DropCheck { table, name } => vec![drop_check(dialect, table, name)],
        Op::AddForeignKey { table, fk } => vec![add_foreign_key(dialect, table, fk)],
        Op::DropForeignKey { table, name } => vec![drop_foreign_key(dialect, table, name)],
        Op::AlterTableOptions { table, from, to } => table_options(table, from, to),
        Op::RebuildTable { from, to } => sqlite_rebuild::statements(from, to),
        Op::CreateTrigger { trigger } => trigger_sql::create_trigger(dialect, trigger),
        Op::DropTrigger {
            table,
            name,
            function,
        } => trigger_sql::drop_trigger(dialect, table, name, function.as_deref()),
    }
}

/// A planned step rendered for `dialect`.
pub fn render_step(dialect: Dialect, s: &PlannedStep) -> Step {
    Step {
        phase: s.phase,
        summary: s.summary.clone(),
        source: s.source.clone(),
        statements: render_op(dialect, &s.op),
        rebuild: s.is_rebuild(),
    }
}

/// Orders `changes`, which turn `live` into the target, into typed steps. `live_raw` is the
/// introspected schema before normalization: the real names of constraints the database
/// generated (needed to drop them) and the database's spelling of what a rebuild keeps come
/// from there.
pub fn plan(
    dialect: Dialect,
    live: &Schema,
    live_raw: &Schema,
    changes: &[Change],
) -> Result<Vec<PlannedStep>, PlanError> {
    let mut steps: Vec<PlannedStep> = Vec::new();
    let push = |steps: &mut Vec<PlannedStep>, change: &Change, op: Op, destructive: bool| {
        steps.push(PlannedStep {
            phase: if destructive {
                Phase::Contract
            } else {
                Phase::Expand
            },
            summary: change.to_string(),
            source: change.source(),
            op,
        });
    };

    // SQLite: which tables need a rebuild.
    let rebuilt: HashSet<String> = if dialect == Dialect::Sqlite {
        changes
            .iter()
            .filter(|c| sqlite_rebuild::needed(c))
            .filter_map(|c| c.table().map(str::to_string))
            .collect()
    } else {
        HashSet::new()
    };
    let renamed_tables: Vec<(String, String)> = changes
        .iter()
        .filter_map(|c| match c {
            Change::RenameTable { from, to } => Some((from.clone(), to.clone())),
            _ => None,
        })
        .collect();
    // The live schema with table renames applied: rebuilds and name lookups start from it.
    let live_after_renames = diff::apply_all(
        live,
        &changes
            .iter()
            .filter(|c| matches!(c, Change::RenameTable { .. }))
            .cloned()
            .collect::<Vec<_>>(),
    );
    // The raw (introspected) table a table of the target was, following a rename.
    let raw_table = |table: &str| {
        live_raw.tables.get(table).or_else(|| {
            renamed_tables
                .iter()
                .find(|(_, to)| to == table)
                .and_then(|(from, _)| live_raw.tables.get(from))
        })
    };

    let created: Vec<&Table> = changes
        .iter()
        .filter_map(|c| match c {
            Change::CreateTable(t) => Some(t),
            _ => None,
        })
        .collect();
    let mut available: HashSet<String> = live_after_renames.tables.keys().cloned().collect();
    for t in order_created_tables(&created) {
        let change = Change::CreateTable(t.clone());
        let (inline, deferred): (Vec<ForeignKey>, Vec<ForeignKey>) =
            t.foreign_keys.iter().cloned().partition(|fk| {
                dialect == Dialect::Sqlite
                    || fk.ref_table == t.name
                    || available.contains(&fk.ref_table)
            });
        push(
            &mut steps,
            &change,
            Op::CreateTable {
                table: Box::new(t.clone()),
                inline_foreign_keys: inline,
            },
            false,
        );
        available.insert(t.name.clone());
        for fk in deferred {
            let c = Change::AddForeignKey {
                table: t.name.clone(),
                fk: fk.clone(),
            };
            push(
                &mut steps,
                &c,
                Op::AddForeignKey {
                    table: t.name.clone(),
                    fk,
                },
                false,
            );
        }
    }

    for (table, tchanges) in group_by_table(changes) {
        if rebuilt.contains(&table) {
            let Some(from) = live_after_renames.tables.get(&table) else {
                return Err(PlanError {
                    change: format!("rebuild table {table}"),
                    reason: "the table is not in the live schema".into(),
                    help: None,
                });
            };
            let table_changes: Vec<&Change> = tchanges
                .into_iter()
                .filter(|c| !trigger_steps::is_trigger(c))
                .collect();
            steps.push(sqlite_rebuild::step(from, &table_changes));
            continue;
        }
        for c in tchanges {
            let destructive = c.is_destructive();
            let raw = raw_table(&table);
            let t = table.clone();
            match c {
                Change::CreateTable(_) | Change::DropTable(_) => {}
                Change::RenameTable { from, to } => push(
                    &mut steps,
                    c,
                    Op::RenameTable {
                        from: from.clone(),
                        to: to.clone(),
                    },
                    destructive,
                ),
                Change::AddColumn { column, .. } => push(
                    &mut steps,
                    c,
                    Op::AddColumn {
                        table: t,
                        column: column.clone(),
                    },
                    destructive,
                ),
                Change::RenameColumn { from, to, .. } => push(
                    &mut steps,
                    c,
                    Op::RenameColumn {
                        table: t,
                        from: from.clone(),
                        to: to.clone(),
                    },
                    destructive,
                ),
                Change::AlterColumn { from, to, .. } => {
                    if from.autoincrement != to.autoincrement {
                        return Err(PlanError {
                            change: c.to_string(),
                            reason: "changing autoincrement of an existing column is not supported"
                                .into(),
                            help: Some(
                                "add a new column and migrate the data with a data-migration step"
                                    .into(),
                            ),
                        });
                    }
                    push(
                        &mut steps,
                        c,
                        Op::AlterColumn {
                            table: t,
                            from: from.clone(),
                            to: to.clone(),
                        },
                        destructive,
                    )
                }
                Change::DropColumn { column, .. } => push(
                    &mut steps,
                    c,
                    Op::DropColumn {
                        table: t,
                        column: column.name.clone(),
                    },
                    destructive,
                ),
                Change::SetPrimaryKey { from, to, .. } => {
                    let from_name = match (from, dialect) {
                        (None, _) => None,
                        (Some(_), Dialect::Mysql) => Some("PRIMARY".to_string()),
                        (Some(pk), _) => pk
                            .name
                            .clone()
                            .or_else(|| {
                                raw.and_then(|t| t.primary_key.as_ref())
                                    .and_then(|p| p.name.clone())
                            })
                            .or_else(|| Some(format!("{table}_pkey"))),
                    };
                    push(
                        &mut steps,
                        c,
                        Op::SetPrimaryKey {
                            table: t,
                            from_name,
                            to: to.clone(),
                        },
                        destructive,
                    )
                }
                Change::AddIndex { index, .. } => push(
                    &mut steps,
                    c,
                    Op::AddIndex {
                        table: t,
                        index: index.clone(),
                    },
                    destructive,
                ),
                Change::DropIndex { index, .. } => push(
                    &mut steps,
                    c,
                    Op::DropIndex {
                        table: t,
                        name: index.name.clone(),
                    },
                    destructive,
                ),
                Change::AddUnique { unique, .. } => push(
                    &mut steps,
                    c,
                    Op::AddUnique {
                        table: t,
                        unique: unique.clone(),
                    },
                    destructive,
                ),
                Change::DropUnique { unique, .. } => {
                    let name = unique
                        .name
                        .clone()
                        .or_else(|| {
                            raw.and_then(|t| t.uniques.iter().find(|u| u.columns == unique.columns))
                                .and_then(|u| u.name.clone())
                        })
                        .ok_or_else(|| no_name(c))?;
                    push(
                        &mut steps,
                        c,
                        Op::DropUnique { table: t, name },
                        destructive,
                    )
                }
                Change::AddCheck { check, .. } => push(
                    &mut steps,
                    c,
                    Op::AddCheck {
                        table: t,
                        check: check.clone(),
                    },
                    destructive,
                ),
                Change::DropCheck { check, .. } => {
                    // The name the database gave it (normalization may have dropped it as
                    // generated).
                    let name = check
                        .ddl_name()
                        .map(str::to_string)
                        .ok_or_else(|| no_name(c))?;
                    push(&mut steps, c, Op::DropCheck { table: t, name }, destructive)
                }
                Change::AddForeignKey { fk, .. } => push(
                    &mut steps,
                    c,
                    Op::AddForeignKey {
                        table: t,
                        fk: fk.clone(),
                    },
                    destructive,
                ),
                Change::DropForeignKey { fk, .. } => {
                    let name = fk
                        .name
                        .clone()
                        .or_else(|| {
                            raw.and_then(|t| {
                                t.foreign_keys.iter().find(|f| {
                                    f.columns == fk.columns
                                        && f.ref_table == fk.ref_table
                                        && f.ref_columns == fk.ref_columns
                                })
                            })
                            .and_then(|f| f.name.clone())
                        })
                        .ok_or_else(|| no_name(c))?;
                    push(
                        &mut steps,
                        c,
                        Op::DropForeignKey { table: t, name },
                        destructive,
                    )
                }
                Change::AlterTableOptions { from, to, .. } => {
                    if dialect == Dialect::Mysql && render::table_options_change(from, to) {
                        push(
                            &mut steps,
                            c,
                            Op::AlterTableOptions {
                                table: t,
                                from: from.clone(),
                                to: to.clone(),
                            },
                            destructive,
                        )
                    }
                }
                Change::CreateEnum(_) | Change::AddEnumValues { .. } | Change::DropEnum(_) => {}
                // Planned below, with the triggers a SQLite rebuild must recreate.
                Change::AddTrigger(_) | Change::DropTrigger(_) | Change::AlterTrigger { .. } => {}
            }
        }
    }

    trigger_steps::plan(dialect, live, live_raw, changes, &rebuilt, &mut steps);

    // Table drops: tables referencing others go first.
    let dropped: Vec<&Table> = changes
        .iter()
        .filter_map(|c| match c {
            Change::DropTable(t) => Some(t),
            _ => None,
        })
        .collect();
    let mut drop_order = order_created_tables(&dropped);
    drop_order.reverse();
    for t in drop_order {
        let c = Change::DropTable(t.clone());
        push(
            &mut steps,
            &c,
            Op::DropTable {
                table: t.name.clone(),
            },
            true,
        );
    }

    if dialect == Dialect::Postgres {
        for c in changes {
            match c {
                Change::CreateEnum(e) => push(
                    &mut steps,
                    c,
                    Op::CreateEnum {
                        enum_type: e.clone(),
                    },
                    false,
                ),
                Change::AddEnumValues { name, values } => push(
                    &mut steps,
                    c,
                    Op::AddEnumValues {
                        name: name.clone(),
                        values: values.clone(),
                    },
                    false,
                ),
                Change::DropEnum(e) => push(
                    &mut steps,
                    c,
                    Op::DropEnum {
                        name: e.name.clone(),
                    },
                    true,
                ),
                _ => {}
            }
        }
    }

    // Execution order: by stage, in planning order within a stage (a stable sort).
    steps.sort_by_key(|s| s.op.stage());
    Ok(steps)
}

fn no_name(c: &Change) -> PlanError {
    PlanError {
        change: c.to_string(),
        reason: "the database did not report a name for it, so it cannot be dropped".into(),
        help: Some("drop it by hand, then run the command again".into()),
    }
}

/// Changes grouped by table, tables in first-seen order.
fn group_by_table(changes: &[Change]) -> Vec<(String, Vec<&Change>)> {
    let mut out: Vec<(String, Vec<&Change>)> = Vec::new();
    for c in changes {
        if matches!(c, Change::CreateTable(_) | Change::DropTable(_)) {
            continue;
        }
        let Some(t) = c.table() else { continue };
        match out.iter_mut().find(|(n, _)| n == t) {
            Some((_, v)) => v.push(c),
            None => out.push((t.to_string(), vec![c])),
        }
    }
    out
}

/// Orders tables so that referenced tables come before the tables that reference them
/// (cycles are broken by name order; their FKs are then added afterwards).
pub fn order_created_tables<'a>(tables: &[&'a Table]) -> Vec<&'a Table> {
    let names: HashSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut done: Vec<&'a Table> = Vec::new();
    let mut done_names: HashSet<&str> = HashSet::new();
    let mut remaining: Vec<&'a Table> = tables.to_vec();
    while !remaining.is_empty() {
        let ready = remaining.iter().position(|t| {
            t.foreign_keys.iter().all(|fk| {
                fk.ref_table == t.name
                    || !names.contains(fk.ref_table.as_str())
                    || done_names.contains(fk.ref_table.as_str())
            })
        });
        let idx = ready.unwrap_or(0);
        let t = remaining.remove(idx);
        done_names.insert(&t.name);
        done.push(t);
    }
    done
}
