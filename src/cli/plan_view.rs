//! `db plan` as the operator reads it: every step with its statements, the lock it takes and
//! what that blocks, what it does to the rows, the size of the table it works on and a rough
//! duration class; data migrations with the rows they will rewrite.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engine::{DataStep, ScriptView, UpgradePlan};
use crate::exec::Conn;
use crate::exec::connection::DbError;
use crate::plan::hazard::{self, Hazard, Lock};
use crate::plan::online::{self, OnlineForm};
use crate::plan::sizes::{self, DurationClass, TableSize};
use crate::plan::{self, Phase, PlannedStep};
use crate::schema::model::Dialect;

/// What the live database says about a plan (table sizes, rows owed to data migrations), and
/// how the plan will run.
#[derive(Debug, Default)]
pub struct Measured {
    /// `--online`: steps shown in their online form.
    pub online: bool,
    pub sizes: BTreeMap<String, TableSize>,
    /// Rows each data step (`revision/name`) still has to change; absent when unknown (its
    /// `pending` query reads something this plan creates first).
    pub pending: BTreeMap<String, i64>,
}

fn data_key(d: &DataStep) -> String {
    format!("{}/{}", d.revision, d.name)
}

/// Reads sizes of the tables `p` touches and the rows its data steps owe.
pub async fn measure(conn: &mut Conn, p: &UpgradePlan) -> Result<Measured, DbError> {
    let mut tables: Vec<String> = Vec::new();
    for s in p.expand.iter().chain(p.contract.iter()) {
        let h = step_hazard(p.dialect, s, false);
        tables.extend(h.rows_of.clone());
        tables.extend(h.locked.iter().cloned());
    }
    tables.sort();
    tables.dedup();
    let sizes = sizes::table_sizes(conn, &tables).await?;
    let mut pending = BTreeMap::new();
    for d in p.expand_data.iter().chain(p.migrate.iter()) {
        // A pending query may read a column this upgrade adds first: then it is unknown.
        if let Ok(n) = crate::engine::rolling::pending_of(conn, d).await
            && d.pending.is_some()
        {
            pending.insert(data_key(d), n);
        }
    }
    Ok(Measured {
        online: false,
        sizes,
        pending,
    })
}

/// One step of `db plan --format json`.
#[derive(Serialize)]
pub struct JsonStep {
    phase: Phase,
    kind: &'static str,
    summary: String,
    source: String,
    statements: Vec<String>,
    /// DDL steps: the lock and what the step does to the rows (docs/json-output.md).
    hazard: Option<Hazard>,
    /// The size of the table the step reads or copies (`rows_of`), when known.
    size: Option<TableSize>,
    duration: Option<DurationClass>,
    /// Data steps: rows still to change, when the database can say.
    rows: Option<i64>,
    /// `--online`: why the step has no online form (the run would be refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    online_refused: Option<String>,
}

/// The hazard of a step as it will run.
fn step_hazard(dialect: Dialect, s: &PlannedStep, online: bool) -> Hazard {
    if online {
        online::online_hazard(dialect, &s.op)
    } else {
        hazard::step_hazard(dialect, s)
    }
}

/// Why `--online` refuses a step, if it does.
pub fn online_refusal(dialect: Dialect, s: &PlannedStep) -> Option<String> {
    match online::online(dialect, &s.op) {
        OnlineForm::Refused { statement, reason } => Some(format!("`{statement}`: {reason}")),
        _ => None,
    }
}

/// The statements of a step as it will run.
fn step_statements(dialect: Dialect, s: &PlannedStep, online: bool) -> Vec<String> {
    if online {
        online::statements(dialect, &s.op)
    } else {
        plan::render_op(dialect, &s.op)
    }
}

fn ddl_json(p: &UpgradePlan, m: &Measured, phase: Phase, s: &PlannedStep) -> JsonStep {
    let h = step_hazard(p.dialect, s, m.online);
    let size = h.rows_of.as_ref().and_then(|t| m.sizes.get(t)).copied();
    JsonStep {
        phase,
        kind: if s.is_rebuild() { "rebuild" } else { "ddl" },
        summary: s.summary.clone(),
        source: s.source.clone(),
        statements: step_statements(p.dialect, s, m.online),
        duration: Some(sizes::duration_class(&h, size.as_ref())),
        size,
        hazard: Some(h),
        rows: None,
        online_refused: m.online.then(|| online_refusal(p.dialect, s)).flatten(),
    }
}

