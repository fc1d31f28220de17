//! Orders a list of changes into executable steps, tags each with its phase, and renders SQL.
//!
//! Order (each group after the previous):
//! enum types → renames → FK drops → check/unique/index drops → new tables (referenced tables
//! first) → new columns → column alters and SQLite rebuilds → primary keys → new indexes,
//! uniques, checks → new FKs → column drops → table drops (children first) → enum drops →
//! table options.
//!
//! On SQLite every change `ALTER TABLE` cannot do on a table (alter/drop column, add/drop FK,
//! unique or check, primary key) turns into one rebuild step for that table, which builds the
//! table as it will be after all of that table's changes.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::diff::{self, Change};
use crate::model::*;
use crate::render;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Additive: safe while old code still runs.
    Expand,
    /// Data migrations.
    Migrate,
    /// Destructive: drops, tightening alters, renames.
    Contract,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Expand => "expand",
            Phase::Migrate => "migrate",
            Phase::Contract => "contract",
        })
    }
}

/// One executable unit: statements that belong together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub phase: Phase,
    /// What the step does, in words.
    pub summary: String,
    /// The snapshot element that caused it (`tables.images.columns.visibility`).
    pub source: String,
    pub statements: Vec<String>,
    /// A SQLite table rebuild: the executor turns foreign keys off around its transaction and
    /// runs `PRAGMA foreign_key_check` before committing.
    pub rebuild: bool,
}

#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
#[error("cannot plan `{change}`: {reason}")]
#[diagnostic(code(glance_manage::plan))]
pub struct PlanError {
    pub change: String,
    pub reason: String,
    #[help]
    pub help: Option<String>,
}

