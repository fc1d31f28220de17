//! What a planned step does to a running database, per backend: the lock it takes and what
//! that lock blocks, whether it reads or copies every row, and what it can do to the data. A
//! pure table from the typed [`Op`]: nothing is asked of a server here (sizes come from
//! [`super::sizes`]; the claims are checked against real servers in `tests/plan_hazards_*`).
//!
//! Lock levels are one scale for all backends, so that `--max-lock` means the same thing
//! everywhere:
//! - `none`: readers and writers of the table carry on.
//! - `shared`: readers carry on, writers wait.
//! - `exclusive`: readers and writers wait.
//!
//! The backend's own words are kept next to it (`ACCESS EXCLUSIVE`, `LOCK=SHARED`). On
//! PostgreSQL a phase is one transaction, so a lock is held until the phase commits, not
//! only while its statement runs. On MariaDB every `ALTER TABLE`, even an `INSTANT` one,
//! briefly takes an exclusive metadata lock at its start and end, and so first waits for the
//! transactions already open on the table. On SQLite every step runs in the run's one write
//! transaction: writers of the whole database wait until the run commits.

use std::fmt;

use serde::Serialize;

use super::step::{Op, PlannedStep};
use crate::schema::model::{Column, Dialect, Table};
use crate::schema::types::ColumnType;

/// How much of the table's traffic waits while the step holds its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lock {
    /// Reads and writes carry on.
    None,
    /// Reads carry on, writes wait.
    Shared,
    /// Reads and writes wait.
    Exclusive,
}

impl Lock {
    /// What the lock makes wait, in words.
    pub fn blocks(self) -> &'static str {
        match self {
            Lock::None => "nothing",
            Lock::Shared => "writes",
            Lock::Exclusive => "reads and writes",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lock::None => "none",
            Lock::Shared => "shared",
            Lock::Exclusive => "exclusive",
        }
    }
}

impl fmt::Display for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `ALGORITHM` MariaDB picks for an `ALTER TABLE` (10.11; NOCOPY and INSTANT are
/// kinds of INPLACE that do not rebuild the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Algorithm {
    /// Metadata only.
    Instant,
    /// No rebuild of the clustered index (building or dropping a secondary index).
    Nocopy,
    /// Rebuilds the table in place, concurrent writes allowed.
    Inplace,
    /// Copies every row into a new table.
    Copy,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Instant => "INSTANT",
            Algorithm::Nocopy => "NOCOPY",
            Algorithm::Inplace => "INPLACE",
            Algorithm::Copy => "COPY",
        }
    }
}

/// What a step can do to the rows themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataHazard {
    /// The step deletes stored data (a column, a table).
    DropsData { what: String },
    /// The step fails if existing rows break the new rule.
    MayFailOnRows { reason: String },
}

impl fmt::Display for DataHazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataHazard::DropsData { what } => write!(f, "drops data: {what}"),
            DataHazard::MayFailOnRows { reason } => {
                write!(f, "may fail on existing rows: {reason}")
            }
        }
    }
}

/// What one step does to a running database on one backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hazard {
    /// The strongest lock the step takes on an existing table.
    pub lock: Lock,
    /// The lock in the backend's own words.
    pub lock_name: &'static str,
    /// What `lock` makes wait.
    pub blocks: &'static str,
    /// Existing tables the lock is taken on (empty: none, e.g. a new table).
    pub locked: Vec<String>,
    /// The table whose rows the step reads or copies (what its duration depends on).
    pub rows_of: Option<String>,
    /// MariaDB: the algorithm the server picks.
    pub algorithm: Option<Algorithm>,
    /// The step copies every row of `rows_of`.
    pub rewrite: bool,
    /// The step reads every row of `rows_of` (to validate or to build an index).
    pub scan: bool,
    /// MariaDB: the statement commits any open transaction.
    pub implicit_commit: bool,
    pub data: Vec<DataHazard>,
}

impl Hazard {
    fn new(lock: Lock, lock_name: &'static str, locked: Vec<String>) -> Hazard {
        Hazard {
            lock,
            lock_name,
            blocks: lock.blocks(),
            locked,
            rows_of: None,
            algorithm: None,
            rewrite: false,
            scan: false,
            implicit_commit: false,
            data: Vec::new(),
        }
    }

