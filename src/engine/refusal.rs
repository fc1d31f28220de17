//! Why the engine refuses a command: Glance's refusals (a phase run out of order, a
//! downgrade, a legacy database it cannot adopt) as typed values; `cli::glance` words them.

use super::target::legacy_number;

/// A command Glance refuses, with what Glance knows about why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoExpandHead,
    NoContractHead,
    MigrateBeforeExpand,
    ContractBeforeExpand,
    ContractBeforeMigrate,
    /// The target is already behind the database.
    Downgrade {
        heads: Vec<String>,
        target: String,
    },
    /// A data migration ran but rows still need it; the contract phase was not run.
    DataLeft {
        rows: i64,
    },
    /// `migrate_version` holds a pre-Liberty version (1–41).
    LegacyPreLiberty {
        version: i64,
    },
    /// `migrate_version` holds a version this tool does not know.
    LegacyUnknown {
        version: i64,
    },
    /// The legacy database does not have the schema of the revision it would be adopted at.
    LegacyMismatch {
        version: i64,
        revision: String,
        drift: String,
    },
    /// `--max-lock`: steps would take a stronger lock than allowed; nothing was run. Each
    /// entry names the step, its lock and the tables it is taken on.
    LockPolicy {
        max: crate::plan::hazard::Lock,
        steps: Vec<String>,
    },
    /// `--online`: steps that have no form letting writers carry on; nothing was run.
    NotOnline {
        dialect: crate::schema::model::Dialect,
        steps: Vec<String>,
    },
    /// `--verify`: the plan did not pass its rehearsal on a scratch copy; nothing was run.
    Verify(super::verify::VerifyFailure),
    /// `db version_control` without `--force` on a schema that is not the revision's.
    StampMismatch {
        revision: String,
        drift: String,
    },
}

/// Maps a legacy sqlalchemy-migrate version to the revision Glance stamped for it.
pub fn legacy_revision(version: i64) -> Result<&'static str, Refusal> {
    match legacy_number(version) {
        Some(r) => Ok(r),
        None if (1..=41).contains(&version) => Err(Refusal::LegacyPreLiberty { version }),
        None => Err(Refusal::LegacyUnknown { version }),
    }
}
