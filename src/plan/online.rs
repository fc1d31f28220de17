//! `--online`: the form of each step that lets the table's writers carry on, where the backend
//! has one.
//!
//! - PostgreSQL: `CREATE INDEX CONCURRENTLY` / `DROP INDEX CONCURRENTLY` (which cannot run in a
//!   transaction: the runner commits the phase's transaction before them and opens a new one
//!   after); a foreign key or check is added `NOT VALID` and then validated with `VALIDATE
//!   CONSTRAINT`, which lets writes through while it scans (also outside the transaction, or
//!   the first statement's lock would be held through the scan).
//! - MariaDB: the statement with `ALGORITHM=<the table's algorithm>, LOCK=NONE` appended, so
//!   the server refuses (naming the statement) rather than silently taking a lock.
//! - A step that reads or copies every row under a lock that stops writers, with no such form
//!   (a PostgreSQL type change or SET NOT NULL, MariaDB's COPY, SQLite's rebuilds and index
//!   builds) is refused before anything runs. Steps that only change metadata keep their
//!   plain form: their lock is brief (`db plan` shows it).

use super::hazard::{Algorithm, Hazard, Lock, hazard};
use super::render;
use super::step::Op;
use crate::schema::model::Dialect;
use crate::sql::quote;

/// What `--online` runs for one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnlineForm {
    /// The plain statements (metadata only, or already non-blocking).
    Plain,
    /// Other statements; `outside_transaction`: each runs on its own (PostgreSQL).
    Rewritten {
        statements: Vec<String>,
        outside_transaction: bool,
        hazard: Hazard,
    },
    /// No form lets writers carry on: the step is refused.
    Refused { statement: String, reason: String },
}

/// The online form of `op` on `dialect`.
pub fn online(dialect: Dialect, op: &Op) -> OnlineForm {
    let h = hazard(dialect, op);
    let form = match dialect {
        Dialect::Postgres => postgres(op, &h),
        Dialect::Mysql => mariadb(op, &h),
        Dialect::Sqlite => None,
    };
    match form {
        Some(f) => f,
        None if h.touches_rows() && h.lock > Lock::None => OnlineForm::Refused {
            statement: first_statement(dialect, op),
            reason: format!(
                "it {} every row of {} under {} ({}), and {dialect} has no form of it that lets writes through",
                if h.rewrite { "copies" } else { "reads" },
                h.rows_of.as_deref().unwrap_or("the table"),
                h.lock_name,
                match h.lock {
                    Lock::Exclusive => "reads and writes wait",
                    _ => "writes wait",
                }
            ),
        },
        None => OnlineForm::Plain,
    }
}

/// The step's first statement, cut to a line's length (a rebuild's are long).
fn first_statement(dialect: Dialect, op: &Op) -> String {
    let st = super::render_op(dialect, op)
        .into_iter()
        .next()
        .unwrap_or_default();
    match st.char_indices().nth(120) {
        Some((i, _)) => format!("{} …", &st[..i]),
        None => st,
    }
}

/// The statements `--online` runs for `op` (the plain ones when there is no other form).
pub fn statements(dialect: Dialect, op: &Op) -> Vec<String> {
    match online(dialect, op) {
        OnlineForm::Rewritten { statements, .. } => statements,
        _ => super::render_op(dialect, op),
    }
}

/// The hazard of `op` as `--online` runs it.
pub fn online_hazard(dialect: Dialect, op: &Op) -> Hazard {
    match online(dialect, op) {
        OnlineForm::Rewritten { hazard, .. } => hazard,
        _ => hazard(dialect, op),
    }
}

fn concurrently(h: &Hazard, scan: bool) -> Hazard {
    Hazard {
        lock: Lock::None,
        lock_name: "SHARE UPDATE EXCLUSIVE",
        blocks: Lock::None.blocks(),
        scan,
        ..h.clone()
    }
}