    /// Whether the step's time grows with the table (it reads or copies rows).
    pub fn touches_rows(&self) -> bool {
        self.rewrite || self.scan
    }

    fn rows(mut self, table: &str, rewrite: bool, scan: bool) -> Hazard {
        self.rows_of = Some(table.to_string());
        self.rewrite |= rewrite;
        self.scan |= scan;
        self
    }
}

/// `lock_name` of a step on a type, which locks no table.
pub const NO_TABLE: &str = "no table lock";
/// `lock_name` of a new table that references no existing one.
pub const NEW_TABLE: &str = "no lock on existing tables";

/// The hazard of a planned step on `dialect`.
pub fn step_hazard(dialect: Dialect, step: &PlannedStep) -> Hazard {
    hazard(dialect, &step.op)
}

/// The steps of `steps` that take a stronger lock than `max` on `dialect`, with their hazard
/// (what `--max-lock` refuses).
pub fn over_limit<'a>(
    dialect: Dialect,
    steps: impl IntoIterator<Item = &'a PlannedStep>,
    max: Lock,
) -> Vec<(&'a PlannedStep, Hazard)> {
    steps
        .into_iter()
        .map(|s| (s, step_hazard(dialect, s)))
        .filter(|(_, h)| h.lock > max)
        .collect()
}

/// One line for a step and its lock: `expand: add column images.x — exclusive (ACCESS
/// EXCLUSIVE on images, blocks reads and writes)`.
pub fn describe_lock(s: &PlannedStep, h: &Hazard) -> String {
    let on = if h.locked.is_empty() {
        String::new()
    } else {
        format!(" on {}", h.locked.join(", "))
    };
    format!(
        "{}: {} — {} ({}{on}, blocks {})",
        s.phase, s.summary, h.lock, h.lock_name, h.blocks
    )
}

/// The hazard of `op` on `dialect`.
pub fn hazard(dialect: Dialect, op: &Op) -> Hazard {
    let mut h = match dialect {
        Dialect::Postgres => postgres(op),
        Dialect::Mysql => mariadb(op),
        Dialect::Sqlite => sqlite(op),
    };
    h.data.extend(data_hazards(op));
    h.data.dedup();
    h
}

/// What an op can do to the rows, whatever the backend.
fn data_hazards(op: &Op) -> Vec<DataHazard> {
    let fails = |reason: String| DataHazard::MayFailOnRows { reason };
    let drops = |what: String| DataHazard::DropsData { what };
    match op {
        Op::DropTable { table } => vec![drops(format!("table {table}"))],
        Op::DropColumn { table, column } => vec![drops(format!("column {table}.{column}"))],
        Op::AddColumn { table, column } if !column.nullable && column.default.is_none() => {
            vec![fails(format!(
                "{table}.{} is NOT NULL without a default",
                column.name
            ))]
        }
        Op::AlterColumn { table, from, to } => column_change_hazards(table, from, to),
        Op::SetPrimaryKey {
            table,
            to: Some(pk),
            ..
        } => vec![fails(format!(
            "duplicate or NULL values in {table} ({})",
            pk.columns.join(", ")
        ))],
        Op::AddIndex { table, index } if index.unique => vec![fails(format!(
            "duplicate values in {table} ({})",
            index.columns.join(", ")
        ))],
        Op::AddUnique { table, unique } => vec![fails(format!(
            "duplicate values in {table} ({})",
            unique.columns.join(", ")
        ))],
        Op::AddCheck { table, check } => vec![fails(format!(
            "rows of {table} that break CHECK ({})",
            check.expr
        ))],
        Op::AddForeignKey { table, fk } => vec![fails(format!(
            "rows of {table} ({}) without a matching row in {}",
            fk.columns.join(", "),
            fk.ref_table
        ))],
        Op::AddEnumValues { .. } | Op::CreateEnum { .. } => vec![],
        Op::RebuildTable { from, to } => rebuild_hazards(from, to),
        _ => vec![],
    }
}

