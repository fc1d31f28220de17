//! Steps as one commented SQL script, the form `db plan` and `db drift` print.

use super::step::{Op, Phase, PlannedStep};
use crate::schema::model::Dialect;

/// Renders steps for `dialect` as one SQL script: a `-- phase:` line where the phase changes,
/// a comment with each step's summary and source, its statements.
pub fn to_sql_script(steps: &[PlannedStep], dialect: Dialect) -> String {
    to_sql_script_with(steps, dialect, &|_| Vec::new())
}

/// [`to_sql_script`] with comment lines `note` gives for each step after its summary (what
/// `db plan` says of its hazards).
pub fn to_sql_script_with(
    steps: &[PlannedStep],
    dialect: Dialect,
    note: &dyn Fn(&PlannedStep) -> Vec<String>,
) -> String {
    to_sql_script_rendered(steps, dialect, note, &|s| super::render_op(dialect, &s.op))
}

/// [`to_sql_script_with`] with each step's statements from `render` (`--online` forms).
pub fn to_sql_script_rendered(
    steps: &[PlannedStep],
    dialect: Dialect,
    note: &dyn Fn(&PlannedStep) -> Vec<String>,
    render: &dyn Fn(&PlannedStep) -> Vec<String>,
) -> String {
    let mut out = String::new();
    let mut phase: Option<Phase> = None;
    for s in steps {
        if phase != Some(s.phase) {
            out.push_str(&format!("-- phase: {}\n", s.phase));
            phase = Some(s.phase);
        }
        out.push_str(&format!("-- {} [{}]\n", s.summary, s.source));
        for line in note(s) {
            out.push_str(&format!("-- {line}\n"));
        }
        if s.is_rebuild() && dialect == Dialect::Sqlite {
            out.push_str("-- (runs with PRAGMA foreign_keys=OFF around the transaction, then PRAGMA foreign_key_check)\n");
        }
        // A MySQL trigger body holds semicolons: the `mysql` client needs another delimiter
        // to read it as one statement (the driver does not).
        let delimited = dialect == Dialect::Mysql && matches!(s.op, Op::CreateTrigger { .. });
        if delimited {
            out.push_str("DELIMITER //\n");
        }
        for st in render(s) {
            out.push_str(&st);
            out.push_str(if delimited { "//\n" } else { ";\n" });
        }
        if delimited {
            out.push_str("DELIMITER ;\n");
        }
    }
    out
}
