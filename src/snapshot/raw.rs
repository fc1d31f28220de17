//! The shape of a snapshot file as serde reads it, with the spans diagnostics point at.
//! Unknown keys are errors (`deny_unknown_fields`), so a typo never goes unnoticed.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) revision: Option<Spanned<RawRevision>>,
    #[serde(default)]
    pub(super) data_migrations: Vec<Spanned<RawData>>,
    #[serde(default)]
    pub(super) enums: IndexMap<String, Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub(super) tables: IndexMap<Spanned<String>, Spanned<RawTable>>,
    #[serde(default)]
    pub(super) triggers: Vec<Spanned<RawTrigger>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRevision {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) parents: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) depends_on: Vec<Spanned<String>>,
    pub(super) branch: Option<Spanned<String>>,
    pub(super) description: Option<String>,
    /// Digests of the parents and dependencies this revision was written against.
    pub(super) built_on: Option<Spanned<IndexMap<Spanned<String>, Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawData {
    pub(super) name: Spanned<String>,
    pub(super) phase: Spanned<String>,
    pub(super) description: Option<String>,
    pub(super) pending: Option<String>,
    /// Left by `revision new` in a data-migration skeleton: the loader refuses the revision
    /// until someone writes the SQL and deletes it.
    pub(super) todo: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) sql: Vec<String>,
    pub(super) sqlite: Option<Vec<String>>,
    pub(super) postgresql: Option<Vec<String>>,
    pub(super) mysql: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTable {
    pub(super) renamed_from: Option<String>,
    pub(super) primary_key: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) primary_key_name: Option<String>,
    pub(super) mysql: Option<RawMysql>,
    #[serde(default)]
    pub(super) columns: Vec<Spanned<RawColumn>>,
    #[serde(default)]
    pub(super) indexes: Vec<Spanned<RawIndex>>,
    #[serde(default)]
    pub(super) unique: Vec<Spanned<RawUnique>>,
    #[serde(default)]
    pub(super) foreign_keys: Vec<Spanned<RawForeignKey>>,
    #[serde(default)]
    pub(super) checks: Vec<Spanned<RawCheck>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMysql {
    pub(super) engine: Option<String>,
    pub(super) charset: Option<String>,
    pub(super) collation: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawColumn {
    pub(super) name: Spanned<String>,
    #[serde(rename = "type")]
    pub(super) ty: Spanned<String>,
    pub(super) nullable: Option<bool>,
    pub(super) default: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub(super) autoincrement: bool,
    pub(super) renamed_from: Option<String>,
    pub(super) sqlite: Option<Spanned<RawOverride>>,
    pub(super) postgresql: Option<Spanned<RawOverride>>,
    pub(super) mysql: Option<Spanned<RawOverride>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverride {
    #[serde(rename = "type")]
    pub(super) ty: Option<Spanned<String>>,
    pub(super) nullable: Option<bool>,
    pub(super) default: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIndex {
    pub(super) name: Spanned<String>,
    pub(super) columns: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) unique: bool,
    pub(super) dialects: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUnique {
    pub(super) name: Option<Spanned<String>>,
    pub(super) columns: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForeignKey {
    pub(super) name: Option<Spanned<String>>,
    pub(super) columns: Spanned<Vec<Spanned<String>>>,
    pub(super) ref_table: Spanned<String>,
    pub(super) ref_columns: Spanned<Vec<Spanned<String>>>,
    pub(super) on_delete: Option<Spanned<String>>,
    pub(super) on_update: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    pub(super) name: Option<Spanned<String>>,
    pub(super) expr: Spanned<String>,
    pub(super) dialects: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrigger {
    pub(super) name: Spanned<String>,
    pub(super) table: Spanned<String>,
    pub(super) timing: Spanned<String>,
    pub(super) event: Spanned<String>,
    pub(super) body: Option<Spanned<String>>,
    pub(super) sqlite: Option<Spanned<String>>,
    pub(super) postgresql: Option<Spanned<String>>,
    pub(super) mysql: Option<Spanned<String>>,
    pub(super) dialects: Option<Spanned<Vec<String>>>,
}

/// A revision file's head, its `[revision]` and `[[data_migrations]]` sections, read on its
/// own ([`super::header`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHead {
    pub(super) revision: Option<Spanned<RawRevision>>,
    #[serde(default)]
    pub(super) data_migrations: Vec<Spanned<RawData>>,
}