fn column_change_hazards(table: &str, from: &Column, to: &Column) -> Vec<DataHazard> {
    let mut out = Vec::new();
    if from.nullable && !to.nullable {
        out.push(DataHazard::MayFailOnRows {
            reason: format!("NULLs in {table}.{}", to.name),
        });
    }
    if from.ty != to.ty && narrows(&from.ty, &to.ty) {
        out.push(DataHazard::MayFailOnRows {
            reason: format!(
                "values of {table}.{} that do not fit the narrower type",
                to.name
            ),
        });
    }
    out
}

/// What a SQLite rebuild does to the rows: the columns it leaves out, the rules it adds.
fn rebuild_hazards(from: &Table, to: &Table) -> Vec<DataHazard> {
    let t = &to.name;
    let mut out = Vec::new();
    for c in &from.columns {
        let kept = to
            .columns
            .iter()
            .any(|n| n.name == c.name || n.renamed_from.as_deref() == Some(c.name.as_str()));
        if !kept {
            out.push(DataHazard::DropsData {
                what: format!("column {t}.{}", c.name),
            });
        }
    }
    for c in &to.columns {
        let old = from
            .columns
            .iter()
            .find(|o| o.name == c.name || c.renamed_from.as_deref() == Some(o.name.as_str()));
        match old {
            Some(o) => out.extend(column_change_hazards(t, o, c)),
            None if !c.nullable && c.default.is_none() => out.push(DataHazard::MayFailOnRows {
                reason: format!("{t}.{} is NOT NULL without a default", c.name),
            }),
            None => {}
        }
    }
    if to.primary_key != from.primary_key && to.primary_key.is_some() {
        out.push(DataHazard::MayFailOnRows {
            reason: format!("duplicate or NULL values in the new primary key of {t}"),
        });
    }
    if to.uniques.iter().any(|u| !from.uniques.contains(u)) {
        out.push(DataHazard::MayFailOnRows {
            reason: format!("duplicate values under a new unique constraint of {t}"),
        });
    }
    if to
        .checks
        .iter()
        .any(|c| !from.checks.iter().any(|o| o.expr == c.expr))
    {
        out.push(DataHazard::MayFailOnRows {
            reason: format!("rows of {t} that break a new CHECK"),
        });
    }
    if to
        .foreign_keys
        .iter()
        .any(|f| !from.foreign_keys.iter().any(|o| o.same_shape(f)))
    {
        out.push(DataHazard::MayFailOnRows {
            reason: format!("rows of {t} without a matching row for a new foreign key"),
        });
    }
    out
}

/// Whether some value of `from` may not fit `to` (anything not a known widening counts).
pub fn narrows(from: &ColumnType, to: &ColumnType) -> bool {
    use ColumnType as T;
    let int_rank = |t: &T| match t {
        T::SmallInt => Some(1),
        T::Integer => Some(2),
        T::BigInt => Some(3),
        _ => None,
    };
    match (from, to) {
        (a, b) if a == b => false,
        (T::String(a), T::String(b)) | (T::Char(a), T::String(b)) => b < a,
        (T::String(_) | T::Char(_) | T::Json, T::Text) | (T::Text, T::Json) => false,
        (T::Float, T::Double) => false,
        (T::Enum { values: a, .. }, T::Enum { values: b, .. }) => !a.iter().all(|v| b.contains(v)),
        (a, b) => match (int_rank(a), int_rank(b)) {
            (Some(x), Some(y)) => y < x,
            _ => true,
        },
    }
}

/// PostgreSQL types whose change is binary-coercible: no rewrite, no scan.
fn pg_no_rewrite(from: &ColumnType, to: &ColumnType) -> bool {
    use ColumnType as T;
    match (from, to) {
        (T::String(a), T::String(b)) => b >= a,
        (T::String(_), T::Text) | (T::Text, T::Json) | (T::Json, T::Text) => true,
        _ => false,
    }
}

fn pg_access_exclusive(table: &str) -> Hazard {
    Hazard::new(Lock::Exclusive, "ACCESS EXCLUSIVE", vec![table.to_string()])
}