/// Orders and renders `changes`, which turn `live` into the target. `live_raw` is the
/// introspected schema before normalization: the real names of constraints the database
/// generated (needed to drop them) come from there.
pub fn plan(
    dialect: Dialect,
    live: &Schema,
    live_raw: &Schema,
    changes: &[Change],
) -> Result<Vec<Step>, PlanError> {
    let mut groups: BTreeMap<u8, Vec<Step>> = BTreeMap::new();
    let mut push =
        |group: u8, change: &Change, statements: Vec<String>, rebuild: bool, destructive: bool| {
            if statements.is_empty() {
                return;
            }
            groups.entry(group).or_default().push(Step {
                phase: if destructive {
                    Phase::Contract
                } else {
                    Phase::Expand
                },
                summary: change.to_string(),
                source: change.source(),
                statements,
                rebuild,
            });
        };

    // SQLite: which tables need a rebuild, and what they look like afterwards.
    let mut rebuilt: HashSet<String> = HashSet::new();
    if dialect == Dialect::Sqlite {
        for c in changes {
            if needs_sqlite_rebuild(c)
                && let Some(t) = c.table()
            {
                rebuilt.insert(t.to_string());
            }
        }
    }
    let mut renamed_tables = Vec::new();
    for c in changes {
        if let Change::RenameTable { from, to } = c {
            renamed_tables.push((from.clone(), to.clone()));
        }
    }
    // The live schema with table renames applied: rebuilds and name lookups start from it.
    let live_after_renames = diff::apply_all(
        live,
        &changes
            .iter()
            .filter(|c| matches!(c, Change::RenameTable { .. }))
            .cloned()
            .collect::<Vec<_>>(),
    );

    let created: Vec<&Table> = changes
        .iter()
        .filter_map(|c| {
            if let Change::CreateTable(t) = c {
                Some(t)
            } else {
                None
            }
        })
        .collect();
    let create_order = order_created_tables(&created);
    let mut available: HashSet<String> = live_after_renames.tables.keys().cloned().collect();

    for t in &create_order {
        let change = Change::CreateTable((*t).clone());
        let (inline, deferred): (Vec<ForeignKey>, Vec<ForeignKey>) =
            t.foreign_keys.iter().cloned().partition(|fk| {
                dialect == Dialect::Sqlite
                    || fk.ref_table == t.name
                    || available.contains(&fk.ref_table)
            });
        let mut stmts = vec![render::create_table(dialect, t, &inline)];
        for ix in &t.indexes {
            stmts.push(render::create_index(dialect, &t.name, ix));
        }
        push(40, &change, stmts, false, false);
        available.insert(t.name.clone());
        for fk in deferred {
            let c = Change::AddForeignKey {
                table: t.name.clone(),
                fk: fk.clone(),
            };
            push(
                90,
                &c,
                vec![render::add_foreign_key(dialect, &t.name, &fk)],
                false,
                false,
            );
        }
    }

    let mut rebuild_steps: Vec<Step> = Vec::new();
    for (table, tchanges) in group_by_table(changes) {
        if rebuilt.contains(&table) {
            let Some(from) = live_after_renames.tables.get(&table) else {
                return Err(PlanError {
                    change: format!("rebuild table {table}"),
                    reason: "the table is not in the live schema".into(),
                    help: None,
                });
            };
            let absorbed: Vec<Change> = tchanges
                .iter()
                .filter(|c| {
                    !matches!(
                        c,
                        Change::RenameTable { .. } | Change::CreateTable(_) | Change::DropTable(_)
                    )
                })
                .map(|c| (*c).clone())
                .collect();
            let mut scratch = Schema::default();
            scratch.tables.insert(table.clone(), from.clone());
            let mut to = diff::apply_all(&scratch, &absorbed)
                .tables
                .shift_remove(&table)
                .expect("table kept");
            // Column copies follow renames made in this rebuild.
            for c in &absorbed {
                if let Change::RenameColumn {
                    from: old, to: new, ..
                } = c
                    && let Some(col) = to.column_mut(new)
                {
                    col.renamed_from = Some(old.clone());
                }
            }
            // Checks the table keeps are copied as the database spells them, not in the
            // canonical form normalization gave them.
            let raw_source = live_raw.tables.get(&table).or_else(|| {
                renamed_tables
                    .iter()
                    .find(|(_, to)| *to == table)
                    .and_then(|(from, _)| live_raw.tables.get(from))
            });
            if let Some(raw) = raw_source {
                for ck in &mut to.checks {
                    if let Some(r) = raw.checks.iter().find(|r| {
                        crate::sql::expr::canonical_check(&r.expr, dialect) == ck.expr
                            && (ck.name.is_none() || ck.name == r.name)
                    }) {
                        *ck = r.clone();
                    }
                }
            }
            let destructive = absorbed.iter().any(Change::is_destructive);
            let step_stmts = render::rebuild_table(from, &to);
            let descr: Vec<String> = absorbed.iter().map(|c| c.to_string()).collect();
            rebuild_steps.push(Step {
                phase: if destructive {
                    Phase::Contract
                } else {
                    Phase::Expand
                },
                summary: format!("rebuild table {table} ({})", descr.join("; ")),
                source: format!("tables.{table}"),
                statements: step_stmts,
                rebuild: true,
            });
            continue;
        }
        for c in tchanges {
            let destructive = c.is_destructive();
            let raw_table = live_raw.tables.get(&table).or_else(|| {
                renamed_tables
                    .iter()
                    .find(|(_, to)| *to == table)
                    .and_then(|(from, _)| live_raw.tables.get(from))
            });
            match c {
                Change::CreateTable(_) => {}
                Change::RenameTable { from, to } => push(
                    10,
                    c,
                    vec![render::rename_table(dialect, from, to)],
                    false,
                    destructive,
                ),
                Change::DropTable(_) => {}
                Change::AddColumn { column, .. } => push(
                    50,
                    c,
                    vec![render::add_column(dialect, &table, column)],
                    false,
                    destructive,
                ),
                Change::RenameColumn { from, to, .. } => push(
                    11,
                    c,
                    vec![render::rename_column(dialect, &table, from, to)],
                    false,
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
                        60,
                        c,
                        render::alter_column(dialect, &table, from, to),
                        false,
                        destructive,
                    )
                }
                Change::DropColumn { column, .. } => push(
                    100,
                    c,
                    vec![render::drop_column(dialect, &table, &column.name)],
                    false,
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
                                raw_table
                                    .and_then(|t| t.primary_key.as_ref())
                                    .and_then(|p| p.name.clone())
                            })
                            .or_else(|| Some(format!("{table}_pkey"))),
                    };
                    push(
                        70,
                        c,
                        render::set_primary_key(dialect, &table, from_name.as_deref(), to.as_ref()),
                        false,
                        destructive,
                    )
                }
                Change::AddIndex { index, .. } => push(
                    80,
                    c,
                    vec![render::create_index(dialect, &table, index)],
                    false,
                    destructive,
                ),
                Change::DropIndex { index, .. } => push(
                    30,
                    c,
                    vec![render::drop_index(dialect, &table, &index.name)],
                    false,
                    destructive,
                ),
                Change::AddUnique { unique, .. } => push(
                    80,
                    c,
                    vec![render::add_unique(dialect, &table, unique)],
                    false,
                    destructive,
                ),
                Change::DropUnique { unique, .. } => {
                    let name = unique
                        .name
                        .clone()
                        .or_else(|| {
                            raw_table
                                .and_then(|t| {
                                    t.uniques.iter().find(|u| u.columns == unique.columns)
                                })
                                .and_then(|u| u.name.clone())
                        })
                        .ok_or_else(|| no_name(c))?;
                    push(
                        30,
                        c,
                        vec![render::drop_unique(dialect, &table, &name)],
                        false,
                        destructive,
                    )
                }
                Change::AddCheck { check, .. } => push(
                    80,
                    c,
                    vec![render::add_check(dialect, &table, check)],
                    false,
                    destructive,
                ),
                Change::DropCheck { check, .. } => {
                    let name = check
                        .name
                        .clone()
                        .or_else(|| {
                            raw_table
                                .and_then(|t| {
                                    t.checks.iter().find(|k| same_expr(&k.expr, &check.expr))
                                })
                                .and_then(|k| k.name.clone())
                        })
                        .ok_or_else(|| no_name(c))?;
                    push(
                        20,
                        c,
                        vec![render::drop_check(dialect, &table, &name)],
                        false,
                        destructive,
                    )
                }
                Change::AddForeignKey { fk, .. } => push(
                    90,
                    c,
                    vec![render::add_foreign_key(dialect, &table, fk)],
                    false,
                    destructive,
                ),
                Change::DropForeignKey { fk, .. } => {
                    let name = fk
                        .name
                        .clone()
                        .or_else(|| {
                            raw_table
                                .and_then(|t| {
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
                        15,
                        c,
                        vec![render::drop_foreign_key(dialect, &table, &name)],
                        false,
                        destructive,
                    )
                }
                Change::AlterTableOptions { from, to, .. } => {
                    if dialect == Dialect::Mysql {
                        push(
                            130,
                            c,
                            render::table_options(&table, from, to),
                            false,
                            destructive,
                        )
                    }
                }
                Change::CreateEnum(_) | Change::AddEnumValues { .. } | Change::DropEnum(_) => {}
            }
        }
    }

    // Table drops: tables referencing others go first.
    let dropped: Vec<&Table> = changes
        .iter()
        .filter_map(|c| {
            if let Change::DropTable(t) = c {
                Some(t)
            } else {
                None
            }
        })
        .collect();
    let mut drop_order = order_created_tables(&dropped);
    drop_order.reverse();
    for t in drop_order {
        let c = Change::DropTable(t.clone());
        push(
            110,
            &c,
            vec![render::drop_table(dialect, &t.name)],
            false,
            true,
        );
    }

    if dialect == Dialect::Postgres {
        for c in changes {
            match c {
                Change::CreateEnum(e) => push(0, c, vec![render::create_enum(e)], false, false),
                Change::AddEnumValues { name, values } => push(
                    1,
                    c,
                    values
                        .iter()
                        .map(|v| render::add_enum_value(name, v))
                        .collect(),
                    false,
                    false,
                ),
                Change::DropEnum(e) => push(120, c, vec![render::drop_enum(&e.name)], false, true),
                _ => {}
            }
        }
    }

    groups.entry(60).or_default().extend(rebuild_steps);
    Ok(groups.into_values().flatten().collect())
}

