//! The authoring loop (docs/authoring.md): edit `schema/` → `revision new` → the expand and
//! contract revisions → `db check` 3 → `db expand` → `db migrate` → `db contract` → no drift,
//! on every backend, with a copy of Glance's own history; a destructive change forced into
//! expand; `revision merge` with and without conflicts; `revision check` failing on what it
//! guards against; the example project under `examples/inventory`.

mod common;

use std::path::{Path, PathBuf};

use common::{Gm, Run, TestDb};
use glance_manage::schema::model::Dialect;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// A project directory holding a copy of `revisions/` and `schema/` from `src`.
fn project(src: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&src.join("revisions"), &dir.path().join("revisions"));
    copy_dir(&src.join("schema"), &dir.path().join("schema"));
    dir
}

/// `glance-manage ARGS` run in `dir`.
fn gm_in(dir: &Path, args: &[&str]) -> Run {
    Gm::new().dir(dir).args(args).run()
}

/// `glance-manage --revisions revisions --database-url URL ARGS` run in `dir`.
fn db_in(dir: &Path, url: &str, args: &[&str]) -> Run {
    Gm::new()
        .dir(dir)
        .args(["--revisions", "revisions"])
        .url(url)
        .args(args)
        .run()
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// The working-schema edit of the loop: a nullable column (expand), `owner` made NOT NULL
/// (contract, with a skeleton), `min_ram` renamed (add, copy, drop) and `container_format`
/// dropped (contract).
fn edit_images(p: &Path) {
    let images = p.join("schema/images.toml");
    edit(
        &images,
        r#"  { name = "container_format", type = "string(20)" },
"#,
        "",
    );
    edit(
        &images,
        r#"{ name = "owner", type = "string(255)" }"#,
        r#"{ name = "owner", type = "string(255)", nullable = false }"#,
    );
    edit(
        &images,
        r#"{ name = "min_ram", type = "integer", nullable = false }"#,
        r#"{ name = "min_memory", type = "integer", nullable = false, renamed_from = "min_ram" }"#,
    );
    edit(
        &images,
        r#"  { name = "os_hash_value", type = "string(128)" },
"#,
        r#"  { name = "os_hash_value", type = "string(128)" },
  { name = "os_label", type = "string(64)" },
"#,
    );
}

const IMAGE_ROW: &str = "INSERT INTO images (id, status, created_at, deleted, min_disk, min_ram, \
     protected, visibility, os_hidden, owner) VALUES \
     ('i1', 'active', '2024-01-01 00:00:00', FALSE, 0, 512, FALSE, 'public', FALSE, NULL), \
     ('i2', 'active', '2024-01-01 00:00:00', FALSE, 0, 1024, FALSE, 'public', FALSE, 'bob')";

async fn authoring_loop(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let dir = project(&root());
    let p = dir.path();
    edit_images(p);

    let r = gm_in(p, &["revision", "new", "2025_1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "Created revisions/2025_1_expand01.toml (expand; parent 2024_1_expand01)
    add column images.min_memory integer
    add column images.os_label string(64)
    data migration 2025_1_migrate01_copy_images_min_ram_to_min_memory (migrate)
    data migration 2025_1_migrate01_images_owner_not_null (migrate): TODO, write its SQL
Created revisions/2025_1_contract01.toml (contract; parent 2024_1_contract01; depends on 2025_1_expand01)
    alter column images.owner: not null
    alter column images.min_memory: not null
    drop column images.container_format
    drop column images.min_ram

Every data migration marked TODO needs its SQL: no command runs this history until
its `todo` line is gone (`glance-manage revision check` lists what is left).
"
    );
    let expand = p.join("revisions/2025_1_expand01.toml");
    let contract = p.join("revisions/2025_1_contract01.toml");
    let e = read(&expand);
    let c = read(&contract);
    assert!(e.contains("branch = \"expand\""), "{e}");
    // The renamed column is added nullable; the copy is a complete data migration.
    assert!(
        e.contains(r#"{ name = "min_memory", type = "integer" }"#),
        "{e}"
    );
    assert!(e.contains(r#"{ name = "min_ram", type = "integer", nullable = false }"#));
    assert!(e.contains(
        "UPDATE images SET min_memory = min_ram WHERE min_memory IS NULL AND min_ram IS NOT NULL"
    ));
    assert!(e.contains("pending = \"SELECT COUNT(*) FROM images WHERE owner IS NULL\""));
    assert!(e.contains("todo = \"decide what images.owner holds"), "{e}");
    assert!(c.contains("depends_on = [\"2025_1_expand01\"]"), "{c}");
    assert!(c.contains("branch = \"contract\""), "{c}");
    assert!(c.contains(r#"{ name = "owner", type = "string(255)", nullable = false }"#));
    assert!(
        !c.contains("container_format") && !c.contains("\"min_ram\""),
        "{c}"
    );

    // The skeleton is refused by every command until it is written.
    let url = db.url.as_str();
    let refused = db_in(p, url, &["db", "check"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("is not written yet"), "{refused:?}");
    assert!(
        refused.stderr.contains("2025_1_expand01.toml:"),
        "{refused:?}"
    );
    let text = read(&expand);
    let todo_line = text
        .lines()
        .find(|l| l.starts_with("todo = "))
        .unwrap()
        .to_string();
    std::fs::write(
        &expand,
        text.replace(&format!("{todo_line}\n"), "")
            .replace("<fill in>", "'admin'"),
    )
    .unwrap();
    let check = gm_in(p, &["revision", "check"]);
    assert_eq!(check.code, 0, "{check:?}");

    // A database at Glance's head, with an image without owner.
    let sync = Gm::new().url(url).args(["db", "sync"]).run();
    assert_eq!(sync.code, 0, "{sync:?}");
    db.exec(IMAGE_ROW).await;

    let step = |args: &[&str], code: i32| {
        let r = db_in(p, url, args);
        assert_eq!(r.code, code, "{args:?}: {r:?}");
        r
    };
    let r = step(&["db", "check"], 3);
    assert!(r.stdout.contains("run `glance-manage db expand`"), "{r:?}");
    let r = step(&["db", "expand"], 0);
    assert_eq!(
        r.stdout,
        "Upgraded database to: 2025_1_expand01, current revision(s): 2025_1_expand01, 2024_1_contract01\n"
    );
    step(&["db", "check"], 4);
    let r = step(&["db", "migrate"], 0);
    assert_eq!(r.stdout, "Migrated 3 rows\n");
    step(&["db", "check"], 5);
    let r = step(&["db", "contract"], 0);
    assert_eq!(
        r.stdout,
        "Upgraded database to: 2025_1_contract01, current revision(s): 2025_1_contract01\n"
    );
    let r = step(&["db", "drift"], 0);
    assert_eq!(
        r.stdout,
        "No drift: the live schema matches revision(s) 2025_1_contract01.\n"
    );
    step(&["db", "check"], 0);
    let rows = db
        .rows("SELECT id, owner, min_memory FROM images ORDER BY id")
        .await;
    assert_eq!(
        rows,
        vec![vec!["i1", "admin", "512"], vec!["i2", "bob", "1024"]]
    );
}

per_dialect!(authoring_loop);

/// An additive change makes an expand revision alone; the default target (every head) takes
/// it, though the contract head is already applied.
async fn a_lone_expand_head_is_never_left_behind(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let dir = project(&root());
    let p = dir.path();
    edit(
        &p.join("schema/images.toml"),
        r#"  { name = "os_hash_value", type = "string(128)" },
"#,
        r#"  { name = "os_hash_value", type = "string(128)" },
  { name = "os_label", type = "string(64)" },
"#,
    );
    let r = gm_in(p, &["revision", "new", "2025_1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        !p.join("revisions/2025_1_contract01.toml").exists(),
        "{r:?}"
    );
    let url = db.url.as_str();
    assert_eq!(Gm::new().url(url).args(["db", "sync"]).run().code, 0);
    let r = db_in(p, url, &["db", "check"]);
    assert_eq!(r.code, 3, "{r:?}");
    let r = db_in(p, url, &["db", "plan"]);
    assert!(r.stdout.contains("add column images.os_label"), "{r:?}");
    let r = db_in(p, url, &["db", "sync"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "Upgraded database to: 2025_1_expand01, current revision(s): 2025_1_expand01, 2024_1_contract01
Database migration is up to date. No migration needed.
Upgraded database to: 2024_1_contract01, current revision(s): 2025_1_expand01, 2024_1_contract01
Database is synced successfully.
"
    );
    assert_eq!(db_in(p, url, &["db", "check"]).code, 0);
    assert_eq!(db_in(p, url, &["db", "drift"]).code, 0);
    let again = db_in(p, url, &["db", "sync"]);
    assert_eq!(
        again.stdout,
        "Database is up to date. No migrations needed.\n"
    );
}

per_dialect!(a_lone_expand_head_is_never_left_behind);

#[test]
fn a_destructive_change_forced_into_expand_is_refused() {
    let dir = project(&root());
    let p = dir.path();
    edit_images(p);
    let before: Vec<_> = std::fs::read_dir(p.join("revisions")).unwrap().collect();
    let r = gm_in(p, &["revision", "new", "2025_1", "--branch", "expand"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(
            "--branch expand: 4 change(s) belong to a contract revision; nothing was written"
        ),
        "{r:?}"
    );
    // A tightened column points at its line in schema/; a dropped one at the revision that
    // declares it.
    assert!(
        r.stderr
            .contains("`alter column images.owner: not null` cannot go into an expand revision"),
        "{r:?}"
    );
    assert!(r.stderr.contains("[schema/images.toml:16:3]"), "{r:?}");
    assert!(r.stderr.contains("`drop column images.container_format` cannot go into an expand revision: it removes what running code may still use"), "{r:?}");
    assert!(
        r.stderr.contains("[revisions/2024_1_contract01.toml:"),
        "{r:?}"
    );
    let after: Vec<_> = std::fs::read_dir(p.join("revisions")).unwrap().collect();
    assert_eq!(before.len(), after.len(), "nothing is written");
}

/// A root with two tables; `capacity` and `region` are added on two lines of work.
const INITIAL_ITEMS: &str = r#"[tables.items]
primary_key = ["id"]
columns = [
  { name = "id", type = "integer", nullable = false, autoincrement = true },
  { name = "name", type = "string(40)", nullable = false },
]
"#;

/// The initial `items` with one more column.
fn with_column(column: &str) -> String {
    INITIAL_ITEMS.replace("\n]\n", &format!("\n  {column},\n]\n"))
}

fn two_lines(items_a: &str, items_b: &str) -> (tempfile::TempDir, tempfile::TempDir) {
    let a = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(a.path().join("schema")).unwrap();
    std::fs::write(a.path().join("schema/items.toml"), INITIAL_ITEMS).unwrap();
    assert_eq!(gm_in(a.path(), &["revision", "new", "initial"]).code, 0);
    let b = tempfile::tempdir().unwrap();
    copy_dir(&a.path().join("revisions"), &b.path().join("revisions"));
    copy_dir(&a.path().join("schema"), &b.path().join("schema"));
    std::fs::write(a.path().join("schema/items.toml"), items_a).unwrap();
    let r = gm_in(a.path(), &["revision", "new", "2025_1"]);
    assert_eq!(r.code, 0, "{r:?}");
    std::fs::write(b.path().join("schema/items.toml"), items_b).unwrap();
    let r = gm_in(b.path(), &["revision", "new", "2025_1_expand02"]);
    assert_eq!(r.code, 0, "{r:?}");
    // Line B's revision arrives next to line A's (a version-control merge).
    std::fs::copy(
        b.path().join("revisions/2025_1_expand02.toml"),
        a.path().join("revisions/2025_1_expand02.toml"),
    )
    .unwrap();
    (a, b)
}

#[test]
fn merge_combines_two_lines_of_work() {
    let (a, _b) = two_lines(
        &with_column(r#"{ name = "region", type = "string(32)" }"#),
        &with_column(r#"{ name = "capacity", type = "integer", nullable = false, default = 0 }"#),
    );
    let p = a.path();
    // schema/ as the version-control merge left it: both columns.
    std::fs::write(
        p.join("schema/items.toml"),
        with_column(
            r#"{ name = "region", type = "string(32)" },
  { name = "capacity", type = "integer", nullable = false, default = 0 }"#,
        ),
    )
    .unwrap();
    let fork = gm_in(p, &["revision", "check"]);
    assert_eq!(fork.code, 1, "{fork:?}");
    assert!(
        fork.stderr
            .contains("unmerged fork on the expand branch: heads 2025_1_expand01, 2025_1_expand02"),
        "{fork:?}"
    );
    let r = gm_in(
        p,
        &["revision", "merge", "2025_1_expand01", "2025_1_expand02"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "Created revisions/2025_1_expand03.toml (expand; parents 2025_1_expand01, 2025_1_expand02)\n    no schema change\n"
    );
    let m = read(&p.join("revisions/2025_1_expand03.toml"));
    assert!(
        m.contains("parents = [\"2025_1_expand01\", \"2025_1_expand02\"]"),
        "{m}"
    );
    assert!(
        m.contains("\"region\"") && m.contains("\"capacity\""),
        "{m}"
    );
    let check = gm_in(p, &["revision", "check"]);
    assert_eq!(check.code, 0, "{check:?}");
    // And a database reaches it.
    let url = format!("sqlite:///{}/m.sqlite", p.display());
    let r = db_in(p, &url, &["db", "sync"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(db_in(p, &url, &["db", "drift"]).code, 0);
}

#[test]
fn merge_conflicts_are_refused_until_schema_resolves_them() {
    let (a, _b) = two_lines(
        &INITIAL_ITEMS.replace("string(40)", "string(64)"),
        &INITIAL_ITEMS.replace("string(40)", "string(50)"),
    );
    let p = a.path();
    // schema/ takes neither side yet.
    std::fs::write(
        p.join("schema/items.toml"),
        INITIAL_ITEMS.replace("string(40)", "string(80)"),
    )
    .unwrap();
    let r = gm_in(
        p,
        &["revision", "merge", "2025_1_expand01", "2025_1_expand02"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(
            "revision merge 2025_1_expand01 2025_1_expand02: 1 conflict(s); nothing was written"
        ),
        "{r:?}"
    );
    assert!(r.stderr.contains("`tables.items.columns.name` changed two ways: `2025_1_expand01` has string(64) not null, `2025_1_expand02` has string(50) not null (revisions/2025_1_expand02.toml:"), "{r:?}");
    assert!(
        r.stderr.contains("[revisions/2025_1_expand01.toml:"),
        "{r:?}"
    );
    assert!(!p.join("revisions/2025_1_expand03.toml").exists());
    // Settled in schema/ on one side's version: the merge is written with it.
    std::fs::write(
        p.join("schema/items.toml"),
        INITIAL_ITEMS.replace("string(40)", "string(64)"),
    )
    .unwrap();
    let r = gm_in(
        p,
        &["revision", "merge", "2025_1_expand01", "2025_1_expand02"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let m = read(&p.join("revisions/2025_1_expand03.toml"));
    assert!(
        m.contains(r#"{ name = "name", type = "string(64)", nullable = false }"#),
        "{m}"
    );
    let check = gm_in(p, &["revision", "check"]);
    assert_eq!(check.code, 0, "{check:?}");
}

#[test]
fn revision_check_fails_on_an_unrevised_schema_edit() {
    let dir = project(&root());
    let p = dir.path();
    assert_eq!(gm_in(p, &["revision", "check"]).code, 0);
    edit(
        &p.join("schema/images.toml"),
        r#"  { name = "os_hash_value", type = "string(128)" },
"#,
        r#"  { name = "os_hash_value", type = "string(128)" },
  { name = "os_label", type = "string(64)" },
"#,
    );
    let r = gm_in(p, &["revision", "check"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.starts_with("schema/ differs from the heads of revisions/ (a schema edit without a revision?):\n  - add column images.os_label string(64)\n"), "{r:?}");
    assert!(
        r.stdout.contains("--- heads of revisions/\n+++ schema/\n"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("\n+  { name = \"os_label\", type = \"string(64)\" },\n"),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("revision check failed: 1 problem(s)"),
        "{r:?}"
    );
}

#[test]
fn revision_check_fails_on_a_revision_edited_after_others_were_built_on_it() {
    let dir = project(&root());
    let p = dir.path();
    // Comments and layout do not count ...
    edit(
        &p.join("revisions/2023_1_expand01.toml"),
        "[revision]\n",
        "[revision]\n# reviewed\n",
    );
    assert_eq!(gm_in(p, &["revision", "check"]).code, 0);
    // ... a schema edit does.
    edit(
        &p.join("revisions/2023_1_expand01.toml"),
        r#"{ name = "os_hash_value", type = "string(128)" }"#,
        r#"{ name = "os_hash_value", type = "string(256)" }"#,
    );
    let r = gm_in(p, &["revision", "check"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(
            "revisions/2023_1_expand01.toml was edited after `2024_1_expand01` was built on it"
        ),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("[revisions/2024_1_expand01.toml:"),
        "{r:?}"
    );
    // A meant edit (nothing applied it yet) is recorded by rehash.
    let rehash = gm_in(p, &["revision", "rehash"]);
    assert_eq!(rehash.code, 0, "{rehash:?}");
    assert_eq!(
        rehash.stdout,
        "Recorded in revisions/2023_1_contract01.toml: 2023_1_expand01\n\
         Recorded in revisions/2024_1_expand01.toml: 2023_1_expand01\n"
    );
    assert_eq!(gm_in(p, &["revision", "check"]).code, 0);
}

// ---------------------------------------------------------------------------------------------
// examples/inventory: another project's history, used with --revisions.

fn example() -> PathBuf {
    root().join("examples/inventory")
}

#[test]
fn example_project_passes_revision_check() {
    let r = gm_in(&example(), &["revision", "check"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "Revision check passed: 5 revisions, heads 2025_1_expand03, 2025_1_contract01; schema/ matches them.\n"
    );
    let h = gm_in(&example(), &["--revisions", "revisions", "db", "history"]);
    assert!(
        h.stdout
            .contains("2025_1_expand03 [expand] <- 2025_1_expand01, 2025_1_expand02 (head)"),
        "{h:?}"
    );
}

async fn example_project_rolls_forward(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let p = example();
    let url = db.url.as_str();
    let r = db_in(&p, url, &["db", "sync", "initial"]);
    assert_eq!(r.code, 0, "{r:?}");
    db.exec("INSERT INTO warehouses (name, created_at) VALUES ('north', '2024-01-01 00:00:00')")
        .await;
    db.exec(
        "INSERT INTO items (warehouse_id, name, legacy_code) VALUES (1, 'bolt', 'B-1'), (1, 'nut', NULL)",
    )
    .await;
    for (args, code) in [
        (&["db", "check"][..], 3),
        (&["db", "expand"], 0),
        (&["db", "check"], 4),
        (&["db", "migrate"], 0),
        (&["db", "check"], 5),
        (&["db", "contract"], 0),
        (&["db", "check"], 0),
        (&["db", "drift"], 0),
    ] {
        let r = db_in(&p, url, args);
        assert_eq!(r.code, code, "{args:?}: {r:?}");
    }
    let rows = db.rows("SELECT name, sku FROM items ORDER BY id").await;
    assert_eq!(rows, vec![vec!["bolt", "B-1"], vec!["nut", "unknown"]]);
    // A fresh database goes straight to the heads.
    let Some(fresh) = TestDb::create(dialect).await else {
        return;
    };
    let r = db_in(&p, &fresh.url, &["db", "sync"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(db_in(&p, &fresh.url, &["db", "drift"]).code, 0);
    let v = db_in(&p, &fresh.url, &["db", "version"]);
    let mut rows: Vec<&str> = v.stdout.lines().collect();
    rows.sort();
    assert_eq!(rows, ["2025_1_contract01", "2025_1_expand03"]);
}

per_dialect!(example_project_rolls_forward);

/// `--branch contract` alone: a rename is a real rename (a contract revision's data steps run
/// before its DDL, so add-copy-drop cannot be done in it), and rows keep their values.
#[tokio::test]
async fn a_contract_revision_alone_renames_in_place() {
    let db = TestDb::create(Dialect::Sqlite).await.expect("SQLite");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("schema")).unwrap();
    std::fs::write(p.join("schema/items.toml"), INITIAL_ITEMS).unwrap();
    assert_eq!(gm_in(p, &["revision", "new", "initial"]).code, 0);
    let url = db.url.as_str();
    assert_eq!(db_in(p, url, &["db", "sync"]).code, 0);
    db.exec("INSERT INTO items (name) VALUES ('bolt')").await;
    edit(
        &p.join("schema/items.toml"),
        r#"{ name = "name", type = "string(40)", nullable = false }"#,
        r#"{ name = "title", type = "string(40)", nullable = false, renamed_from = "name" }"#,
    );
    let r = gm_in(p, &["revision", "new", "2025_1", "--branch", "contract"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "Created revisions/2025_1_contract01.toml (contract; parent initial)\n    rename column items.name to title\n"
    );
    assert!(!p.join("revisions/2025_1_expand01.toml").exists());
    let r = db_in(p, url, &["db", "sync"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(db_in(p, url, &["db", "drift"]).code, 0);
    assert_eq!(db.rows("SELECT title FROM items").await, vec![vec!["bolt"]]);
    assert_eq!(gm_in(p, &["revision", "check"]).code, 0);
}
