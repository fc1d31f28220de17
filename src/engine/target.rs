//! Revision arguments, resolved once into typed values: what the operator typed (a revision
//! name, `head`/`heads`, Glance's legacy numbers 42–45, the retired monolithic ids `ocata01`
//! and `pike01`) becomes a [`Target`] the command carries, never a string resolved again.
//! Without an argument the target is every head of the history (Glance's `heads`), so a new
//! expand head that no contract revision depends on yet is never left behind.

use super::EngineError;
use crate::revisions::RevisionSet;
use crate::snapshot::Branch;

/// Where an upgrade goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The revisions to reach: the one named, or the heads no other revision needs (for
    /// Glance's history the contract head alone, which depends on the expand head).
    pub revisions: Vec<String>,
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

/// Resolves the target of `db sync` / `db upgrade` / `db plan`: the named revision, else
/// every head.
pub fn resolve_target(revs: &RevisionSet, arg: Option<&str>) -> Result<Target, TargetError> {
    match resolve_revision(revs, arg)? {
        Some(revision) => Ok(Target {
            revisions: vec![revision],
            explicit: true,
        }),
        None => Ok(default_target(revs)),
    }
}

/// The default upgrade target: every head of the history.
pub fn default_target(revs: &RevisionSet) -> Target {
    Target {
        revisions: revs.targets(),
        explicit: false,
    }
}

impl Target {
    /// How Glance's lines name the target: the revision, or among several heads the contract
    /// head (what Glance's `db sync` reports reaching), else all of them.
    pub fn label(&self, revs: &RevisionSet) -> String {
        if let [one] = self.revisions.as_slice() {
            return one.clone();
        }
        let contract: Vec<&String> = self
            .revisions
            .iter()
            .filter(|r| {
                revs.meta(r)
                    .is_some_and(|m| m.branch == Some(Branch::Contract))
            })
            .collect();
        match contract.as_slice() {
            [one] => (*one).clone(),
            _ => self.revisions.join(", "),
        }
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