fn no_name(c: &Change) -> PlanError {
    PlanError {
        change: c.to_string(),
        reason: "the database did not report a name for it, so it cannot be dropped".into(),
        help: Some("drop it by hand, then run the command again".into()),
    }
}

/// Loose comparison of two SQL expressions (quotes, case, spaces and parentheses ignored).
fn same_expr(a: &str, b: &str) -> bool {
    let canon = |s: &str| {
        s.chars()
            .filter(|c| !matches!(c, '`' | '"' | '(' | ')' | ' ' | '\n' | '\t'))
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    canon(a) == canon(b)
}

/// Changes SQLite's ALTER TABLE cannot express.
fn needs_sqlite_rebuild(c: &Change) -> bool {
    match c {
        Change::AlterColumn { .. }
        | Change::DropColumn { .. }
        | Change::SetPrimaryKey { .. }
        | Change::AddUnique { .. }
        | Change::DropUnique { .. }
        | Change::AddForeignKey { .. }
        | Change::DropForeignKey { .. }
        | Change::AddCheck { .. }
        | Change::DropCheck { .. } => true,
        // ADD COLUMN cannot add a NOT NULL column without a default, or a key column.
        Change::AddColumn { column, .. } => {
            (!column.nullable && column.default.is_none()) || column.autoincrement
        }
        _ => false,
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

/// Every statement of `steps`, in order (what the executor runs).
pub fn statements(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .flat_map(|s| s.statements.iter().cloned())
        .collect()
}

/// Renders steps as one SQL script (what `db plan` prints).
pub fn to_sql_script(steps: &[Step], dialect: Dialect) -> String {
    let mut out = String::new();
    let mut phase: Option<Phase> = None;
    for s in steps {
        if phase != Some(s.phase) {
            out.push_str(&format!("-- phase: {}\n", s.phase));
            phase = Some(s.phase);
        }
        out.push_str(&format!("-- {} [{}]\n", s.summary, s.source));
        if s.rebuild && dialect == Dialect::Sqlite {
            out.push_str("-- (runs with PRAGMA foreign_keys=OFF around the transaction, then PRAGMA foreign_key_check)\n");
        }
        for st in &s.statements {
            out.push_str(st);
            out.push_str(";\n");
        }
    }
    out
}
