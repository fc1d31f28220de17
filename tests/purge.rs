//! `db purge` and `db purge_images_table` on SQLite, PostgreSQL and MariaDB: exact per-table
//! counts on seeded Glance data, the `--max_rows` window, FK safety (never an orphan, never an FK
//! error), the refusal of `purge_images_table` while children remain, `--dry-run` against the
//! real run, argument validation with Glance's messages, a non-Glance FK graph from a
//! `--revisions` directory, and two purges at once.

mod common;

use std::collections::BTreeMap;

use common::{Gm, Run, TestDb};
use glance_manage::purge::{format_utc_micros, now_micros};

fn run(url: &str, args: &[&str]) -> Run {
    Gm::new().url(url).args(args).run()
}

fn ok(db: &TestDb, args: &[&str]) -> Run {
    let r = run(&db.url, args);
    assert_eq!(
        r.code, 0,
        "{args:?} failed on {}:\nstdout:\n{}\nstderr:\n{}",
        db.dialect, r.stdout, r.stderr
    );
    r
}

fn json(db: &TestDb, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let r = ok(db, &a);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// table → rows deleted (or, dry run, rows it would delete), from a JSON report.
fn deleted(report: &serde_json::Value) -> BTreeMap<String, u64> {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["deleted"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A timestamp `days` days (and `secs` seconds) ago, as a SQL literal.
fn ago(days: i64, secs: i64) -> String {
    format!(
        "'{}'",
        format_utc_micros(now_micros() - (days * 86_400 + secs) * 1_000_000)
    )
}

const A: i64 = 400;
const B: i64 = 200;
const C: i64 = 40;
const D: i64 = 5;

fn img(n: char) -> String {
    format!("00000000-0000-0000-0000-00000000000{n}")
}
fn task(n: char) -> String {
    format!("11111111-0000-0000-0000-00000000000{n}")
}

/// Seeds Glance data soft-deleted at several ages (see the table in the module docs of each
/// test); children share their image's `deleted_at`, as `image_destroy` does.
///
/// images a (400 d), b (200 d), c (40 d), d (5 d), e (live), f (400 d − 1 h, with a live tag)
/// image_properties: 2 per image a–e (ids 1–10), 1 for f (id 11, 400 d − 1 h)
/// image_locations, image_members: 1 per image a–e (ids 1–5)
/// image_tags: 1 per image a–e (ids 1–5), plus id 6: f's tag, live
/// tasks a (400 d), x (400 d − 1 h, no task_info), b, c, d, l (live); task_info for a, b, c, d, l
async fn seed(db: &TestDb) {
    let ages: [(char, Option<i64>); 5] = [
        ('a', Some(A)),
        ('b', Some(B)),
        ('c', Some(C)),
        ('d', Some(D)),
        ('e', None),
    ];
    let ts = |age: Option<i64>| age.map(|d| ago(d, 0)).unwrap_or_else(|| "NULL".into());
    let del = |age: Option<i64>| if age.is_some() { "TRUE" } else { "FALSE" };
    let now = ago(0, 0);
    let mut sql = Vec::new();
    for (i, (n, age)) in ages.iter().enumerate() {
        let id = img(*n);
        let (t, dl) = (ts(*age), del(*age));
        sql.push(format!(
            "INSERT INTO images (id, name, status, created_at, deleted_at, deleted, min_disk, min_ram, protected, visibility, os_hidden) \
             VALUES ('{id}', 'img-{n}', '{}', {}, {t}, {dl}, 0, 0, FALSE, 'shared', FALSE)",
            if age.is_some() { "deleted" } else { "active" },
            ago(500, 0)
        ));
        for k in 0..2 {
            sql.push(format!(
                "INSERT INTO image_properties (id, image_id, name, value, created_at, deleted_at, deleted) \
                 VALUES ({}, '{id}', 'p{k}', 'v', {now}, {t}, {dl})",
                i * 2 + k + 1
            ));
        }
        let j = i + 1;
        sql.push(format!(
            "INSERT INTO image_locations (id, image_id, value, created_at, deleted_at, deleted, meta_data, status) \
             VALUES ({j}, '{id}', 'file:///{n}', {now}, {t}, {dl}, '{{}}', 'active')"
        ));
        sql.push(format!(
            "INSERT INTO image_members (id, image_id, member, can_share, created_at, deleted_at, deleted, status) \
             VALUES ({j}, '{id}', 'tenant', FALSE, {now}, {t}, {dl}, 'accepted')"
        ));
        sql.push(format!(
            "INSERT INTO image_tags (id, image_id, value, created_at, deleted_at, deleted) \
             VALUES ({j}, '{id}', 'tag-{n}', {now}, {t}, {dl})"
        ));
    }
    let f = img('f');
    let fa = ago(A, -3600);
    sql.push(format!(
        "INSERT INTO images (id, name, status, created_at, deleted_at, deleted, min_disk, min_ram, protected, visibility, os_hidden) \
         VALUES ('{f}', 'img-f', 'deleted', {}, {fa}, TRUE, 0, 0, FALSE, 'shared', FALSE)",
        ago(500, 0)
    ));
    sql.push(format!(
        "INSERT INTO image_properties (id, image_id, name, value, created_at, deleted_at, deleted) \
         VALUES (11, '{f}', 'p0', 'v', {now}, {fa}, TRUE)"
    ));
    sql.push(format!(
        "INSERT INTO image_tags (id, image_id, value, created_at, deleted_at, deleted) \
         VALUES (6, '{f}', 'still-here', {now}, NULL, FALSE)"
    ));
    let tasks: [(char, Option<String>, bool); 6] = [
        ('a', Some(ago(A, 0)), true),
        ('x', Some(ago(A, -3600)), false),
        ('b', Some(ago(B, 0)), true),
        ('c', Some(ago(C, 0)), true),
        ('d', Some(ago(D, 0)), true),
        ('l', None, true),
    ];
    for (n, t, info) in &tasks {
        let id = task(*n);
        let dl = if t.is_some() { "TRUE" } else { "FALSE" };
        sql.push(format!(
            "INSERT INTO tasks (id, type, status, owner, created_at, deleted_at, deleted) \
             VALUES ('{id}', 'import', 'success', 'owner', {now}, {}, {dl})",
            t.clone().unwrap_or_else(|| "NULL".into())
        ));
        if *info {
            sql.push(format!(
                "INSERT INTO task_info (task_id, input, result, message) VALUES ('{id}', '{{}}', '{{}}', 'm')"
            ));
        }
    }
    // Metadefs: no soft delete, never purged.
    sql.push(format!(
        "INSERT INTO metadef_namespaces (id, namespace, display_name, visibility, protected, owner, created_at) \
         VALUES (1, 'OS::Test', 'Test', 'public', FALSE, 'admin', {now})"
    ));
    sql.push(format!(
        "INSERT INTO metadef_resource_types (id, name, protected, created_at) VALUES (1, 'OS::Glance::Image', FALSE, {now})"
    ));
    sql.push(format!(
        "INSERT INTO metadef_namespace_resource_types (resource_type_id, namespace_id, created_at) VALUES (1, 1, {now})"
    ));
    sql.push(format!(
        "INSERT INTO metadef_objects (id, namespace_id, name, json_schema, created_at) VALUES (1, 1, 'o', '{{}}', {now})"
    ));
    sql.push(format!(
        "INSERT INTO metadef_properties (id, namespace_id, name, json_schema, created_at) VALUES (1, 1, 'p', '{{}}', {now})"
    ));
    sql.push(format!(
        "INSERT INTO metadef_tags (id, namespace_id, name, created_at) VALUES (1, 1, 't', {now})"
    ));
    db.exec(&sql.join(";\n")).await;
}

const TABLES: [&str; 13] = [
    "images",
    "image_properties",
    "image_locations",
    "image_members",
    "image_tags",
    "tasks",
    "task_info",
    "metadef_namespaces",
    "metadef_resource_types",
    "metadef_namespace_resource_types",
    "metadef_objects",
    "metadef_properties",
    "metadef_tags",
];

async fn counts(db: &TestDb) -> BTreeMap<&'static str, i64> {
    let mut c = db.conn().await;
    let mut out = BTreeMap::new();
    for t in TABLES {
        let n = c
            .query_i64(&format!("SELECT COUNT(*) FROM {t}"))
            .await
            .unwrap()
            .unwrap();
        out.insert(t, n);
    }
    c.close().await;
    out
}

/// Asserts the row count of every table: `expect` lists images, image_properties,
/// image_locations, image_members, image_tags, tasks, task_info; metadefs stay at 1 each.
async fn assert_counts(db: &TestDb, when: &str, expect: [i64; 7]) {
    let got = counts(db).await;
    let mut want = BTreeMap::new();
    for (t, n) in TABLES.iter().zip(expect) {
        want.insert(*t, n);
    }
    for t in &TABLES[7..] {
        want.insert(*t, 1);
    }
    assert_eq!(got, want, "{} after {when}", db.dialect);
    assert_no_orphans(db).await;
}

const SEEDED: [i64; 7] = [6, 11, 5, 5, 6, 6, 5];

async fn assert_no_orphans(db: &TestDb) {
    let mut c = db.conn().await;
    for (child, col, parent) in [
        ("image_properties", "image_id", "images"),
        ("image_locations", "image_id", "images"),
        ("image_members", "image_id", "images"),
        ("image_tags", "image_id", "images"),
        ("task_info", "task_id", "tasks"),
    ] {
        let n = c
            .query_i64(&format!(
                "SELECT COUNT(*) FROM {child} c WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = c.{col})"
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0, "{}: orphaned rows in {child}", db.dialect);
    }
    c.close().await;
}

async fn ids(db: &TestDb, sql: &str) -> Vec<String> {
    let mut c = db.conn().await;
    let rows = c.query(sql).await.unwrap();
    c.close().await;
    rows.iter().map(|r| r[0].text().unwrap()).collect()
}

async fn synced(db: TestDb) -> TestDb {
    ok(&db, &["db", "sync"]);
    seed(&db).await;
    assert_counts(&db, "seeding", SEEDED).await;
    db
}

for_each_backend!(defaults_then_images_table, |db: TestDb| async move {
    let db = synced(db).await;
    // db purge: 30 days, 100 rows. Eligible: ages 400, 200, 40 days. Images untouched.
    let r = ok(&db, &["db", "purge"]);
    assert!(
        r.stdout
            .contains("Deleted 7 row(s) from table image_properties"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Deleted 3 row(s) from table task_info"));
    assert!(r.stdout.contains("Deleted 4 row(s) from table tasks"));
    assert!(!r.stdout.contains("table images\n"));
    assert!(
        r.stderr
            .contains("Purging deleted rows older than 30 day(s) from table tasks")
    );
    // Results once, on stdout; stderr has the progress log, never the same line.
    for line in r.stdout.lines() {
        assert!(!r.stderr.contains(line), "`{line}` on both streams:\n{r:?}");
    }
    assert_counts(&db, "purge", [6, 4, 2, 2, 3, 2, 2]).await;
    assert_eq!(
        ids(&db, "SELECT id FROM tasks ORDER BY id").await,
        vec![task('d'), task('l')]
    );

    // purge_images_table (180 days): a, b, f are eligible; f still has a live tag → refused.
    let r = run(&db.url, &["db", "purge_images_table"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("1 soft-deleted image(s) older than 180 day(s) are still referenced"),
        "{}",
        r.stderr
    );
    // The tag is live: the message says so, and the hint does not send the operator to
    // `db purge`, which would not remove it.
    assert!(
        r.stderr.contains("image_tags: 1 row(s), not soft-deleted"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("`db purge` does not remove rows that are not soft-deleted (image_tags)"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("first to remove the soft-deleted rows"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("image_properties"), "{}", r.stderr);
    assert_counts(&db, "blocked purge_images_table", [6, 4, 2, 2, 3, 2, 2]).await;

    // --skip-referenced: purges a and b, keeps f.
    let rep = json(&db, &["db", "purge_images_table", "--skip-referenced"]);
    assert_eq!(rep["tables"][0]["deleted"], 2);
    assert_eq!(rep["tables"][0]["skipped"], 1);
    assert_counts(
        &db,
        "purge_images_table --skip-referenced",
        [4, 4, 2, 2, 3, 2, 2],
    )
    .await;

    // Once f's tag is soft-deleted long ago and purged, purge_images_table takes f too.
    db.exec(&format!(
        "UPDATE image_tags SET deleted = TRUE, deleted_at = {} WHERE id = 6",
        ago(300, 0)
    ))
    .await;
    let r = ok(&db, &["db", "purge"]);
    assert!(
        r.stdout.contains("Deleted 1 row(s) from table image_tags"),
        "{}",
        r.stdout
    );
    let r = ok(&db, &["db", "purge_images_table"]);
    assert!(
        r.stdout.contains("Deleted 1 row(s) from table images"),
        "{}",
        r.stdout
    );
    assert_counts(&db, "purge_images_table", [3, 4, 2, 2, 2, 2, 2]).await;
    assert_eq!(
        ids(&db, "SELECT id FROM images ORDER BY id").await,
        vec![img('c'), img('d'), img('e')]
    );
});

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

for_each_backend!(dry_run_predicts, |db: TestDb| async move {
    let db = synced(db).await;
    for args in [
        &["db", "purge"][..],
        &["db", "purge", "--age_in_days", "0", "--max_rows", "2"][..],
        &["db", "purge", "--age_in_days", "0", "--max_rows", "-1"][..],
    ] {
        let mut dry = args.to_vec();
        dry.push("--dry-run");
        let before = counts(&db).await;
        let plan = json(&db, &dry);
        assert_eq!(plan["dry_run"], true);
        assert_eq!(counts(&db).await, before, "--dry-run changed nothing");
        let steps: Vec<&str> = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["table"].as_str().unwrap())
            .collect();
        let pos = |t: &str| steps.iter().position(|s| *s == t).unwrap();
        assert!(pos("task_info") < pos("tasks"), "{steps:?}");
        // One DELETE per batch (PostgreSQL wraps it in a CTE that returns the batch's end).
        let delete = plan["steps"][pos("tasks")]["sql"]["delete"]
            .as_str()
            .unwrap();
        assert!(
            delete.starts_with("DELETE ") || delete.starts_with("WITH d AS (DELETE "),
            "{delete}"
        );
        let real = json(&db, args);
        assert_eq!(deleted(&plan), deleted(&real), "{args:?}");
    }
    // The text plan names the tables in order with their SQL.
    let r = ok(
        &db,
        &[
            "db",
            "purge_images_table",
            "--dry-run",
            "--skip-referenced",
            "--age_in_days",
            "0",
        ],
    );
    assert!(r.stdout.contains("1. images:"), "{}", r.stdout);
    assert!(
        r.stdout.contains("delete:    DELETE ")
            || r.stdout.contains("delete:    WITH d AS (DELETE "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Would delete 4 row(s) from table images"),
        "{}",
        r.stdout
    );
    assert_eq!(counts(&db).await["images"], 6);
    // A blocked purge_images_table dry run says the real run would refuse.
    let r = run(&db.url, &["db", "purge_images_table", "--dry-run"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("A real run would refuse"), "{}", r.stderr);
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

#[test]
fn bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    // Validation comes before the connection: the database does not even exist.
    let url = format!("sqlite:///{}/none.sqlite", dir.path().display());
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["db", "purge", "abc"],
            1,
            "Invalid int value for age_in_days: abc",
        ),
        (
            &["db", "purge", "1.5"],
            1,
            "Invalid int value for age_in_days: 1.5",
        ),
        (
            &["db", "purge", "abc", "xyz"],
            1,
            "Invalid int value for age_in_days: abc",
        ),
        (
            &["db", "purge", "1", "abcd"],
            1,
            "Invalid int value for max_rows: abcd",
        ),
        (
            &["db", "purge", "-1"],
            1,
            "Must supply a non-negative value for age.",
        ),
        (
            &["db", "purge", "--age_in_days", "-1"],
            1,
            "Must supply a non-negative value for age.",
        ),
        (
            &["db", "purge", "-1", "-5"],
            1,
            "Must supply a non-negative value for age.",
        ),
        (
            &["db", "purge", "100000"],
            1,
            "Maximal age is count of days since epoch.",
        ),
        (
            &["db", "purge_images_table", "--age_in_days", "99999"],
            1,
            "Maximal age is count of days since epoch.",
        ),
        (&["db", "purge", "1", "-2"], 1, "Minimal rows limit is -1."),
        (
            &["db", "purge", "--max_rows", "-2"],
            1,
            "Minimal rows limit is -1.",
        ),
        (
            &["db", "purge", "1", "2147483648"],
            1,
            "'max_rows' value out of range, must not exceed 2147483647.",
        ),
        (
            &["db", "purge_images_table", "--max_rows", "2147483648"],
            1,
            "'max_rows' value out of range, must not exceed 2147483647.",
        ),
        (
            &["db", "purge", "--age_in_days", "abc"],
            2,
            "invalid int value: 'abc'",
        ),
        (
            &["db", "purge", "--max_rows", "1.5"],
            2,
            "invalid int value: '1.5'",
        ),
        (
            &["db", "purge", "10", "--age_in_days", "5"],
            2,
            "cannot be used with",
        ),
        (
            &["db", "purge", "10", "5", "--max_rows", "5"],
            2,
            "cannot be used with",
        ),
        (&["db", "purge", "--batch-size", "0"], 2, "--batch-size"),
        (
            &["db", "purge", "--skip-referenced"],
            2,
            "--skip-referenced applies to `db purge_images_table` only",
        ),
    ];
    for (args, code, msg) in cases {
        let r = run(&url, args);
        assert_eq!(r.code, *code, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(msg),
            "{args:?}: expected {msg:?} in\n{}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    assert!(!dir.path().join("none.sqlite").exists());
    // Valid values get as far as the connection, which reports the missing file.
    let r = run(&url, &["db", "purge", "1", "2147483647"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    let r = run(&url, &["db"]);
    assert!(
        r.stdout
            .contains("\tpurge - Purge deleted rows older than a given age from glance tables.")
    );
    assert!(r.stdout.contains(
        "\tpurge_images_table - Purge deleted rows older than a given age from images table."
    ));
}

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
    let trigger = match db.dialect {
        glance_manage::schema::model::Dialect::Sqlite => {
            "CREATE TRIGGER no_del BEFORE DELETE ON image_tags BEGIN SELECT RAISE(ABORT, 'tags are frozen'); END"
        }
        glance_manage::schema::model::Dialect::Postgres => {
            "CREATE FUNCTION frozen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'tags are frozen'; END $$;
             CREATE TRIGGER no_del BEFORE DELETE ON image_tags FOR EACH ROW EXECUTE FUNCTION frozen()"
        }
        glance_manage::schema::model::Dialect::Mysql => {
            "CREATE TRIGGER no_del BEFORE DELETE ON image_tags FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'tags are frozen'"
        }
    };
    db.exec(trigger).await;
    let r = run(&db.url, &["db", "purge"]);
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

// purge_images_table before db purge: the 400-day images still have soft-deleted children
// (db purge removes those) and f has a live tag (it does not). The message tells them apart,
// names only tables with referencing rows, and the hint covers both causes.
for_each_backend!(blocked_message_matches_the_cause, |db: TestDb| async move {
    let db = synced(db).await;
    let r = run(
        &db.url,
        &["db", "purge_images_table", "--age_in_days", "300"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    // a: 2 properties, 1 location, 1 member, 1 tag, soft-deleted at 400 days; f: 1 property
    // (soft-deleted) and 1 live tag.
    assert!(
        r.stderr
            .contains("image_properties: 3 row(s), soft-deleted, `db purge` removes them"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("image_tags: 2 row(s), 1 soft-deleted (`db purge` removes them), 1 not"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("run `glance-manage db purge --age_in_days 300 --max_rows -1` first"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("`db purge` does not remove rows that are not soft-deleted (image_tags)"),
        "{r:?}"
    );
    assert!(!r.stderr.contains("task"), "{r:?}");
    assert_counts(&db, "refused purge_images_table", SEEDED).await;
});

// Without a terminal, long purges log their progress on stderr (every few seconds; every batch
// here); stdout keeps the results, and no line appears on both.
for_each_backend!(progress_lines_without_a_terminal, |db: TestDb| async move {
    let db = synced(db).await;
    let r = Gm::new()
        .url(&db.url)
        .args(["db", "purge", "--batch-size", "1"])
        .env("GLANCE_MANAGE_PROGRESS_SECONDS", "0")
        .run();
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.lines().any(|l| l.starts_with("image_properties: ")
            && l.contains(" row(s), ")
            && l.contains("rows/s")),
        "{r:?}"
    );
    for line in r.stdout.lines() {
        assert!(!r.stderr.contains(line), "`{line}` on both streams:\n{r:?}");
    }
    assert!(
        r.stdout
            .contains("Deleted 7 row(s) from table image_properties"),
        "{r:?}"
    );
});