fn postgres(op: &Op) -> Hazard {
    let ae = pg_access_exclusive;
    match op {
        Op::CreateEnum { .. } | Op::AddEnumValues { .. } | Op::DropEnum { .. } => {
            Hazard::new(Lock::None, NO_TABLE, vec![])
        }
        Op::CreateTable {
            table,
            inline_foreign_keys,
        } => {
            // A foreign key takes SHARE ROW EXCLUSIVE on the table it references.
            let parents: Vec<String> = inline_foreign_keys
                .iter()
                .filter(|fk| fk.ref_table != table.name)
                .map(|fk| fk.ref_table.clone())
                .collect();
            if parents.is_empty() {
                Hazard::new(Lock::None, NEW_TABLE, vec![])
            } else {
                Hazard::new(Lock::Shared, "SHARE ROW EXCLUSIVE", dedup(parents))
            }
        }
        Op::DropTable { table } | Op::RenameTable { from: table, .. } => ae(table),
        Op::AddColumn { table, .. }
        | Op::DropColumn { table, .. }
        | Op::RenameColumn { table, .. }
        | Op::DropIndex { table, .. }
        | Op::DropUnique { table, .. }
        | Op::DropCheck { table, .. }
        | Op::DropForeignKey { table, .. }
        | Op::DropTrigger { table, .. } => ae(table),
        Op::AlterColumn { table, from, to } => {
            let retype = from.ty != to.ty && !pg_no_rewrite(&from.ty, &to.ty);
            let not_null = from.nullable && !to.nullable;
            let h = ae(table);
            if retype || not_null {
                h.rows(table, retype, not_null && !retype)
            } else {
                h
            }
        }
        Op::SetPrimaryKey { table, to, .. } => {
            let h = ae(table);
            if to.is_some() {
                h.rows(table, false, true)
            } else {
                h
            }
        }
        // A plain CREATE INDEX: SHARE, which lets reads through and stops writes.
        Op::AddIndex { table, .. } => {
            Hazard::new(Lock::Shared, "SHARE", vec![table.clone()]).rows(table, false, true)
        }
        Op::AddUnique { table, .. } | Op::AddCheck { table, .. } => {
            ae(table).rows(table, false, true)
        }
        Op::AddForeignKey { table, fk } => {
            let mut locked = vec![table.clone()];
            locked.push(fk.ref_table.clone());
            Hazard::new(Lock::Shared, "SHARE ROW EXCLUSIVE", dedup(locked)).rows(table, false, true)
        }
        Op::CreateTrigger { trigger } => Hazard::new(
            Lock::Shared,
            "SHARE ROW EXCLUSIVE",
            vec![trigger.table.clone()],
        ),
        // Not planned on PostgreSQL; the strongest answer if they ever are.
        Op::AlterTableOptions { table, .. } => ae(table).rows(table, true, false),
        Op::RebuildTable { to, .. } => ae(&to.name).rows(&to.name, true, false),
    }
}

fn maria(algorithm: Algorithm, lock: Lock, table: &str) -> Hazard {
    let name = match lock {
        Lock::None => "LOCK=NONE",
        Lock::Shared => "LOCK=SHARED",
        Lock::Exclusive => "LOCK=EXCLUSIVE",
    };
    let mut h = Hazard::new(lock, name, vec![table.to_string()]);
    h.algorithm = Some(algorithm);
    match algorithm {
        Algorithm::Instant => h,
        Algorithm::Nocopy => h.rows(table, false, true),
        Algorithm::Inplace | Algorithm::Copy => h.rows(table, true, false),
    }
}

/// An exclusive metadata lock with no ALGORITHM (DROP/RENAME TABLE, triggers).
fn maria_mdl(table: &str) -> Hazard {
    Hazard::new(
        Lock::Exclusive,
        "exclusive metadata lock",
        vec![table.to_string()],
    )
}

