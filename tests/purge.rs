//! `db purge` on SQLite, PostgreSQL and MariaDB, row for row as Glance's rules say: exact
//! per-table counts on seeded Glance data, the `--max_rows` window in Glance's order, FK safety
//! (never an orphan, never an FK error), a non-Glance FK graph from a `--revisions` directory,
//! two purges at once, and a database error mid-purge. The seeded data is tests/common/purge.rs;
//! `purge_images_table` is tests/purge_images_table.rs, options and output tests/purge_cli.rs.

mod common;

use common::purge::{SEEDED, ago, assert_counts, deleted, ids, img, json, ok, run, synced, task};
use common::{Gm, TestDb};

for_each_backend!(everything_no_limit, |db: TestDb| async move {
    let db = synced(db).await;
    let rep = json(
        &db,
        &["db", "purge", "--age_in_days", "0", "--max_rows", "-1"],
    );
    let d = deleted(&rep);
    assert_eq!(d["image_properties"], 9);
    assert_eq!(d["task_info"], 4);
    assert_eq!(d["tasks"], 5);
    assert!(!d.contains_key("images"));
    assert_counts(&db, "purge 0 -1", [6, 2, 1, 1, 2, 1, 1]).await;
    // Positional form, Glance's `db purge 0 -1`: nothing left to do.
    let r = ok(&db, &["db", "purge", "0", "-1"]);
    assert!(r.stdout.contains("Deleted 0 row(s) from table tasks"));
    let r = run(&db.url, &["db", "purge_images_table", "0", "-1"]);
    assert_eq!(r.code, 1);
    let r = ok(
        &db,
        &[
            "db",
            "purge_images_table",
            "--age_in_days",
            "0",
            "--max_rows",
            "-1",
            "--skip-referenced",
            "--batch-size",
            "1",
        ],
    );
    assert!(
        r.stdout.contains("Deleted 4 row(s) from table images"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Kept 1 row(s) of table images"),
        "{}",
        r.stdout
    );
    assert_eq!(
        ids(&db, "SELECT id FROM images ORDER BY id").await,
        vec![img('e'), img('f')]
    );
});

for_each_backend!(max_rows_window, |db: TestDb| async move {
    let db = synced(db).await;
    let r = ok(
        &db,
        &["db", "purge", "--max_rows", "0", "--age_in_days", "0"],
    );
    assert!(r.stdout.contains("Deleted 0 row(s) from table tasks"));
    assert_counts(&db, "max_rows 0", SEEDED).await;

    // Two oldest rows per table, in Glance's order (deleted_at, then primary key), batches of 1.
    let rep = json(
        &db,
        &[
            "db",
            "purge",
            "--age_in_days",
            "0",
            "--max_rows",
            "2",
            "--batch-size",
            "1",
        ],
    );
    for (t, n) in deleted(&rep) {
        assert_eq!(n, 2, "{t}");
    }
    assert_counts(&db, "max_rows 2", [6, 9, 3, 3, 4, 4, 3]).await;
    // a's two properties (ids 1, 2; 400 days) go first, f's (id 11; 400 days − 1 h) stays.
    let props = ids(&db, "SELECT id FROM image_properties ORDER BY id").await;
    assert_eq!(props, ["3", "4", "5", "6", "7", "8", "9", "10", "11"]);
    // tasks: a and x (oldest); task_info: those of a and b (the two oldest tasks with info,
    // Glance's join); b keeps living without its info, and no info is orphaned.
    assert_eq!(
        ids(&db, "SELECT id FROM tasks ORDER BY id").await,
        vec![task('b'), task('c'), task('d'), task('l')]
    );
    assert_eq!(
        ids(&db, "SELECT task_id FROM task_info ORDER BY task_id").await,
        vec![task('c'), task('d'), task('l')]
    );
    // Next run: the next two oldest.
    ok(&db, &["db", "purge", "0", "2"]);
    assert_counts(&db, "max_rows 2 twice", [6, 7, 1, 1, 2, 2, 1]).await;
    assert_eq!(
        ids(&db, "SELECT id FROM tasks ORDER BY id").await,
        vec![task('d'), task('l')]
    );
});

for_each_backend!(two_purges_at_once, |db: TestDb| async move {
    let db = synced(db).await;
    let spawn = || {
        Gm::new()
            .url(&db.url)
            .args(["--format", "json"])
            .args([
                "db",
                "purge",
                "--age_in_days",
                "0",
                "--max_rows",
                "-1",
                "--batch-size",
                "1",
            ])
            .spawn()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut total = 0;
    for o in [&a, &b] {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let rep: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        total += rep["total_deleted"].as_u64().unwrap();
    }
    // Each row is counted by exactly one of the two runs.
    assert_eq!(total, 9 + 4 + 4 + 4 + 4 + 5);
    assert_counts(&db, "two concurrent purges", [6, 2, 1, 1, 2, 1, 1]).await;
});

// ---------------------------------------------------------------------------------------------
// A schema that is not Glance's: a ← b ← c (c has no deleted_at), and a self-referencing n.

const R1: &str = r#"
[revision]
name = "r1"
parents = []

[tables.a]
primary_key = ["id"]
columns = [
  { name = "id", type = "integer", nullable = false },
  { name = "deleted_at", type = "datetime" },
]

[tables.n]
primary_key = ["id"]
columns = [
  { name = "id", type = "integer", nullable = false },
  { name = "parent_id", type = "integer" },
  { name = "deleted_at", type = "datetime" },
]
foreign_keys = [
  { columns = ["parent_id"], ref_table = "n", ref_columns = ["id"] },
]
"#;

const R2: &str = r#"
[revision]
name = "r2"
parents = ["r1"]

[tables.a]
primary_key = ["id"]
columns = [
  { name = "id", type = "integer", nullable = false },
  { name = "deleted_at", type = "datetime" },
]

[tables.n]
primary_key = ["id"]
columns = [
  { name = "id", type = "integer", nullable = false },
  { name = "parent_id", type = "integer" },
  { name = "deleted_at", type = "datetime" },
]
foreign_keys = [
  { columns = ["parent_id"], ref_table = "n", ref_columns = ["id"] },
]

[tables.b]
primary_key = ["id"]
columns = [
  { name = "id", type = "integer", nullable = false },
  { name = "a_id", type = "integer", nullable = false },
  { name = "deleted_at", type = "datetime" },
]
foreign_keys = [
  { columns = ["a_id"], ref_table = "a", ref_columns = ["id"] },
]

[tables.c]
primary_key = ["id"]
columns = [
  { name = "id", type = "integer", nullable = false },
  { name = "b_id", type = "integer", nullable = false },
  { name = "note", type = "string(20)" },
]
foreign_keys = [
  { columns = ["b_id"], ref_table = "b", ref_columns = ["id"] },
]
"#;

for_each_backend!(computed_order_other_schema, |db: TestDb| async move {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r1.toml"), R1).unwrap();
    std::fs::write(dir.path().join("r2.toml"), R2).unwrap();
    let revs = dir.path().to_str().unwrap().to_string();
    let with = |args: &[&str]| {
        let mut v = vec!["--revisions", revs.as_str()];
        v.extend_from_slice(args);
        v.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let args = with(&["db", "sync"]);
    ok(&db, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let old = ago(100, 0);
    db.exec(&format!(
        "INSERT INTO a (id, deleted_at) VALUES (1, {old}), (2, {old}), (3, NULL);
         INSERT INTO b (id, a_id, deleted_at) VALUES (1, 1, {old}), (2, 2, NULL), (3, 3, NULL);
         INSERT INTO c (id, b_id, note) VALUES (1, 1, 'of b1'), (2, 2, 'of b2'), (3, 3, 'of b3');
         INSERT INTO n (id, parent_id, deleted_at) VALUES (1, NULL, {old});
         INSERT INTO n (id, parent_id, deleted_at) VALUES (2, 1, {old});
         INSERT INTO n (id, parent_id, deleted_at) VALUES (3, 2, {old});
         INSERT INTO n (id, parent_id, deleted_at) VALUES (4, NULL, NULL)"
    ))
    .await;
    let args = with(&["db", "purge", "--max_rows", "-1", "--batch-size", "1"]);
    let rep = json(&db, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let steps: Vec<&str> = rep["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["table"].as_str().unwrap())
        .collect();
    let pos = |t: &str| steps.iter().position(|s| *s == t).unwrap();
    assert!(pos("c") < pos("b") && pos("b") < pos("a"), "{steps:?}");
    let d = deleted(&rep);
    assert_eq!((d["c"], d["b"], d["a"], d["n"]), (1, 1, 1, 3), "{rep}");
    // a2 is still referenced by the live b2: kept and reported.
    let a = rep["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "a")
        .unwrap();
    assert_eq!(a["skipped"], 1);
    let sorted = |t: &str| {
        let t = t.to_string();
        let db = &db;
        async move { ids(db, &format!("SELECT id FROM {t} ORDER BY id")).await }
    };
    assert_eq!(sorted("a").await, ["2", "3"]);
    assert_eq!(sorted("b").await, ["2", "3"]);
    assert_eq!(sorted("c").await, ["2", "3"]);
    assert_eq!(sorted("n").await, ["4"]);
});

for_each_backend!(database_failure_is_reported, |db: TestDb| async move {
    let db = synced(db).await;
    common::purge::freeze_tags(&db).await;
    // One table at a time, as Glance: the tables after the failing one are left as they are
    // (with --jobs, those already running finish: tests/purge_jobs.rs).
    let r = run(&db.url, &["db", "purge", "--jobs", "1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Purge command failed, check glance-manage logs for more details."),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("image_tags"), "{}", r.stderr);
    assert!(r.stderr.contains("tags are frozen"), "{}", r.stderr);
    // The tables purged before the failure stay purged; the failing batch changed nothing.
    assert!(
        r.stdout.contains("Deleted 4 row(s) from table tasks"),
        "{}",
        r.stdout
    );
    assert_counts(&db, "a failed purge", [6, 11, 5, 5, 6, 2, 2]).await;
});
