//! `revision new` (the basics; tests/authoring.rs walks the loop), `db history`, and the help behaviour of a bare `glance-manage` / `glance-manage db`.

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
fn revision_new_writes_an_expand_revision_for_an_additive_change() {
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
    assert_eq!(
        r.stdout,
        "Created revisions/add_soft_delete_expand01.toml (expand; parent base)\n    \
         add column accounts.deleted_at datetime\n    \
         add index ix_accounts_deleted_at on accounts (deleted_at)\n",
        "{r:?}"
    );
    let path = p.join("revisions/add_soft_delete_expand01.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("parents = [\"base\"]"), "{text}");
    assert!(text.contains("branch = \"expand\""), "{text}");
    assert!(text.contains("description = \"soft delete accounts\""));
    assert!(text.contains("built_on = { base = \"sha256:"), "{text}");
    // Additive only: no contract revision.
    assert!(!p.join("revisions/add_soft_delete_contract01.toml").exists());

    let h = gm_raw(&["--revisions", "revisions", "db", "history"], Some(p));
    assert_eq!(h.code, 0, "{h:?}");
    assert!(h.stdout.contains("add_soft_delete_expand01 [expand] <- base (head)\n    add column accounts.deleted_at datetime\n"), "{}", h.stdout);

    // schema/ now equals the heads: nothing more to write, nothing overwritten.
    let again = gm_raw(&["revision", "new", "add_soft_delete"], Some(p));
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("nothing to write"), "{again:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

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
    assert!(!p.join("revisions/third_expand01.toml").exists());
}

#[test]
fn revision_new_without_a_working_schema_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("revisions")).unwrap();
    std::fs::write(p.join("revisions/base.toml"), BASE).unwrap();
    let r = gm_raw(&["revision", "new", "x", "--branch", "expand"], Some(p));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("there is no working schema: schema/ does not exist"),
        "{r:?}"
    );
    assert!(r.stderr.contains("glance-manage revision init"), "{r:?}");
    let init = gm_raw(&["revision", "init"], Some(p));
    assert_eq!(init.code, 0, "{init:?}");
    let text = std::fs::read_to_string(p.join("schema/accounts.toml")).unwrap();
    assert!(text.contains("[tables.accounts]"), "{text}");
    let check = gm_raw(&["revision", "check"], Some(p));
    assert_eq!(check.code, 0, "{check:?}");
    assert!(check.stdout.contains("schema/ matches them"), "{check:?}");
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
