//! The Glance data the purge tests (tests/purge.rs, tests/purge_images_table.rs,
//! tests/purge_cli.rs) seed and check: images, their children and tasks soft-deleted at several
//! ages, exact per-table counts and the no-orphan check, and running the binary on them.

use std::collections::BTreeMap;

use glance_manage::purge::{format_utc_micros, now_micros};

use super::{Gm, Run, TestDb};

/// Runs `glance-manage --database-url URL <args>`, whatever its exit code.
pub fn run(url: &str, args: &[&str]) -> Run {
    Gm::new().url(url).args(args).run()
}

/// Runs it on `db` and fails the test unless it exits 0.
pub fn ok(db: &TestDb, args: &[&str]) -> Run {
    let r = run(&db.url, args);
    assert_eq!(
        r.code, 0,
        "{args:?} failed on {}:\nstdout:\n{}\nstderr:\n{}",
        db.dialect, r.stdout, r.stderr
    );
    r
}

/// Runs it on `db` with `--format json`, exit 0, and parses the report.
pub fn json(db: &TestDb, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    let r = ok(db, &a);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// Starts it on `db` with `--format json` in the background (for a test that acts on the
/// database while the purge runs); collect with [`finish_json`].
pub fn spawn_json(db: &TestDb, args: &[&str]) -> std::process::Child {
    let mut a = args.to_vec();
    a.extend(["--format", "json"]);
    Gm::new().url(&db.url).args(&a).spawn()
}

/// Waits for a [`spawn_json`] run, fails the test unless it exited 0, and parses the report.
pub fn finish_json(child: std::process::Child) -> serde_json::Value {
    let out = child.wait_with_output().expect("wait for glance-manage");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// table → rows deleted (or, dry run, rows it would delete), from a JSON report.
pub fn deleted(report: &serde_json::Value) -> BTreeMap<String, u64> {
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
pub fn ago(days: i64, secs: i64) -> String {
    format!(
        "'{}'",
        format_utc_micros(now_micros() - (days * 86_400 + secs) * 1_000_000)
    )
}

/// Ages in days of the soft-deleted images a, b, c, d (and of the tasks of the same names).
pub const A: i64 = 400;
pub const B: i64 = 200;
pub const C: i64 = 40;
pub const D: i64 = 5;

/// Image id of the seeded image `n` (a–f).
pub fn img(n: char) -> String {
    format!("00000000-0000-0000-0000-00000000000{n}")
}
/// Task id of the seeded task `n`.
pub fn task(n: char) -> String {
    format!("11111111-0000-0000-0000-00000000000{n}")
}

/// Seeds Glance data soft-deleted at several ages (below); children share their image's
/// `deleted_at`, as `image_destroy` does.
///
/// images a (400 d), b (200 d), c (40 d), d (5 d), e (live), f (400 d − 1 h, with a live tag)
/// image_properties: 2 per image a–e (ids 1–10), 1 for f (id 11, 400 d − 1 h)
/// image_locations, image_members: 1 per image a–e (ids 1–5)
/// image_tags: 1 per image a–e (ids 1–5), plus id 6: f's tag, live
/// tasks a (400 d), x (400 d − 1 h, no task_info), b, c, d, l (live); task_info for a, b, c, d, l
pub async fn seed(db: &TestDb) {
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

/// Every table the seed writes; the first seven in [`assert_counts`]'s order, then metadefs.
pub const TABLES: [&str; 13] = [
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

/// Row count of each of [`TABLES`].
pub async fn counts(db: &TestDb) -> BTreeMap<&'static str, i64> {
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
pub async fn assert_counts(db: &TestDb, when: &str, expect: [i64; 7]) {
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

/// Row counts straight after [`seed`], in [`assert_counts`]'s order.
pub const SEEDED: [i64; 7] = [6, 11, 5, 5, 6, 6, 5];

/// No child row of images or tasks without its parent.
pub async fn assert_no_orphans(db: &TestDb) {
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

/// First column of each row of `sql`, as text.
pub async fn ids(db: &TestDb, sql: &str) -> Vec<String> {
    let mut c = db.conn().await;
    let rows = c.query(sql).await.unwrap();
    c.close().await;
    rows.iter().map(|r| r[0].text().unwrap()).collect()
}

/// `db sync`, then [`seed`], checked against [`SEEDED`].
pub async fn synced(db: TestDb) -> TestDb {
    ok(&db, &["db", "sync"]);
    seed(&db).await;
    assert_counts(&db, "seeding", SEEDED).await;
    db
}

/// `db sync`, then `images` images with `props` properties and `tags` tags each (ids from 1,
/// image by image); the odd-numbered images and their children soft-deleted 2 days − i
/// seconds ago (image i), one second apart so Glance's order is unambiguous; the others live.
/// Image ids are `00000000-0000-0000-0000-<i, 12 digits>`.
pub async fn seed_bulk(db: &TestDb, images: usize, props: usize, tags: usize) {
    let r = Gm::new().url(&db.url).args(["db", "sync"]).run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let created = ago(10, 0);
    let (mut rows_i, mut rows_p, mut rows_t) = (vec![], vec![], vec![]);
    for i in 0..images {
        let id = bulk_image(i);
        let gone = i % 2 == 1;
        let (t, dl) = if gone {
            (ago(2, -(i as i64)), "TRUE")
        } else {
            ("NULL".to_string(), "FALSE")
        };
        let status = if gone { "deleted" } else { "active" };
        rows_i.push(format!(
            "('{id}', 'img', '{status}', {created}, {t}, {dl}, 0, 0, FALSE, 'shared', FALSE)"
        ));
        for k in 0..props {
            rows_p.push(format!(
                "({}, '{id}', 'p{k}', 'v', {created}, {t}, {dl})",
                i * props + k + 1
            ));
        }
        for k in 0..tags {
            rows_t.push(format!(
                "({}, '{id}', 't{k}', {created}, {t}, {dl})",
                i * tags + k + 1
            ));
        }
    }
    let mut sql = vec![format!(
        "INSERT INTO images (id, name, status, created_at, deleted_at, deleted, min_disk, min_ram, protected, visibility, os_hidden) VALUES {}",
        rows_i.join(", ")
    )];
    if !rows_p.is_empty() {
        sql.push(format!(
            "INSERT INTO image_properties (id, image_id, name, value, created_at, deleted_at, deleted) VALUES {}",
            rows_p.join(", ")
        ));
    }
    if !rows_t.is_empty() {
        sql.push(format!(
            "INSERT INTO image_tags (id, image_id, value, created_at, deleted_at, deleted) VALUES {}",
            rows_t.join(", ")
        ));
    }
    db.exec(&sql.join(";\n")).await;
}

/// The id of image `i` of [`seed_bulk`].
pub fn bulk_image(i: usize) -> String {
    format!("00000000-0000-0000-0000-{i:012}")
}

/// A trigger that makes every DELETE from `image_tags` fail with "tags are frozen".
pub async fn freeze_tags(db: &TestDb) {
    use glance_manage::schema::model::Dialect;
    let trigger = match db.dialect {
        Dialect::Sqlite => {
            "CREATE TRIGGER no_del BEFORE DELETE ON image_tags BEGIN SELECT RAISE(ABORT, 'tags are frozen'); END"
        }
        Dialect::Postgres => {
            "CREATE FUNCTION frozen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'tags are frozen'; END $$;
             CREATE TRIGGER no_del BEFORE DELETE ON image_tags FOR EACH ROW EXECUTE FUNCTION frozen()"
        }
        Dialect::Mysql => {
            "CREATE TRIGGER no_del BEFORE DELETE ON image_tags FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'tags are frozen'"
        }
    };
    db.exec(trigger).await;
}
