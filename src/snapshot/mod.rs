//! Revision snapshots: one TOML file per revision holding the *whole* schema at that revision,
//! plus the revision's metadata and data-migration steps. [`parse_str`] reads a file into the model
//! (with diagnostics pointing at the offending TOML line), [`snapshot_to_toml`] writes it back.
//!
//! The format is documented in `docs/snapshot-format.md`.

mod digest;
pub mod error;
mod header;
mod parse;
mod raw;
mod table;
mod triggers;
mod working;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use crate::schema::model::{Dialect, Schema};

pub use digest::{canonical_order, digest};
pub use error::{SnapshotError, line_of};
pub use header::parse_head;
pub use parse::{ParsedFile, parse_file, parse_files, parse_str};
pub use working::{WorkingSchema, locate_in};
pub use write::{
    built_on_toml, schema_dir_files, schema_to_toml, snapshot_to_toml, table_to_toml,
    trigger_to_toml,
};

/// Which branch of the expand/contract scheme a revision belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Branch {
    /// Additive changes, safe while old code runs.
    Expand,
    /// Destructive changes, after every node runs new code.
    Contract,
}

impl Branch {
    pub fn as_str(self) -> &'static str {
        match self {
            Branch::Expand => "expand",
            Branch::Contract => "contract",
        }
    }
}

/// When a data-migration step runs relative to the schema changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataPhase {
    /// Right after the revision's expand-phase DDL (e.g. Mitaka's metadef rename).
    Expand,
    /// In the `migrate` phase, between expand and contract (`db migrate`).
    Migrate,
}

impl DataPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            DataPhase::Expand => "expand",
            DataPhase::Migrate => "migrate",
        }
    }
}

/// One data-migration step: SQL statements run in one transaction, plus an optional query that
/// counts rows still needing migration (`db check` answers 4 while it is non-zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMigration {
    pub name: String,
    pub phase: DataPhase,
    pub description: Option<String>,
    pub pending: Option<String>,
    pub sql: Vec<String>,
    pub sql_by_dialect: BTreeMap<Dialect, Vec<String>>,
    /// What is left to write in a skeleton `revision new` made (the loader refuses it).
    pub todo: Option<String>,
}

impl DataMigration {
    pub fn statements(&self, dialect: Dialect) -> &[String] {
        self.sql_by_dialect
            .get(&dialect)
            .map(Vec::as_slice)
            .unwrap_or(&self.sql)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionMeta {
    pub name: String,
    pub parents: Vec<String>,
    pub depends_on: Vec<String>,
    pub branch: Option<Branch>,
    pub description: Option<String>,
    /// Digest of each parent and dependency as this revision was written against it
    /// (`revision check` compares them with the files as they are now).
    pub built_on: BTreeMap<String, String>,
}

/// Where each object of a file is written: `tables.images.columns.size` (the path
/// `Change::source` names) → its span. Diagnostics about an object point at it.
pub type Locations = HashMap<String, Range<usize>>;

/// A parsed revision file.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub meta: RevisionMeta,
    pub schema: Schema,
    pub data_migrations: Vec<DataMigration>,
    pub source: SourceFile,
}

/// Where a snapshot came from, kept for diagnostics raised after parsing (DAG errors).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
    /// Span of `[revision] name`, and of each parent / depends_on entry.
    pub name_span: Range<usize>,
    pub parent_spans: Vec<Range<usize>>,
    pub depends_spans: Vec<Range<usize>>,
    /// Span of the `built_on` table's value, when there is one.
    pub built_on_span: Option<Range<usize>>,
    /// Where each object is written.
    pub locations: Locations,
}

impl Snapshot {
    /// What the revision graph needs of this snapshot.
    pub fn head(&self) -> RevisionHead {
        let s = &self.source;
        RevisionHead {
            meta: self.meta.clone(),
            path: s.path.clone(),
            name_span: s.name_span.clone(),
            parent_spans: s.parent_spans.clone(),
            depends_spans: s.depends_spans.clone(),
            built_on_span: s.built_on_span.clone(),
            data_migrations: self.data_migrations.clone(),
        }
    }
}

/// A revision file without its schema: the `[revision]` metadata with the spans of
/// [`SourceFile`] that graph errors point at, and the data migrations. All the revision graph
/// and the planning of data steps need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionHead {
    pub meta: RevisionMeta,
    pub path: String,
    pub name_span: Range<usize>,
    pub parent_spans: Vec<Range<usize>>,
    pub depends_spans: Vec<Range<usize>>,
    pub built_on_span: Option<Range<usize>>,
    pub data_migrations: Vec<DataMigration>,
}

/// What a file must contain: a revision snapshot needs `[revision]`; the working schema in
/// `schema/` must not have one (its metadata is given when it is frozen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Revision,
    WorkingSchema,
}

/// Whether `s` can name a revision (and its file).
pub fn is_revision_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
