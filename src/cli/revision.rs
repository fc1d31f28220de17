//! `revision new`: freeze the working schema into a revision file.

use super::args::{GlobalArgs, RevisionNewArgs};
use super::context::{CmdResult, Failure, fail};
use super::output::out;
use crate::revisions::author::{self, AuthorError, NewRevision};
use crate::snapshot::Branch;

pub fn new(g: &GlobalArgs, args: &RevisionNewArgs) -> CmdResult {
    let dir = g
        .revisions
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("revisions"));
    let new = NewRevision {
        name: args.name.clone(),
        parents: args.parents.clone(),
        depends_on: args.depends_on.clone(),
        branch: args.branch.as_deref().map(|b| {
            if b == "expand" {
                Branch::Expand
            } else {
                Branch::Contract
            }
        }),
        description: args.description.clone(),
    };
    let frozen = author::freeze(&args.schema_dir, &dir, &new).map_err(|e| match e {
        AuthorError::Invalid { message, help } => fail(message, help.as_deref()),
        AuthorError::Snapshot(e) => Failure::from(e),
        AuthorError::Revisions(e) => Failure::from(e),
    })?;
    out(&format!(
        "Created {} (parents: {})",
        frozen.path.display(),
        if frozen.parents.is_empty() {
            "none".to_string()
        } else {
            frozen.parents.join(", ")
        }
    ));
    Ok(0)
}
