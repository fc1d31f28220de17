//! Writing history: freezing the working schema (`schema/*.toml`) into a new revision file
//! whose parent is the current head, after validating the whole history with the new file in
//! it. Nothing is written when anything is wrong.

use std::path::{Path, PathBuf};

use super::{RevisionError, RevisionSet};
use crate::schema::model::Schema;
use crate::snapshot::SnapshotError;
use crate::snapshot::{self as snap, Branch, FileKind, RevisionMeta};

/// What the new revision is.
#[derive(Debug, Clone)]
pub struct NewRevision {
    pub name: String,
    /// Parent revision(s); empty: the head of `branch`, or the only head.
    pub parents: Vec<String>,
    pub depends_on: Vec<String>,
    pub branch: Option<Branch>,
    pub description: Option<String>,
}

/// A revision written to disk.
#[derive(Debug, Clone)]
pub struct Frozen {
    pub path: PathBuf,
    pub parents: Vec<String>,
}

/// Why a revision could not be written.
#[derive(Debug)]
pub enum AuthorError {
    /// A plain problem (bad name, existing file, unreadable directory, ambiguous parent).
    Invalid {
        message: String,
        help: Option<String>,
    },
    Snapshot(SnapshotError),
    Revisions(RevisionError),
}

fn invalid(message: impl Into<String>, help: Option<&str>) -> AuthorError {
    AuthorError::Invalid {
        message: message.into(),
        help: help.map(str::to_string),
    }
}

/// Freezes the `*.toml` files of `schema_dir` into `revisions_dir/NAME.toml`.
pub fn freeze(
    schema_dir: &Path,
    revisions_dir: &Path,
    new: &NewRevision,
) -> Result<Frozen, AuthorError> {
    let dir = revisions_dir;
    if !snap::is_revision_name(&new.name) {
        return Err(invalid(
            format!("invalid revision name `{}`", new.name),
            Some("use letters, digits and underscores"),
        ));
    }
    let target = dir.join(format!("{}.toml", new.name));
    if target.exists() {
        return Err(invalid(
            format!("{} already exists", target.display()),
            Some("choose a new name"),
        ));
    }
    // Merge every file of the working schema.
    let mut files: Vec<PathBuf> = std::fs::read_dir(schema_dir)
        .map_err(|e| invalid(format!("cannot read {}: {e}", schema_dir.display()), None))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(invalid(
            format!("no *.toml files in {}", schema_dir.display()),
            None,
        ));
    }
    let mut schema = Schema::default();
    let mut data = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| invalid(format!("cannot read {}: {e}", f.display()), None))?;
        let s = snap::parse_str(&f.display().to_string(), &text, FileKind::WorkingSchema)
            .map_err(AuthorError::Snapshot)?;
        for (k, v) in s.schema.enums {
            schema.enums.insert(k, v);
        }
        for (k, v) in s.schema.tables {
            if schema.tables.contains_key(&k) {
                return Err(invalid(
                    format!(
                        "table `{k}` is defined in more than one file of {}",
                        schema_dir.display()
                    ),
                    None,
                ));
            }
            schema.tables.insert(k, v);
        }
        for t in s.schema.triggers {
            if schema.triggers.iter().any(|x| x.name == t.name) {
                return Err(invalid(
                    format!(
                        "trigger `{}` is defined in more than one file of {}",
                        t.name,
                        schema_dir.display()
                    ),
                    None,
                ));
            }
            schema.triggers.push(t);
        }
        data.extend(s.data_migrations);
    }
    let existing = if dir.exists() {
        Some(RevisionSet::from_dir(dir).map_err(AuthorError::Revisions)?)
    } else {
        None
    };
    let parents = if !new.parents.is_empty() {
        new.parents.clone()
    } else if let Some(set) = &existing {
        match new.branch.and_then(|b| set.branch_head(b)) {
            Some(h) => vec![h.to_string()],
            None => match set.heads().as_slice() {
                [one] => vec![one.to_string()],
                many => {
                    return Err(invalid(
                        format!(
                            "the history has several heads ({}); say which with --parent or --branch",
                            many.join(", ")
                        ),
                        None,
                    ));
                }
            },
        }
    } else {
        vec![]
    };
    let meta = RevisionMeta {
        name: new.name.clone(),
        parents: parents.clone(),
        depends_on: new.depends_on.clone(),
        branch: new.branch,
        description: new.description.clone(),
    };
    let text = snap::snapshot_to_toml(&meta, &data, &schema);
    // Validate the whole history with the new file before writing anything.
    let mut sources: Vec<(String, String)> = Vec::new();
    if dir.exists() {
        for e in std::fs::read_dir(dir)
            .map_err(|e| invalid(format!("cannot read {}: {e}", dir.display()), None))?
        {
            let p = e.map_err(|e| invalid(e.to_string(), None))?.path();
            if p.extension().is_some_and(|x| x == "toml") {
                let t = std::fs::read_to_string(&p)
                    .map_err(|e| invalid(format!("cannot read {}: {e}", p.display()), None))?;
                sources.push((p.display().to_string(), t));
            }
        }
    }
    sources.push((target.display().to_string(), text.clone()));
    RevisionSet::from_sources(&dir.display().to_string(), sources)
        .map_err(AuthorError::Revisions)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| invalid(format!("cannot create {}: {e}", dir.display()), None))?;
    std::fs::write(&target, text)
        .map_err(|e| invalid(format!("cannot write {}: {e}", target.display()), None))?;
    Ok(Frozen {
        path: target,
        parents,
    })
}
