//! `revision check` (for CI) and `revision rehash`.
//!
//! The check loads the history the way every command does (so a broken file, a broken graph
//! or an unwritten data-migration skeleton fails it), then looks for what loading alone
//! accepts:
//! - the working schema differs from the heads: a schema edit nobody turned into a revision
//!   (or a revision written by hand that the working schema does not follow);
//! - a revision edited after later revisions were built on it. Every revision records, in
//!   `[revision] built_on`, the digest of each parent and dependency as it was when the
//!   revision was written (see `snapshot::digest`: the schema and the graph position, not
//!   comments or layout). A parent whose digest no longer matches was edited since; its
//!   children's snapshots, derived from the old one, would silently undo or repeat the edit.
//!   A missing digest is reported too, so the protection cannot be lost by accident;
//! - an unmerged fork: two heads on one line (two lines of work from the same base).
//!
//! `revision rehash` records the digests as the files are now: once when adopting the check,
//! and after an edit that is meant (a revision nobody has applied yet).

use std::path::{Path, PathBuf};

use super::author_error::{AuthorError, invalid};
use super::compare::{Mismatch, compare};
use super::{RevisionSet, read_sources};
use crate::snapshot::{
    self as snap, Branch, FileKind, Snapshot, SnapshotError, WorkingSchema, built_on_toml,
};

/// What `revision check` found.
#[derive(Debug)]
pub struct CheckReport {
    pub revisions: usize,
    pub heads: Vec<String>,
    /// The working schema against the heads (left: the heads, right: `schema/`).
    pub schema: Option<Mismatch>,
    /// Revisions edited after others were built on them, and missing digests.
    pub edited: Vec<SnapshotError>,
    /// Per line with several heads: the line and its heads.
    pub forks: Vec<(Option<Branch>, Vec<String>)>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.schema.is_none() && self.edited.is_empty() && self.forks.is_empty()
    }
}

/// Runs every check. Files that do not load are an error (their diagnostics), not a report.
pub fn check(schema_dir: &Path, revisions_dir: &Path) -> Result<CheckReport, AuthorError> {
    let set = RevisionSet::from_sources(
        &revisions_dir.display().to_string(),
        read_sources(revisions_dir).map_err(AuthorError::Revisions)?,
    )
    .map_err(AuthorError::Revisions)?;
    let work = WorkingSchema::load(schema_dir).map_err(AuthorError::Snapshot)?;
    let schema = compare(&set.head_schema(), &work.schema);
    let mut edited = Vec::new();
    for s in set.snapshots() {
        let mut unrecorded = Vec::new();
        for p in s.meta.parents.iter().chain(s.meta.depends_on.iter()) {
            let parent = set.get(p).expect("the graph is checked");
            let now = snap::digest(parent);
            match s.meta.built_on.get(p) {
                Some(d) if *d == now => {}
                Some(d) => edited.push(at_built_on(
                    s,
                    format!(
                        "{} was edited after `{}` was built on it (recorded {d}, now {now})",
                        parent.source.path, s.meta.name
                    ),
                    format!(
                        "revert the edit and put the change in a new revision (`revision new`); \
                         if `{p}` was never applied anywhere and the edit is meant, \
                         `glance-manage revision rehash` records it in its children"
                    ),
                )),
                None => unrecorded.push(format!("`{p}`")),
            }
        }
        let listed = |k: &String| s.meta.parents.contains(k) || s.meta.depends_on.contains(k);
        let stray: Vec<String> = s
            .meta
            .built_on
            .keys()
            .filter(|k| !listed(k))
            .map(|k| format!("`{k}`"))
            .collect();
        if !stray.is_empty() {
            edited.push(at_built_on(
                s,
                format!(
                    "`{}` records the digest of {}, not a parent or dependency of it",
                    s.meta.name,
                    stray.join(", ")
                ),
                "`glance-manage revision rehash` rewrites `built_on` from the parents".into(),
            ));
        }
        if !unrecorded.is_empty() {
            edited.push(at_built_on(
                s,
                format!(
                    "`{}` records no digest of {}, so an edit there would go unnoticed",
                    s.meta.name,
                    unrecorded.join(", ")
                ),
                "`glance-manage revision rehash` records the digests of every parent".into(),
            ));
        }
    }
    Ok(CheckReport {
        revisions: set.len(),
        heads: set.heads().iter().map(|h| h.to_string()).collect(),
        schema,
        edited,
        forks: set.forks(),
    })
}

