//! The revision DAG over Glance's built-in history, and every malformed-graph case.

mod common;

use std::collections::BTreeSet;

use glance_manage::revisions::{RevisionError, RevisionSet};
use glance_manage::snapshot::Branch;

const GLANCE_WALK: [&str; 29] = [
    "liberty",
    "mitaka01",
    "mitaka02",
    "ocata_expand01",
    "pike_expand01",
    "queens_expand01",
    "rocky_expand01",
    "rocky_expand02",
    "train_expand01",
    "ussuri_expand01",
    "wallaby_expand01",
    "xena_expand01",
    "yoga_expand01",
    "zed_expand01",
    "2023_1_expand01",
    "2024_1_expand01",
    "ocata_contract01",
    "pike_contract01",
    "queens_contract01",
    "rocky_contract01",
    "rocky_contract02",
    "train_contract01",
    "ussuri_contract01",
    "wallaby_contract01",
    "xena_contract01",
    "yoga_contract01",
    "zed_contract01",
    "2023_1_contract01",
    "2024_1_contract01",
];

#[test]
fn loads_all_29_glance_revisions() {
    let set = RevisionSet::builtin().expect("built-in revisions load");
    assert_eq!(set.len(), 29);
    for name in GLANCE_WALK {
        assert!(set.contains(name), "missing {name}");
    }
    assert_eq!(set.root(), "liberty");
}

#[test]
fn heads_are_the_expand_and_contract_heads() {
    let set = RevisionSet::builtin().unwrap();
    assert_eq!(set.heads(), vec!["2024_1_expand01", "2024_1_contract01"]);
    assert_eq!(set.branch_head(Branch::Expand), Some("2024_1_expand01"));
    assert_eq!(set.branch_head(Branch::Contract), Some("2024_1_contract01"));
}

#[test]
fn walk_order_matches_glance() {
    let set = RevisionSet::builtin().unwrap();
    assert_eq!(set.walk_order(), GLANCE_WALK.to_vec());
}

#[test]
fn path_from_nothing_to_head_is_the_whole_walk() {
    let set = RevisionSet::builtin().unwrap();
    assert_eq!(
        set.path(&BTreeSet::new(), "2024_1_contract01"),
        GLANCE_WALK.to_vec()
    );
}

#[test]
fn path_from_mitaka02_to_head_skips_the_applied_revisions() {
    let set = RevisionSet::builtin().unwrap();
    let applied = set.closure("mitaka02");
    assert_eq!(applied.len(), 3);
    assert_eq!(
        set.path(&applied, "2024_1_contract01"),
        GLANCE_WALK[3..].to_vec()
    );
}

#[test]
fn path_to_an_expand_revision_does_not_touch_contract_branch() {
    let set = RevisionSet::builtin().unwrap();
    let path = set.path(&BTreeSet::new(), "rocky_expand01");
    assert_eq!(path, GLANCE_WALK[..7].to_vec());
}

