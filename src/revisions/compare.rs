//! Whether two portable schemas are the same schema, for `revision check` (the working schema
//! against the heads) and for `revision new` / `revision merge` checking what they are about
//! to write. Rename hints are instructions, not schema, and column order is not compared (as
//! everywhere else); everything the snapshot format can say is, per-dialect overrides and
//! `dialects` lists included.

use crate::diff;
use crate::schema::model::Schema;
use crate::snapshot::{canonical_order, schema_to_toml};

/// How two schemas differ: the changes in words, and both schemas as canonical TOML (for a
/// unified diff).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub changes: Vec<String>,
    pub left_toml: String,
    pub right_toml: String,
}

/// None when `left` and `right` are the same schema.
pub fn compare(left: &Schema, right: &Schema) -> Option<Mismatch> {
    let l = canonical_text(left, right);
    let r = canonical_text(right, right);
    if l == r {
        return None;
    }
    let mut changes: Vec<String> = diff::diff(&strip_hints(left), &strip_hints(right))
        .changes
        .iter()
        .map(|c| c.to_string())
        .collect();
    if changes.is_empty() {
        changes.push("per-dialect details differ (see the diff)".to_string());
    }
    Some(Mismatch {
        changes,
        left_toml: l,
        right_toml: r,
    })
}

/// The schema without rename hints.
pub fn strip_hints(schema: &Schema) -> Schema {
    let mut s = schema.clone();
    for t in s.tables.values_mut() {
        t.renamed_from = None;
        for c in &mut t.columns {
            c.renamed_from = None;
        }
    }
    s
}

/// Canonical TOML of `schema`, its columns in the order `like` has them (the others last).
fn canonical_text(schema: &Schema, like: &Schema) -> String {
    let mut s = strip_hints(schema);
    for t in s.tables.values_mut() {
        if let Some(other) = like.table(&t.name) {
            let pos = |name: &str| {
                other
                    .columns
                    .iter()
                    .position(|c| c.name == name)
                    .unwrap_or(usize::MAX)
            };
            t.columns.sort_by_key(|c| pos(&c.name));
        }
    }
    schema_to_toml(&canonical_order(&s))
}