fn at_built_on(s: &Snapshot, message: String, help: String) -> SnapshotError {
    let span = s
        .source
        .built_on_span
        .clone()
        .unwrap_or(s.source.name_span.clone());
    SnapshotError::at(&s.source.path, &s.source.text, span, message, Some(help))
}

/// `revision rehash`: records in every revision the digests of its parents and dependencies
/// as the files are now. Returns the files rewritten and the revisions recorded in each.
pub fn rehash(revisions_dir: &Path) -> Result<Vec<(PathBuf, Vec<String>)>, AuthorError> {
    let set = RevisionSet::from_sources_with(
        &revisions_dir.display().to_string(),
        read_sources(revisions_dir).map_err(AuthorError::Revisions)?,
        super::Drafts::Allow,
    )
    .map_err(AuthorError::Revisions)?;
    let mut out = Vec::new();
    for s in set.snapshots() {
        let mut want = std::collections::BTreeMap::new();
        for p in s.meta.parents.iter().chain(s.meta.depends_on.iter()) {
            want.insert(p.clone(), snap::digest(set.get(p).expect("checked")));
        }
        if want == s.meta.built_on {
            continue;
        }
        let changed: Vec<String> = want
            .iter()
            .filter(|(k, v)| s.meta.built_on.get(*k) != Some(*v))
            .map(|(k, _)| k.clone())
            .collect();
        let text = with_built_on(s, &built_on_toml(&want))?;
        // The rewritten file must say exactly that, and nothing else differently.
        let again = snap::parse_str(&s.source.path, &text, FileKind::Revision)
            .map_err(AuthorError::Snapshot)?;
        if again.meta.built_on != want || snap::digest(&again) != snap::digest(s) {
            return Err(invalid(
                format!("cannot record the digests in {}", s.source.path),
                Some("write `built_on = { … }` into its [revision] section by hand"),
            ));
        }
        out.push((PathBuf::from(&s.source.path), text, changed));
    }
    for (path, text, _) in &out {
        std::fs::write(path, text)
            .map_err(|e| invalid(format!("cannot write {}: {e}", path.display()), None))?;
    }
    Ok(out.into_iter().map(|(p, _, c)| (p, c)).collect())
}

/// The file's text with `line` (`built_on = { … }`) in its `[revision]` section: replacing
/// the value there is, or as the section's last line.
fn with_built_on(s: &Snapshot, line: &str) -> Result<String, AuthorError> {
    let text = &s.source.text;
    if let Some(span) = &s.source.built_on_span {
        let value = line.trim_start_matches("built_on = ");
        return Ok(format!(
            "{}{value}{}",
            &text[..span.start],
            &text[span.end..]
        ));
    }
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(header) = lines.iter().position(|l| l.trim() == "[revision]") else {
        return Err(invalid(
            format!("{} has no `[revision]` line", s.source.path),
            None,
        ));
    };
    // The section ends at the next table header; blank lines before it stay after the keys.
    let mut end = lines
        .iter()
        .enumerate()
        .skip(header + 1)
        .find(|(_, l)| l.trim_start().starts_with('['))
        .map_or(lines.len(), |(i, _)| i);
    while end > header + 1 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    let needs_newline = end > 0 && !lines[end - 1].ends_with('\n');
    let insert = format!("{}{line}\n", if needs_newline { "\n" } else { "" });
    lines.insert(end, &insert);
    Ok(lines.concat())
}
