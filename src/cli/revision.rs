//! The `revision` commands: `init`, `new`, `check`, `merge` and `rehash` (the work is in
//! `revisions::{author, check, merge}`; this file presents it).

use std::path::PathBuf;

use super::args::{GlobalArgs, RevisionMergeArgs, RevisionNewArgs, SchemaDirArgs};
use super::context::{CmdResult, Failure};
use super::output::{out, out_raw, unified_diff};
use crate::revisions::author::{self, AuthorError, NewRevision, Written};
use crate::revisions::check;
use crate::revisions::merge::{self, MergeRequest};
use crate::snapshot::{Branch, SnapshotError};

/// The history the revision commands write: `--revisions DIR`, else `./revisions`.
fn revisions_dir(g: &GlobalArgs) -> PathBuf {
    g.revisions
        .clone()
        .unwrap_or_else(|| PathBuf::from("revisions"))
}

pub fn init(g: &GlobalArgs, args: &SchemaDirArgs) -> CmdResult {
    let written = author::init(&args.schema_dir, &revisions_dir(g)).map_err(Failure::from)?;
    out(&format!(
        "Wrote {} file(s) to {}/ from the heads of {}/: edit them, then `glance-manage revision new RELEASE`.",
        written.len(),
        args.schema_dir.display(),
        revisions_dir(g).display()
    ));
    Ok(0)
}

pub fn new(g: &GlobalArgs, args: &RevisionNewArgs) -> CmdResult {
    let req = NewRevision {
        name: args.name.clone(),
        branch: args.branch.as_deref().map(|b| {
            if b == "expand" {
                Branch::Expand
            } else {
                Branch::Contract
            }
        }),
        description: args.description.clone(),
    };
    let written = author::new(&args.schema.schema_dir, &revisions_dir(g), &req)?;
    for w in &written {
        print_written(w);
    }
    if written
        .iter()
        .any(|w| w.data_migrations.iter().any(|d| d.2))
    {
        out("");
        out("Every data migration marked TODO needs its SQL: no command runs this history until");
        out("its `todo` line is gone (`glance-manage revision check` lists what is left).");
    }
    Ok(0)
}

fn print_written(w: &Written) {
    let mut head = format!("Created {}", w.path.display());
    let mut facts = Vec::new();
    match w.branch {
        Some(b) => facts.push(b.as_str().to_string()),
        None if w.parents.is_empty() => facts.push("root".to_string()),
        None => {}
    }
    if !w.parents.is_empty() {
        facts.push(format!(
            "{} {}",
            if w.parents.len() > 1 {
                "parents"
            } else {
                "parent"
            },
            w.parents.join(", ")
        ));
    }
    if !w.depends_on.is_empty() {
        facts.push(format!("depends on {}", w.depends_on.join(", ")));
    }
    head.push_str(&format!(" ({})", facts.join("; ")));
    out(&head);
    if w.changes.is_empty() {
        out("    no schema change");
    }
    for c in &w.changes {
        out(&format!("    {c}"));
    }
    for (name, phase, todo) in &w.data_migrations {
        out(&format!(
            "    data migration {name} ({phase}){}",
            if *todo { ": TODO, write its SQL" } else { "" }
        ));
    }
}

pub fn check(g: &GlobalArgs, args: &SchemaDirArgs, color: bool) -> CmdResult {
    let dir = revisions_dir(g);
    let report = check::check(&args.schema_dir, &dir)?;
    if report.passed() {
        out(&format!(
            "Revision check passed: {} revisions, heads {}; {}/ matches them.",
            report.revisions,
            report.heads.join(", "),
            args.schema_dir.display()
        ));
        return Ok(0);
    }
    if let Some(m) = &report.schema {
        out(&format!(
            "{}/ differs from the heads of {}/ (a schema edit without a revision?):",
            args.schema_dir.display(),
            dir.display()
        ));
        for c in &m.changes {
            out(&format!("  - {c}"));
        }
        out("");
        let heads = format!("heads of {}/", dir.display());
        let schema = format!("{}/", args.schema_dir.display());
        out_raw(&unified_diff(
            &m.left_toml,
            &m.right_toml,
            (&heads, &schema),
            color,
        ));
    }
    let mut at: Vec<SnapshotError> = report.edited;
    for (branch, heads) in &report.forks {
        let line = branch.map_or("main line".to_string(), |b| {
            format!("{} branch", b.as_str())
        });
        at.push(SnapshotError::plain(
            &dir.display().to_string(),
            format!(
                "unmerged fork on the {line}: heads {} (two lines of work from one base)",
                heads.join(", ")
            ),
            Some(format!(
                "merge them: `glance-manage revision merge {}`",
                heads.join(" ")
            )),
        ));
    }
    let mut problems = at.len();
    if report.schema.is_some() {
        problems += 1;
    }
    Err(Failure::from(AuthorError::Changes {
        message: format!("revision check failed: {problems} problem(s)"),
        help: report.schema.as_ref().map(|_| {
            "turn the schema edit into revisions with `glance-manage revision new RELEASE` \
             (or undo it)"
                .to_string()
        }),
        at,
    }))
}

pub fn merge(g: &GlobalArgs, args: &RevisionMergeArgs) -> CmdResult {
    let req = MergeRequest {
        ours: args.ours.clone(),
        theirs: args.theirs.clone(),
        name: args.name.clone(),
        description: args.description.clone(),
    };
    let w = merge::merge(&args.schema.schema_dir, &revisions_dir(g), &req)?;
    print_written(&w);
    Ok(0)
}

pub fn rehash(g: &GlobalArgs) -> CmdResult {
    let done = check::rehash(&revisions_dir(g))?;
    if done.is_empty() {
        out("Every revision records the current digests of its parents: nothing to do.");
    }
    for (path, parents) in done {
        out(&format!(
            "Recorded in {}: {}",
            path.display(),
            parents.join(", ")
        ));
    }
    Ok(0)
}
