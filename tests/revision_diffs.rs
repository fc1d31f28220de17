//! Snapshot-to-snapshot diffs match what Glance's revision scripts do.

use std::collections::BTreeSet;

use glance_manage::diff::{Change, diff};
use glance_manage::revisions::RevisionSet;
use glance_manage::schema::model::Dialect;

/// The change revision `name` makes against the schema of its ancestors, on `dialect`.
fn changes_of(set: &RevisionSet, name: &str, dialect: Dialect) -> Vec<Change> {
    let before = set.expected_schema(&set.ancestors(name), dialect);
    let after = set.get(name).unwrap().schema.resolve(dialect);
    diff(&before, &after).changes
}

fn summaries(set: &RevisionSet, name: &str) -> Vec<String> {
    set.change_summary(&set.ancestors(name), name)
}

#[test]
fn rocky_expand01_adds_os_hidden_and_its_index() {
    let set = RevisionSet::builtin().unwrap();
    for d in Dialect::ALL {
        let ch = changes_of(&set, "rocky_expand01", d);
        assert_eq!(ch.len(), 2, "{d}: {ch:?}");
        assert!(
            matches!(&ch[0], Change::AddColumn { table, column } if table == "images" && column.name == "os_hidden" && !column.nullable)
        );
        assert!(
            matches!(&ch[1], Change::AddIndex { table, index } if table == "images" && index.name == "os_hidden_image_idx")
        );
    }
}

