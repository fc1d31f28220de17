//! The digest a revision records of each parent and dependency it was written against
//! (`[revision] built_on`), so that `revision check` notices a revision edited after later
//! revisions were built on it.
//!
//! What is digested is what children derive from: the parent's schema and its place in the
//! graph (parents, dependencies, branch), in the canonical form the writer produces — not the
//! file's bytes. So comments, layout, the order of tables, the description and the data
//! migrations (a skeleton is meant to be filled in after its contract revision exists) may
//! change without tripping the check; a changed column, index, key or trigger does.

use sha2::{Digest, Sha256};

use super::Snapshot;
use super::write::schema_to_toml;
use crate::schema::model::Schema;

/// How a digest is spelled: the algorithm, then the first 64 bits of the hash in hex (plenty
/// to notice an edit; this is not a defence against forgery).
const PREFIX: &str = "sha256:";

/// The digest of a revision as its children record it.
pub fn digest(snap: &Snapshot) -> String {
    let m = &snap.meta;
    let mut text = format!(
        "parents = {:?}\ndepends_on = {:?}\nbranch = {:?}\n",
        m.parents,
        m.depends_on,
        m.branch.map(|b| b.as_str())
    );
    text.push_str(&schema_to_toml(&canonical_order(&snap.schema)));
    let hash = Sha256::digest(text.as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{hex}")
}

/// The schema with tables, enum types and triggers in name order, and each table's indexes,
/// keys and checks sorted: the order they are written in carries no meaning.
pub fn canonical_order(schema: &Schema) -> Schema {
    let mut s = schema.clone();
    s.tables.sort_keys();
    s.enums.sort_keys();
    s.triggers
        .sort_by(|a, b| (&a.table, &a.name).cmp(&(&b.table, &b.name)));
    for t in s.tables.values_mut() {
        t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        t.uniques
            .sort_by(|a, b| (&a.name, &a.columns).cmp(&(&b.name, &b.columns)));
        t.foreign_keys.sort_by(|a, b| {
            (&a.name, &a.columns, &a.ref_table).cmp(&(&b.name, &b.columns, &b.ref_table))
        });
        t.checks
            .sort_by(|a, b| (&a.name, &a.expr).cmp(&(&b.name, &b.expr)));
    }
    s
}
