//! The working schema: `schema/*.toml`, the schema as the team wants it now, edited by hand
//! (one file per table plus `enums.toml`, as `revision init` writes it). Loaded as one schema
//! with the diagnostics of a revision file (file, line, column), and able to say where an
//! object is written so that later diagnostics (`revision new --branch expand`, `revision
//! merge`) point at it.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::error::SnapshotError;
use super::parse::{ParsedFile, parse_files};
use crate::schema::model::Schema;

/// A loaded `schema/` directory.
#[derive(Debug, Clone)]
pub struct WorkingSchema {
    pub dir: PathBuf,
    pub schema: Schema,
    pub files: Vec<ParsedFile>,
}

impl WorkingSchema {
    /// Reads every `*.toml` file of `dir` (in name order).
    pub fn load(dir: &Path) -> Result<WorkingSchema, SnapshotError> {
        let shown = dir.display().to_string();
        let missing = |why: String| {
            SnapshotError::plain(
                &shown,
                why,
                Some(format!(
                    "write it from the heads of the history with `glance-manage revision init` \
                     (one file per table in {shown}/), then edit it"
                )),
            )
        };
        if !dir.is_dir() {
            return Err(missing(format!(
                "there is no working schema: {shown}/ does not exist"
            )));
        }
        let entries = std::fs::read_dir(dir).map_err(|e| SnapshotError::io(dir, &e))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(missing(format!(
                "there is no working schema: {shown}/ has no *.toml files"
            )));
        }
        let mut files = Vec::new();
        for p in &paths {
            let text = std::fs::read_to_string(p).map_err(|e| SnapshotError::io(p, &e))?;
            files.push((p.display().to_string(), text));
        }
        let (schema, files) = parse_files(&files)?;
        Ok(WorkingSchema {
            dir: dir.to_path_buf(),
            schema,
            files,
        })
    }

    /// The file and span where the object at `path` (as `Change::source` names it) is
    /// written, or failing that its table.
    pub fn locate(&self, path: &str) -> Option<(&ParsedFile, Range<usize>)> {
        locate_in(self.files.iter(), path)
    }

    /// A diagnostic at the object `path`, or at no place when it is not written anywhere.
    pub fn error_at(&self, path: &str, message: String, help: Option<String>) -> SnapshotError {
        match self.locate(path) {
            Some((f, span)) => SnapshotError::at(&f.path, &f.text, span, message, help),
            None => SnapshotError::plain(&self.dir.display().to_string(), message, help),
        }
    }
}

/// The file among `files` where `path` is written, trying the object itself, then the table
/// it belongs to.
pub fn locate_in<'a>(
    files: impl Iterator<Item = &'a ParsedFile> + Clone,
    path: &str,
) -> Option<(&'a ParsedFile, Range<usize>)> {
    let table = path
        .strip_prefix("tables.")
        .and_then(|rest| rest.split('.').next())
        .map(|t| format!("tables.{t}"));
    for key in std::iter::once(path.to_string()).chain(table) {
        for f in files.clone() {
            if let Some(span) = f.locations.get(&key) {
                return Some((f, span.clone()));
            }
        }
    }
    None
}
