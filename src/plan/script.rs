//! Steps as one commented SQL script, the form `db plan` and `db drift` print.

use super::step::{Phase, PlannedStep};
use crate::schema::model::Dialect;

/// Renders steps for `dialect` as one SQL script: a `-- phase:` line where the phase changes,
/// a comment with each step's summary and source, its statements.
pub fn to_sql_script(steps: &[PlannedStep], dialect: Dialect) -> String {
    let mut out = String::new();
    let mut phase: Option<Phase> = None;
    for s in steps {
        if phase != Some(s.phase) {
            out.push_str(&format!("-- phase: {}\n", s.phase));
            phase = Some(s.phase);
        }
        out.push_str(&format!("-- {} [{}]\n", s.summary, s.source));
        if s.is_rebuild() && dialect == Dialect::Sqlite {
            out.push_str("-- (runs with PRAGMA foreign_keys=OFF around the transaction, then PRAGMA foreign_key_check)\n");
        }
        for st in super::render_op(dialect, &s.op) {
            out.push_str(&st);
            out.push_str(";\n");
        }
    }
    out
}
