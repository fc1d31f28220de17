//! Glance's exact words: the lines `glance-manage db` prints for each milestone of a run, its
//! refusals, and `db check`'s answers and exit codes (`../shared/glance-reference.md` §1.3).
//! Every string an operator's script may grep for is here and nowhere else.

use super::context::{Failure, fail};
use crate::engine::refusal::Refusal;
use crate::engine::rolling::Status;
use crate::engine::runner::Milestone;

/// Glance's message when no version rows exist.
pub const NOT_UNDER_CONTROL: &str = "Database is either not under migration control or under legacy migration control, please run \"glance-manage db sync\" to place the database under alembic migration control.";

/// Exit codes of `db check`.
pub mod check_code {
    pub const UP_TO_DATE: u8 = 0;
    pub const EXPAND: u8 = 3;
    pub const MIGRATE: u8 = 4;
    pub const CONTRACT: u8 = 5;
}

/// `db check`'s line and exit code.
pub fn check_answer(status: Status) -> (&'static str, u8) {
    match status {
        Status::UpToDate => (
            "Database is up to date. No upgrades needed.",
            check_code::UP_TO_DATE,
        ),
        Status::NeedsExpand => (
            "Your database is not up to date. Your first step is to run `glance-manage db expand`.",
            check_code::EXPAND,
        ),
        Status::NeedsMigrate => (
            "Your database is not up to date. Your next step is to run `glance-manage db migrate`.",
            check_code::MIGRATE,
        ),
        Status::NeedsContract => (
            "Your database is not up to date. Your next step is to run `glance-manage db contract`.",
            check_code::CONTRACT,
        ),
    }
}

/// The line Glance prints for a milestone.
pub fn milestone_line(m: &Milestone) -> String {
    match m {
        Milestone::UpToDate => "Database is up to date. No migrations needed.".into(),
        Milestone::ExpansionUpToDate => {
            "Database expansion is up to date. No expansion needed.".into()
        }
        Milestone::MigrationUpToDate => {
            "Database migration is up to date. No migration needed.".into()
        }
        Milestone::Upgraded {
            revision: Some(r),
            heads,
        } => format!(
            "Upgraded database to: {r}, current revision(s): {}",
            heads.join(", ")
        ),
        Milestone::Upgraded {
            revision: None,
            heads,
        } => format!(
            "Upgraded database, current revision(s): {}",
            heads.join(", ")
        ),
        Milestone::Migrated { rows } => format!("Migrated {rows} rows"),
        Milestone::Synced => "Database is synced successfully.".into(),
        Milestone::NotUnderAlembic => {
            "Database is currently not under Alembic's migration control.".into()
        }
        Milestone::PlacingUnderControl { revision } => {
            format!("Placing database under Alembic's migration control at revision: {revision}")
        }
        Milestone::PlacedUnderControl { revision } => {
            format!("Placed database under migration control at revision: {revision}")
        }
    }
}

/// Lines Glance prints on stdout before refusing (the legacy head it found).
pub fn refusal_preamble(r: &Refusal) -> Option<String> {
    match r {
        Refusal::LegacyPreLiberty { version } => Some(format!("Legacy head:  {version}")),
        _ => None,
    }
}

/// A refusal as Glance words it (stderr, exit 1), with our help line where Glance has none.
pub fn refusal_failure(r: &Refusal) -> Failure {
    match r {
        Refusal::NoExpandHead => fail(
            "Database expansion failed. Couldn't find head revision of expand branch.",
            None,
        ),
        Refusal::NoContractHead => fail(
            "Database contraction failed. Couldn't find head revision of contract branch.",
            None,
        ),
        Refusal::MigrateBeforeExpand => fail(
            "Data migration did not run. Data migration cannot be run before database expansion. Run database expansion first using \"glance-manage db expand\"",
            None,
        ),
        Refusal::ContractBeforeExpand => fail(
            "Database contraction did not run. Database contraction cannot be run before database expansion. Run database expansion first using \"glance-manage db expand\"",
            None,
        ),
        Refusal::ContractBeforeMigrate => fail(
            "Database contraction did not run. Database contraction cannot be run before data migration is complete. Run data migration using \"glance-manage db migrate\".",
            None,
        ),
        Refusal::Downgrade { heads, target } => fail(
            format!(
                "Downgrades are not supported: the database is at {}, which is past {target}. Nothing was changed.",
                heads.join(", ")
            ),
            Some(
                "the way back to an older schema is to restore the database from a backup taken before the upgrade",
            ),
        ),
        Refusal::LockPolicy { max, steps } => fail(
            format!(
                "the plan takes locks stronger than --max-lock {max} allows; nothing was changed:\n{}",
                steps
                    .iter()
                    .map(|s| format!("  - {s}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            Some(
                "preview the locks with `glance-manage db plan`; run the upgrade in a maintenance window, or allow the lock with a higher --max-lock",
            ),
        ),
        Refusal::NotOnline { dialect, steps } => fail(
            format!(
                "--online: these steps cannot run on {dialect} while writers carry on; nothing was changed:\n{}",
                steps
                    .iter()
                    .map(|s| format!("  - {s}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            Some(
                "run the upgrade without --online in a maintenance window (`db plan` shows each step's lock)",
            ),
        ),
        Refusal::Verify(v) => fail(
            format!("{v}\nNothing was changed."),
            Some(match v {
                crate::engine::verify::VerifyFailure::NoScratch { .. } => {
                    "grant the database user the right to create a database, or run without --verify"
                }
                _ => {
                    "`glance-manage db drift` and `db plan` show the live schema and the plan; the revisions may not match this database"
                }
            }),
        ),
        Refusal::DataLeft { rows } => fail(
            format!(
                "{rows} row(s) still need a data migration after it ran; the contract phase was not run"
            ),
            Some(
                "inspect the rows the data migration's `pending` query returns, fix them, and run the command again",
            ),
        ),
        Refusal::LegacyPreLiberty { .. } => fail(
            "The current database version is not supported any more. Please upgrade to Liberty release first.",
            None,
        ),
        Refusal::LegacyUnknown { .. } => fail(
            "Unable to place database under Alembic's migration control. Unknown database state, can't proceed further.",
            Some(
                "the migrate_version table holds a version this tool does not know (expected 42-45)",
            ),
        ),
        Refusal::LegacyMismatch {
            version,
            revision,
            drift,
        } => fail(
            format!(
                "the legacy database (migrate_version {version}) does not have the schema of revision {revision}; nothing was changed:\n{drift}"
            ),
            Some(
                "repair the schema by hand, or stamp it with `db version_control VERSION --force` if you are sure",
            ),
        ),
        Refusal::StampMismatch { revision, drift } => fail(
            format!(
                "the live schema does not match revision {revision}; nothing was stamped:\n{drift}"
            ),
            Some("stamp anyway with --force if you know the schema is right"),
        ),
    }
}
