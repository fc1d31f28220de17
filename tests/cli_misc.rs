//! `revision new`, `db history`, and the help behaviour of a bare `glance-manage` / `glance-manage db`.

mod common;

use common::gm_raw;

#[test]
fn bare_invocations_print_glances_help_and_exit_2() {
    let r = gm_raw(&[], None);
    assert_eq!(r.code, 2);
    assert!(r.stdout.contains("category action [<args>]"), "{r:?}");
    assert!(r.stdout.contains("Available categories:\n\tdb"), "{r:?}");
    let r = gm_raw(&["db"], None);
    assert_eq!(r.code, 2);
    assert!(r.stdout.starts_with("Available actions for 'db':"), "{r:?}");
    assert!(
        r.stdout
            .contains("\tversion - Print database's current migration level"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("\tsync - Perform a complete (offline) database migration"),
        "{r:?}"
    );
    let r = gm_raw(&["db", "frobnicate"], None);
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn history_lists_all_revisions_with_changes() {
    let r = gm_raw(&["db", "history"], None);
    assert_eq!(r.code, 0, "{r:?}");
    let heads: Vec<&str> = r.stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(heads.len(), 29);
    assert_eq!(heads[0], "liberty (root)");
    assert!(r.stdout.contains("rocky_expand01 [expand] <- queens_expand01\n    add column images.os_hidden boolean\n    add index os_hidden_image_idx on images (os_hidden)\n"), "{}", r.stdout);
    assert!(r.stdout.contains(
        "2024_1_contract01 [contract] <- 2023_1_contract01; depends on 2024_1_expand01 (head)"
    ));

    let j = gm_raw(&["db", "history", "--format", "json"], None);
    assert_eq!(j.code, 0);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("valid JSON");
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 29);
    let pike = list
        .iter()
        .find(|e| e["name"] == "pike_contract01")
        .unwrap();
    assert_eq!(pike["branch"], "contract");
    assert_eq!(pike["depends_on"][0], "pike_expand01");
    assert_eq!(pike["changes"].as_array().unwrap().len(), 6);
    assert_eq!(list.iter().filter(|e| e["head"] == true).count(), 2);
}

const BASE: &str = r#"[revision]
name = "base"
parents = []

[tables.accounts]
primary_key = ["id"]
columns = [
  { name = "id", type = "integer", nullable = false, autoincrement = true },
  { name = "email", type = "string(255)", nullable = false },
]
"#;

const WORKING: &str = r#"[tables.accounts]
primary_key = ["id"]
columns = [
  { name = "id", type = "integer", nullable = false, autoincrement = true },
  { name = "email", type = "string(255)", nullable = false },
  { name = "deleted_at", type = "datetime" },
]
indexes = [
  { name = "ix_accounts_deleted_at", columns = ["deleted_at"] },
]
"#;

#[test]
fn revision_new_freezes_the_working_schema() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("revisions")).unwrap();
    std::fs::create_dir_all(p.join("schema")).unwrap();
    std::fs::write(p.join("revisions/base.toml"), BASE).unwrap();
    std::fs::write(p.join("schema/app.toml"), WORKING).unwrap();

    let r = gm_raw(
        &[
            "revision",
            "new",
            "add_soft_delete",
            "--description",
            "soft delete accounts",
        ],
        Some(p),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("Created revisions/add_soft_delete.toml (parents: base)"),
        "{r:?}"
    );
    let text = std::fs::read_to_string(p.join("revisions/add_soft_delete.toml")).unwrap();
    assert!(text.contains("parents = [\"base\"]"), "{text}");
    assert!(text.contains("description = \"soft delete accounts\""));

    let h = gm_raw(&["--revisions", "revisions", "db", "history"], Some(p));
    assert_eq!(h.code, 0, "{h:?}");
    assert!(h.stdout.contains("add_soft_delete <- base (head)\n    add column accounts.deleted_at datetime\n    add index ix_accounts_deleted_at on accounts (deleted_at)\n"), "{}", h.stdout);

    // The same name again is refused and nothing is overwritten.
    let again = gm_raw(&["revision", "new", "add_soft_delete"], Some(p));
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already exists"), "{again:?}");
    assert_eq!(
        std::fs::read_to_string(p.join("revisions/add_soft_delete.toml")).unwrap(),
        text
    );

    // A broken working schema is reported with its line and nothing is written.
    std::fs::write(
        p.join("schema/app.toml"),
        "[tables.accounts]\ncolumns = [ { name = \"id\", type = \"intger\" } ]\n",
    )
    .unwrap();
    let bad = gm_raw(&["revision", "new", "third"], Some(p));
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("unknown type `intger`"), "{bad:?}");
    assert!(bad.stderr.contains("schema/app.toml:2"), "{bad:?}");
    assert!(!p.join("revisions/third.toml").exists());
}

#[test]
fn revision_new_with_an_unknown_parent_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("revisions")).unwrap();
    std::fs::create_dir_all(p.join("schema")).unwrap();
    std::fs::write(p.join("revisions/base.toml"), BASE).unwrap();
    std::fs::write(p.join("schema/app.toml"), WORKING).unwrap();
    let r = gm_raw(&["revision", "new", "x", "--parent", "bsae"], Some(p));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("unknown parent `bsae`"), "{r:?}");
    assert!(!p.join("revisions/x.toml").exists());
}

#[test]
fn a_bad_version_creates_no_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["db", "upgrade", "nope"][..],
        &["db", "sync", "12"][..],
        &["db", "sync", "head", "bogus"][..],
    ] {
        let r = gm_raw(args, Some(dir.path()));
        assert_eq!(r.code, 1, "{args:?}: {r:?}");
        assert!(
            !dir.path().join("glance.sqlite").exists(),
            "{args:?} created the default database file"
        );
    }
}
