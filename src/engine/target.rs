//! Revision arguments, resolved once into typed values: what the operator typed (a revision
//! name, `head`/`heads`, Glance's legacy numbers 42–45, the retired monolithic ids `ocata01`
//! and `pike01`) becomes a [`Target`] the command carries, never a string resolved again.

use super::EngineError;
use crate::revisions::RevisionSet;
use crate::snapshot::Branch;

/// Where an upgrade goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The revision to reach.
    pub revision: String,
    /// Whether the operator named it (`db sync V`) rather than taking the default head;
    /// Glance's messages differ.
    pub explicit: bool,
}

/// A version argument that names nothing usable.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TargetError {
    /// Legacy versions 1–41 predate Liberty: Glance's own refusal.
    #[error(
        "The current database version is not supported any more. Please upgrade to Liberty release first."
    )]
    #[diagnostic(help(
        "legacy versions 1-41 predate Liberty (42); upgrade with a Liberty-era Glance first"
    ))]
    PreLiberty,
    /// The history has no contract head and several heads: no default target.
    #[error("the revision history has several heads ({heads}); name the target revision")]
    SeveralHeads { heads: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Unknown(EngineError),
}

fn unknown(revs: &RevisionSet, name: &str) -> TargetError {
    TargetError::Unknown(EngineError::UnknownRevision {
        name: name.into(),
        suggestions: revs.suggestions(name),
    })
}

/// Resolves a version argument to a revision of `revs`; `None` (no argument, `head`,
/// `heads`) means "the default".
pub fn resolve_revision(
    revs: &RevisionSet,
    arg: Option<&str>,
) -> Result<Option<String>, TargetError> {
    let Some(v) = arg.map(str::trim) else {
        return Ok(None);
    };
    if v.is_empty() || v == "heads" || v == "head" {
        return Ok(None);
    }
    if let Ok(n) = v.parse::<i64>() {
        return match legacy_number(n) {
            Some(name) => Ok(Some(name.to_string())),
            None if (1..=41).contains(&n) => Err(TargetError::PreLiberty),
            None => Err(unknown(revs, v)),
        };
    }
    let name = current_id(v);
    if !revs.contains(name) {
        return Err(unknown(revs, v));
    }
    Ok(Some(name.to_string()))
}

/// Resolves the target of `db sync` / `db upgrade` / `db plan`: the named revision, else the
/// contract head, else the only head.
pub fn resolve_target(revs: &RevisionSet, arg: Option<&str>) -> Result<Target, TargetError> {
    match resolve_revision(revs, arg)? {
        Some(revision) => Ok(Target {
            revision,
            explicit: true,
        }),
        None => Ok(Target {
            revision: default_target(revs)?,
            explicit: false,
        }),
    }
}

/// The default upgrade target: the contract head, else the single head.
pub fn default_target(revs: &RevisionSet) -> Result<String, TargetError> {
    if let Some(c) = revs.branch_head(Branch::Contract) {
        return Ok(c.to_string());
    }
    let heads = revs.heads();
    match heads.as_slice() {
        [one] => Ok(one.to_string()),
        _ => Err(TargetError::SeveralHeads {
            heads: heads.join(", "),
        }),
    }
}

/// Glance's legacy sqlalchemy-migrate versions and the revisions Glance stamps for them.
pub fn legacy_number(v: i64) -> Option<&'static str> {
    match v {
        42 => Some("liberty"),
        43 => Some("mitaka01"),
        44 => Some("mitaka02"),
        45 => Some("ocata_contract01"),
        _ => None,
    }
}

/// Glance's retired monolithic revision ids (removed in Queens) and what they mean now; Glance
/// renames them whenever it reads the version table.
pub fn current_id(head: &str) -> &str {
    match head {
        "ocata01" => "ocata_contract01",
        "pike01" => "pike_contract01",
        other => other,
    }
}