fn postgres(op: &Op, h: &Hazard) -> Option<OnlineForm> {
    let d = Dialect::Postgres;
    let rewritten = |statements: Vec<String>, hazard: Hazard| OnlineForm::Rewritten {
        statements,
        outside_transaction: true,
        hazard,
    };
    match op {
        Op::AddIndex { table, index } => {
            let plain = render::create_index(d, table, index);
            let st = plain.replacen(" INDEX ", " INDEX CONCURRENTLY ", 1);
            Some(rewritten(vec![st], concurrently(h, true)))
        }
        Op::DropIndex { name, .. } => Some(rewritten(
            vec![format!("DROP INDEX CONCURRENTLY {}", quote(d, name))],
            concurrently(h, false),
        )),
        Op::AddForeignKey { table, fk } => {
            let name = fk.name.as_ref()?;
            let add = format!("{} NOT VALID", render::add_foreign_key(d, table, fk));
            // ADD … NOT VALID takes SHARE ROW EXCLUSIVE for a moment (no scan); VALIDATE
            // scans under SHARE UPDATE EXCLUSIVE.
            let hz = Hazard {
                lock_name: "SHARE ROW EXCLUSIVE (brief, no scan), then SHARE UPDATE EXCLUSIVE",
                ..h.clone()
            };
            Some(rewritten(vec![add, validate(table, name)], hz))
        }
        // SET NOT NULL without its scan under ACCESS EXCLUSIVE: a NOT VALID check validated
        // while writes go on lets PostgreSQL (12+) skip the scan, then the check goes.
        Op::AlterColumn { table, from, to }
            if from.ty == to.ty && from.nullable && !to.nullable =>
        {
            let check = quote(d, &not_null_check_name(table, &to.name));
            let t = quote(d, table);
            let c = quote(d, &to.name);
            let mut v = vec![
                format!("ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID"),
                format!("ALTER TABLE {t} VALIDATE CONSTRAINT {check}"),
            ];
            // The plain statements (SET NOT NULL, and a default if it changes), now without
            // a scan.
            v.extend(render::alter_column(d, table, from, to));
            v.push(format!("ALTER TABLE {t} DROP CONSTRAINT {check}"));
            let hz = Hazard {
                lock_name: "ACCESS EXCLUSIVE (brief, no scan), scan under SHARE UPDATE EXCLUSIVE",
                ..h.clone()
            };
            Some(rewritten(v, hz))
        }
        Op::AddCheck { table, check } => {
            let name = check.ddl_name()?;
            let add = format!("{} NOT VALID", render::add_check(d, table, check));
            let hz = Hazard {
                lock: Lock::Exclusive,
                lock_name: "ACCESS EXCLUSIVE (brief, no scan), then SHARE UPDATE EXCLUSIVE",
                ..h.clone()
            };
            Some(rewritten(vec![add, validate(table, name)], hz))
        }
        _ => None,
    }
}

/// The temporary check of an online SET NOT NULL (within PostgreSQL's 63 bytes).
pub fn not_null_check_name(table: &str, column: &str) -> String {
    let mut n = format!("gm_nn_{table}_{column}");
    n.truncate(63);
    n
}

fn validate(table: &str, name: &str) -> String {
    let d = Dialect::Postgres;
    format!(
        "ALTER TABLE {} VALIDATE CONSTRAINT {}",
        quote(d, table),
        quote(d, name)
    )
}

fn mariadb(op: &Op, h: &Hazard) -> Option<OnlineForm> {
    let alg = h.algorithm?;
    if h.lock != Lock::None || alg == Algorithm::Copy {
        return None;
    }
    let a = alg.as_str();
    let statements = super::render_op(Dialect::Mysql, op)
        .into_iter()
        .map(|st| with_clauses(&st, a))
        .collect();
    Some(OnlineForm::Rewritten {
        statements,
        outside_transaction: false,
        hazard: h.clone(),
    })
}

/// A MariaDB statement with `ALGORITHM=a, LOCK=NONE` (DROP INDEX in its ALTER TABLE form,
/// which takes the clauses).
fn with_clauses(st: &str, a: &str) -> String {
    if let Some(rest) = st.strip_prefix("DROP INDEX ")
        && let Some((index, table)) = rest.split_once(" ON ")
    {
        return format!("ALTER TABLE {table} DROP INDEX {index}, ALGORITHM={a}, LOCK=NONE");
    }
    if st.starts_with("ALTER TABLE") {
        format!("{st}, ALGORITHM={a}, LOCK=NONE")
    } else {
        format!("{st} ALGORITHM={a} LOCK=NONE")
    }
}
