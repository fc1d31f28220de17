//! What the authoring commands (`revision init`, `new`, `merge`, `check`, `rehash`) return:
//! the revision files they wrote, or why they wrote nothing.

use std::path::PathBuf;

use super::RevisionError;
use crate::snapshot::{Branch, SnapshotError};

/// A revision file written.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub name: String,
    pub branch: Option<Branch>,
    pub parents: Vec<String>,
    pub depends_on: Vec<String>,
    /// What the revision changes, in words.
    pub changes: Vec<String>,
    /// Its data migrations: (name, phase, still to be written).
    pub data_migrations: Vec<(String, &'static str, bool)>,
}

/// Why nothing was written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AuthorError {
    /// A plain problem (bad name, existing file, unreadable directory, nothing to do).
    #[error("{message}")]
    Invalid {
        message: String,
        #[help]
        help: Option<String>,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Snapshot(SnapshotError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Revisions(RevisionError),
    /// Changes that cannot be written as asked, each pointing at where it is written.
    #[error("{message}")]
    Changes {
        message: String,
        #[help]
        help: Option<String>,
        #[related]
        at: Vec<SnapshotError>,
    },
}

pub(crate) fn invalid(message: impl Into<String>, help: Option<&str>) -> AuthorError {
    AuthorError::Invalid {
        message: message.into(),
        help: help.map(str::to_string),
    }
}