#[test]
fn contract_revision_closure_includes_its_dependency() {
    let set = RevisionSet::builtin().unwrap();
    let c = set.closure("ocata_contract01");
    let expected: BTreeSet<String> = [
        "liberty",
        "mitaka01",
        "mitaka02",
        "ocata_expand01",
        "ocata_contract01",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(c, expected);
}

#[test]
fn version_rows_follow_alembic_semantics() {
    let set = RevisionSet::builtin().unwrap();
    // Whole expand chain: one row.
    let mut applied = set.closure("2024_1_expand01");
    assert_eq!(set.heads_of(&applied), vec!["2024_1_expand01"]);
    // Plus the first contract revision: two rows (its parent mitaka02 is not a head).
    applied.extend(set.closure("ocata_contract01"));
    assert_eq!(
        set.heads_of(&applied),
        vec!["2024_1_expand01", "ocata_contract01"]
    );
    // Previous release fully synced, then the new expand: two rows.
    let mut prev = set.closure("2023_1_contract01");
    prev.extend(set.closure("2024_1_expand01"));
    assert_eq!(
        set.heads_of(&prev),
        vec!["2024_1_expand01", "2023_1_contract01"]
    );
    // Fully synced: the contract head alone (it depends on the expand head).
    let all = set.closure("2024_1_contract01");
    assert_eq!(all.len(), 29);
    assert_eq!(set.heads_of(&all), vec!["2024_1_contract01"]);
    // Reading the rows back gives the same applied set.
    assert_eq!(
        set.applied_from_heads(["2024_1_expand01", "2023_1_contract01"]),
        prev
    );
}

fn rev(name: &str, parents: &[&str], depends: &[&str]) -> (String, String) {
    let list = |v: &[&str]| {
        format!(
            "[{}]",
            v.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut text = format!(
        "[revision]\nname = \"{name}\"\nparents = {}\n",
        list(parents)
    );
    if !depends.is_empty() {
        text.push_str(&format!("depends_on = {}\n", list(depends)));
    }
    text.push_str("\n[tables.t]\ncolumns = [ { name = \"id\", type = \"integer\" } ]\n");
    (format!("revs/{name}.toml"), text)
}

fn graph_error(files: Vec<(String, String)>) -> String {
    match RevisionSet::from_sources("test", files) {
        Ok(_) => panic!("expected an error"),
        Err(e) => common::render_diagnostic(&e),
    }
}

#[test]
fn rejects_a_cycle_and_names_it() {
    let msg = graph_error(vec![
        rev("a", &[], &[]),
        rev("b", &["a", "c"], &[]),
        rev("c", &["b"], &[]),
    ]);
    assert!(msg.contains("revision cycle: b -> c -> b"), "{msg}");
}

#[test]
fn rejects_an_unknown_parent_with_suggestions() {
    let msg = graph_error(vec![rev("base", &[], &[]), rev("next", &["bsae"], &[])]);
    assert!(
        msg.contains("revision `next` names unknown parent `bsae`"),
        "{msg}"
    );
    assert!(msg.contains("nearest known revisions: `base`"), "{msg}");
    assert!(msg.contains("revs/next.toml"), "{msg}");
}

#[test]
fn rejects_an_unknown_dependency() {
    let msg = graph_error(vec![
        rev("base", &[], &[]),
        rev("next", &["base"], &["ghost"]),
    ]);
    assert!(msg.contains("names unknown dependency `ghost`"), "{msg}");
}

#[test]
fn rejects_two_files_claiming_one_revision() {
    let (_, text) = rev("a", &[], &[]);
    let msg = graph_error(vec![
        ("x/a.toml".into(), text.clone()),
        ("y/a.toml".into(), text),
    ]);
    assert!(
        msg.contains("revision `a` is declared twice: by x/a.toml and by y/a.toml"),
        "{msg}"
    );
}

#[test]
fn rejects_a_file_whose_name_disagrees_with_its_revision() {
    let (_, text) = rev("a", &[], &[]);
    let msg = graph_error(vec![("revs/b.toml".into(), text)]);
    assert!(msg.contains("file `b.toml` declares revision `a`"), "{msg}");
}

#[test]
fn rejects_a_revision_unreachable_from_the_root() {
    let msg = graph_error(vec![
        rev("a", &[], &[]),
        rev("b", &["a"], &[]),
        rev("island", &[], &[]),
    ]);
    assert!(
        msg.contains("revisions `a`, `island` have no parents"),
        "{msg}"
    );
    assert!(msg.contains("unreachable from the root"), "{msg}");
}

#[test]
fn rejects_a_self_parent() {
    let msg = graph_error(vec![rev("a", &["a"], &[])]);
    assert!(
        msg.contains("revision `a` cannot depend on itself"),
        "{msg}"
    );
}

#[test]
fn reports_every_broken_file_at_once() {
    let files = vec![
        (
            "r/a.toml".to_string(),
            "[revision]\nname = \"a\"\nparents = []\n[tables.t]\ncolumns = 3\n".to_string(),
        ),
        ("r/b.toml".to_string(), "[revision\n".to_string()),
    ];
    match RevisionSet::from_sources("test", files) {
        Err(RevisionError::Files(errs)) => {
            assert_eq!(errs.len(), 2);
            assert!(errs[0].path.ends_with("a.toml"));
            assert!(errs[1].path.ends_with("b.toml"));
        }
        other => panic!("expected file errors, got {other:?}"),
    }
}

#[test]
fn an_empty_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = RevisionSet::from_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("no revisions found"), "{err}");
}