#[test]
fn pike_contract01_drops_the_six_artifact_tables() {
    let set = RevisionSet::builtin().unwrap();
    let ch = changes_of(&set, "pike_contract01", Dialect::Postgres);
    let dropped: BTreeSet<String> = ch
        .iter()
        .filter_map(|c| {
            if let Change::DropTable(t) = c {
                Some(t.name.clone())
            } else {
                None
            }
        })
        .collect();
    let expected: BTreeSet<String> = [
        "artifacts",
        "artifact_blobs",
        "artifact_dependencies",
        "artifact_properties",
        "artifact_tags",
        "artifact_blob_locations",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(dropped, expected);
    assert_eq!(ch.len(), 6);
}

#[test]
fn empty_revisions_diff_to_nothing() {
    let set = RevisionSet::builtin().unwrap();
    for name in [
        "mitaka02",
        "pike_expand01",
        "queens_expand01",
        "train_expand01",
        "ussuri_expand01",
        "xena_expand01",
        "yoga_expand01",
        "zed_expand01",
        "2023_1_expand01",
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
    ] {
        for d in Dialect::ALL {
            assert_eq!(changes_of(&set, name, d), vec![], "{name} on {d}");
        }
    }
}

#[test]
fn mitaka01_adds_two_indexes() {
    let set = RevisionSet::builtin().unwrap();
    assert_eq!(
        summaries(&set, "mitaka01"),
        vec![
            "add index created_at_image_idx on images (created_at)",
            "add index updated_at_image_idx on images (updated_at)"
        ]
    );
}

#[test]
fn ocata_expand01_adds_visibility_and_relaxes_is_public() {
    let set = RevisionSet::builtin().unwrap();
    let pg = changes_of(&set, "ocata_expand01", Dialect::Postgres);
    assert!(
        pg.iter()
            .any(|c| matches!(c, Change::CreateEnum(e) if e.name == "image_visibility")),
        "{pg:?}"
    );
    assert!(pg.iter().any(|c| matches!(c, Change::AddColumn { column, .. } if column.name == "visibility" && column.nullable)));
    assert!(pg.iter().any(
        |c| matches!(c, Change::AlterColumn { to, .. } if to.name == "is_public" && to.nullable)
    ));
    assert!(pg.iter().any(
        |c| matches!(c, Change::AddIndex { index, .. } if index.name == "visibility_image_idx")
    ));
    // On SQLite the batch rebuild also drops the unnamed CHECKs of `images`.
    let sqlite = changes_of(&set, "ocata_expand01", Dialect::Sqlite);
    assert_eq!(
        sqlite
            .iter()
            .filter(|c| matches!(c, Change::DropCheck { .. }))
            .count(),
        3,
        "{sqlite:?}"
    );
    // MySQL keeps them.
    let my = changes_of(&set, "ocata_expand01", Dialect::Mysql);
    assert!(!my.iter().any(|c| matches!(c, Change::DropCheck { .. })));
    // Glance's two triggers, on MySQL only.
    let added = |changes: &[Change]| -> Vec<String> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::AddTrigger(t) => Some(format!("{} {} {}", t.name, t.timing, t.event)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        added(&my),
        [
            "insert_visibility before insert",
            "update_visibility before update"
        ]
    );
    assert!(added(&pg).is_empty() && added(&sqlite).is_empty());
}

#[test]
fn ocata_contract01_drops_is_public_and_tightens_visibility() {
    let set = RevisionSet::builtin().unwrap();
    let my = changes_of(&set, "ocata_contract01", Dialect::Mysql);
    assert!(
        my.iter()
            .any(|c| matches!(c, Change::DropColumn { column, .. } if column.name == "is_public")),
        "{my:?}"
    );
    assert!(my.iter().any(
        |c| matches!(c, Change::DropIndex { index, .. } if index.name == "ix_images_is_public")
    ));
    assert!(my.iter().any(
        |c| matches!(c, Change::AlterColumn { to, .. } if to.name == "visibility" && !to.nullable)
    ));
    assert!(my.iter().any(
        |c| matches!(c, Change::DropCheck { check, .. } if check.expr.starts_with("is_public"))
    ));
    let dropped: Vec<&str> = my
        .iter()
        .filter_map(|c| match c {
            Change::DropTrigger(t) => Some(t.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(dropped, ["insert_visibility", "update_visibility"]);
    let pg = changes_of(&set, "ocata_contract01", Dialect::Postgres);
    assert!(!pg.iter().any(|c| matches!(c, Change::DropTrigger(_))));
}

#[test]
fn wallaby_and_2024_1_expand() {
    let set = RevisionSet::builtin().unwrap();
    let w = summaries(&set, "wallaby_expand01");
    assert_eq!(w.len(), 4, "{w:?}");
    assert!(
        w.iter()
            .any(|s| s == "add index ix_tasks_image_id on tasks (image_id)")
    );
    let c = summaries(&set, "2024_1_expand01");
    assert_eq!(
        c,
        vec!["create table node_reference", "create table cached_images"]
    );
}

#[test]
fn two_head_state_folds_both_branches() {
    let set = RevisionSet::builtin().unwrap();
    // A 2023.1 database that ran the 2024.1 expand: has the cache tables and no is_public.
    let mut applied = set.closure("2023_1_contract01");
    applied.extend(set.closure("2024_1_expand01"));
    let s = set.expected_schema(&applied, Dialect::Mysql);
    assert!(s.tables.contains_key("cached_images"));
    assert!(!s.tables["images"].has_column("is_public"));
    assert!(!s.tables.contains_key("artifacts"));
    // It equals the head schema: 2024_1_contract01 changes nothing.
    assert_eq!(
        s,
        set.get("2024_1_contract01")
            .unwrap()
            .schema
            .resolve(Dialect::Mysql)
    );
}

#[test]
fn snapshots_are_in_canonical_form() {
    // Writing a parsed snapshot back gives the same text: the files are what the tool writes.
    let set = RevisionSet::builtin().unwrap();
    for name in set.walk_order() {
        let s = set.get(name).unwrap();
        let written =
            glance_manage::snapshot::snapshot_to_toml(&s.meta, &s.data_migrations, &s.schema);
        if written != s.source.text {
            let d = similar::TextDiff::from_lines(&s.source.text, &written)
                .unified_diff()
                .context_radius(1)
                .to_string();
            panic!("{name} is not in canonical form:\n{d}");
        }
    }
}