fn mariadb(op: &Op) -> Hazard {
    use Algorithm::*;
    let mut h = match op {
        Op::CreateEnum { .. } | Op::AddEnumValues { .. } | Op::DropEnum { .. } => {
            Hazard::new(Lock::None, NO_TABLE, vec![])
        }
        Op::CreateTable { .. } => Hazard::new(Lock::None, NEW_TABLE, vec![]),
        Op::DropTable { table } => maria_mdl(table),
        // RENAME TABLE: an exclusive metadata lock, no ALGORITHM.
        Op::RenameTable { from, .. } => maria_mdl(from),
        Op::AddColumn { table, .. }
        | Op::DropColumn { table, .. }
        | Op::RenameColumn { table, .. }
        | Op::DropCheck { table, .. }
        | Op::DropForeignKey { table, .. } => maria(Instant, Lock::None, table),
        Op::AddIndex { table, .. }
        | Op::AddUnique { table, .. }
        | Op::DropIndex { table, .. }
        | Op::DropUnique { table, .. } => {
            let h = maria(Nocopy, Lock::None, table);
            if matches!(op, Op::DropIndex { .. } | Op::DropUnique { .. }) {
                // Dropping an index reads nothing.
                Hazard {
                    scan: false,
                    rows_of: None,
                    ..h
                }
            } else {
                h
            }
        }
        Op::AlterColumn { table, from, to } => {
            let (alg, lock) = maria_modify(from, to);
            maria(alg, lock, table)
        }
        // Replacing a key rebuilds in place; dropping the only key cannot (COPY).
        Op::SetPrimaryKey { table, to, .. } => match to {
            Some(_) => maria(Inplace, Lock::None, table),
            None => maria(Copy, Lock::Shared, table),
        },
        // CHECK: validated by copying. FOREIGN KEY: INPLACE only with foreign_key_checks=OFF,
        // which the executor leaves on (the rows are checked).
        Op::AddCheck { table, .. } | Op::AddForeignKey { table, .. } => {
            maria(Copy, Lock::Shared, table)
        }
        Op::AlterTableOptions { table, .. } => maria(Copy, Lock::Shared, table),
        Op::CreateTrigger { trigger } => maria_mdl(&trigger.table),
        Op::DropTrigger { table, .. } => maria_mdl(table),
        Op::RebuildTable { to, .. } => maria(Copy, Lock::Shared, &to.name),
    };
    h.implicit_commit = true;
    h
}

/// MariaDB 10.11's choice for `MODIFY` from `from` to `to` (measured in
/// `tests/plan_hazards_servers.rs`): a default alone or new enum values at the end are
/// INSTANT; a nullability change rebuilds in place; any other type change copies.
fn maria_modify(from: &Column, to: &Column) -> (Algorithm, Lock) {
    let enum_append = match (&from.ty, &to.ty) {
        (ColumnType::Enum { values: a, .. }, ColumnType::Enum { values: b, .. }) => {
            b.len() >= a.len() && b[..a.len()] == a[..]
        }
        _ => false,
    };
    if from.ty != to.ty && !enum_append {
        (Algorithm::Copy, Lock::Shared)
    } else if from.nullable != to.nullable {
        (Algorithm::Inplace, Lock::None)
    } else {
        (Algorithm::Instant, Lock::None)
    }
}

fn sqlite(op: &Op) -> Hazard {
    // Every step runs in the run's one write transaction: the lock is the database's.
    let locked = op_table(op).map(str::to_string).into_iter().collect();
    let h = Hazard::new(Lock::Shared, "database write lock", locked);
    match op {
        Op::AddIndex { table, .. } => h.rows(table, false, true),
        Op::RebuildTable { to, .. } => h.rows(&to.name, true, false),
        _ => h,
    }
}

/// The existing table an op works on (None for a new table or a type).
pub fn op_table(op: &Op) -> Option<&str> {
    match op {
        Op::CreateEnum { .. }
        | Op::AddEnumValues { .. }
        | Op::DropEnum { .. }
        | Op::CreateTable { .. } => None,
        Op::DropTable { table }
        | Op::AddColumn { table, .. }
        | Op::DropColumn { table, .. }
        | Op::RenameColumn { table, .. }
        | Op::AlterColumn { table, .. }
        | Op::SetPrimaryKey { table, .. }
        | Op::AddIndex { table, .. }
        | Op::DropIndex { table, .. }
        | Op::AddUnique { table, .. }
        | Op::DropUnique { table, .. }
        | Op::AddCheck { table, .. }
        | Op::DropCheck { table, .. }
        | Op::AddForeignKey { table, .. }
        | Op::DropForeignKey { table, .. }
        | Op::AlterTableOptions { table, .. }
        | Op::DropTrigger { table, .. } => Some(table),
        Op::RenameTable { from, .. } => Some(from),
        Op::RebuildTable { from, .. } => Some(&from.name),
        Op::CreateTrigger { trigger } => Some(&trigger.table),
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
