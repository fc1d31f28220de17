//! Reading a revisions directory, and the revisions no command may run: data migrations
//! whose skeleton (`revision new`) is not written yet.

use std::path::Path;

use super::RevisionError;
use super::split;
use crate::snapshot::{Snapshot, SnapshotError};

/// The (path, text) of every `*.toml` file of a revisions directory, in name order.
pub fn read_sources(dir: &Path) -> Result<Vec<(String, String)>, RevisionError> {
    let io = |e: std::io::Error| RevisionError::Io {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| RevisionError::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            files.push((path.display().to_string(), text));
        }
    }
    files.sort();
    Ok(files)
}

/// Whether unfinished data migrations (a skeleton's `todo`) are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drafts {
    Refuse,
    Allow,
}

/// One error per data migration of `s` that still has its skeleton's `todo`.
pub(super) fn unfinished(s: &Snapshot) -> Vec<SnapshotError> {
    s.data_migrations
        .iter()
        .filter_map(|dm| {
            // The placeholder of a skeleton whose `todo` line went before its SQL was written.
            let placeholder = dm
                .sql
                .iter()
                .chain(dm.sql_by_dialect.values().flatten())
                .any(|q| q.contains(split::FILL_IN))
                .then(|| format!("its SQL still holds `{}`", split::FILL_IN));
            let todo = dm.todo.clone().or(placeholder)?;
            let locs = &s.source.locations;
            let span = locs
                .get(&format!("data_migrations.{}.todo", dm.name))
                .or_else(|| locs.get(&format!("data_migrations.{}", dm.name)))
                .cloned()
                .unwrap_or(0..0);
            Some(SnapshotError::at(
                &s.source.path,
                &s.source.text,
                span,
                format!("data migration `{}` is not written yet: {todo}", dm.name),
                Some(
                    "write its SQL (and check its `pending` query), then delete the `todo` line; \
                     until then no command runs this history"
                        .into(),
                ),
            ))
        })
        .collect()
}