/// Every step of `p` in execution order, for JSON.
pub fn steps_json(p: &UpgradePlan, m: &Measured) -> Vec<JsonStep> {
    let mut v: Vec<JsonStep> = p
        .expand
        .iter()
        .map(|s| ddl_json(p, m, Phase::Expand, s))
        .collect();
    for d in p.expand_data.iter().chain(p.migrate.iter()) {
        v.push(JsonStep {
            phase: d.phase,
            kind: "data",
            summary: format!("data migration {}", d.name),
            source: format!("revisions.{}.data_migrations.{}", d.revision, d.name),
            statements: d.statements.clone(),
            hazard: None,
            size: None,
            duration: None,
            rows: m.pending.get(&data_key(d)).copied(),
            online_refused: None,
        });
    }
    v.extend(
        p.contract
            .iter()
            .map(|s| ddl_json(p, m, Phase::Contract, s)),
    );
    v
}

/// The comment lines `db plan` prints under a step: its lock, what it does to the rows, the
/// size of its table and its duration class.
pub fn hazard_lines(dialect: Dialect, s: &PlannedStep, m: &Measured) -> Vec<String> {
    let h = step_hazard(dialect, s, m.online);
    let mut first = match (h.lock, h.locked.is_empty()) {
        (Lock::None, true) => format!("lock: none ({})", h.lock_name),
        (_, true) => format!("lock: {} ({}): blocks {}", h.lock, h.lock_name, h.blocks),
        _ => format!(
            "lock: {} ({}) on {}: blocks {}",
            h.lock,
            h.lock_name,
            h.locked.join(", "),
            h.blocks
        ),
    };
    if let Some(a) = h.algorithm {
        first.push_str(&format!("; ALGORITHM={}", a.as_str()));
    }
    if h.implicit_commit {
        first.push_str("; implicit commit");
    }
    let size = h.rows_of.as_ref().and_then(|t| m.sizes.get(t));
    if let Some(t) = &h.rows_of
        && h.touches_rows()
    {
        let what = if h.rewrite { "copies" } else { "reads" };
        first.push_str(&format!("; {what} every row of {t}"));
        if let Some(sz) = size {
            first.push_str(&format!(" ({})", size_words(sz)));
        }
    }
    first.push_str(&format!(
        "; duration: {}",
        sizes::duration_class(&h, size).as_str()
    ));
    let mut out = vec![format!("hazard: {first}")];
    out.extend(h.data.iter().map(|d| format!("hazard: {d}")));
    if m.online
        && let Some(r) = online_refusal(dialect, s)
    {
        out.push(format!("online: refused: {r}"));
    }
    out
}

fn size_words(sz: &TableSize) -> String {
    let rows = match sz.rows {
        Some(n) if sz.exact => format!("{n} rows"),
        Some(n) => format!("~{n} rows"),
        None => "rows unknown".to_string(),
    };
    match sz.bytes {
        Some(b) => format!("{rows}, {}", sizes::human_bytes(b)),
        None => rows,
    }
}

/// What a backend's phases hold their locks for: said once, at the top of the plan.
fn lock_scope(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => {
            "-- locks: each phase runs in one transaction, so a lock is held until its phase commits\n"
        }
        Dialect::Mysql => {
            "-- locks: each ALTER TABLE first waits for transactions open on its table (metadata lock)\n"
        }
        Dialect::Sqlite => {
            "-- locks: the run is one write transaction: other writers wait until it commits\n"
        }
    }
}

/// What `--online` changes, said once at the top of the plan.
fn online_scope(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => {
            "-- online: CONCURRENTLY and VALIDATE statements run outside the phase's transaction\n"
        }
        Dialect::Mysql => {
            "-- online: ALGORITHM/LOCK clauses make the server refuse rather than lock\n"
        }
        Dialect::Sqlite => "-- online: SQLite has no online schema changes\n",
    }
}

/// The plan as `db plan` prints it: [`UpgradePlan::script`] with the hazards of each step.
pub fn script(p: &UpgradePlan, m: &Measured) -> String {
    let mut preamble = lock_scope(p.dialect).to_string();
    if m.online {
        preamble.push_str(online_scope(p.dialect));
    }
    let note = |st: &PlannedStep| hazard_lines(p.dialect, st, m);
    let steps = |steps: &[PlannedStep]| {
        if m.online {
            plan::script::to_sql_script_rendered(steps, p.dialect, &note, &|st| {
                online::statements(p.dialect, &st.op)
            })
        } else {
            plan::to_sql_script_with(steps, p.dialect, &note)
        }
    };
    let data_note = |d: &DataStep| {
        match m.pending.get(&data_key(d)) {
        Some(n) => format!(
            "-- hazard: rewrites {n} row(s); row locks on them until the phase commits\n"
        ),
        None => "-- hazard: rewrites the rows its query selects; row locks on them until the phase commits\n"
            .to_string(),
    }
    };
    p.script_with(ScriptView {
        preamble,
        steps: &steps,
        data_note: &data_note,
    })
}
