//! `--jobs`: purge steps that share no table run at once on their own connections, and a step
//! that runs alone (`images` in `purge_images_table`) splits its walk into key ranges, one per
//! connection. Shown on PostgreSQL and MariaDB by blocking one lane with another transaction and
//! watching the other lane finish meanwhile (and, with `--jobs 1`, not move); on SQLite, which
//! has one writer at a time, the purge uses one connection whatever `--jobs` says.

mod common;

use std::time::{Duration, Instant};

use common::TestDb;
use common::purge::{bulk_image, finish_json, json, seed_bulk, spawn_json};
use glance_manage::exec::connection::Conn;
use glance_manage::schema::model::Dialect;

const IMAGES: usize = 60;
const PROPS: usize = 10;
const TAGS: usize = 10;
/// Soft-deleted images (the odd ones) and their children.
const GONE: i64 = (IMAGES / 2) as i64;

/// `db CMD --age_in_days 1 --max_rows -1` and `extra`: every soft-deleted row of the seed.
fn all(cmd: &'static str, extra: &[&'static str]) -> Vec<&'static str> {
    let mut a = vec!["db", cmd, "--age_in_days", "1", "--max_rows", "-1"];
    a.extend_from_slice(extra);
    a
}

async fn eligible(db: &TestDb, table: &str) -> i64 {
    db.count(&format!(
        "SELECT COUNT(*) FROM {table} WHERE deleted_at IS NOT NULL"
    ))
    .await
}

/// Polls until `table` has at most `left` soft-deleted rows; false after `within`.
async fn drains_to(db: &TestDb, table: &str, left: i64, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if eligible(db, table).await <= left {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A transaction on its own connection that makes the purge's deletes from `image_tags` wait:
/// PostgreSQL a SHARE table lock, MariaDB row locks on the soft-deleted tags.
async fn block_tags(db: &TestDb) -> Conn {
    let mut c = db.conn().await;
    let sql = match db.dialect {
        Dialect::Postgres => "BEGIN; LOCK TABLE image_tags IN SHARE MODE",
        _ => "START TRANSACTION; SELECT id FROM image_tags WHERE deleted_at IS NOT NULL FOR UPDATE",
    };
    c.execute(sql).await.expect("block image_tags");
    c
}

async fn release(mut c: Conn) {
    c.execute("COMMIT").await.expect("release the blocker");
    c.close().await;
}

for_each_backend!(tables_run_side_by_side, |db: TestDb| async move {
    seed_bulk(&db, IMAGES, PROPS, TAGS).await;
    let args = all("purge", &["--batch-size", "20", "--jobs", "4"]);
    if db.dialect == Dialect::Sqlite {
        let report = json(&db, &args);
        assert_eq!(report["jobs"], 1, "SQLite has one writer: {report}");
        assert_eq!(eligible(&db, "image_tags").await, 0);
        assert_eq!(eligible(&db, "image_properties").await, 0);
        return;
    }
    // image_tags comes before image_properties in the plan; with the tags blocked, a second
    // connection purges the properties meanwhile.
    let blocker = block_tags(&db).await;
    let child = spawn_json(&db, &args);
    let drained = drains_to(&db, "image_properties", 0, Duration::from_secs(60)).await;
    let tags_left = eligible(&db, "image_tags").await;
    release(blocker).await;
    let report = finish_json(child);
    assert!(
        drained,
        "image_properties was not purged beside the blocked image_tags"
    );
    assert_eq!(tags_left, GONE * TAGS as i64, "image_tags was blocked");
    assert_eq!(report["jobs"], 4, "{report}");
    assert_eq!(eligible(&db, "image_tags").await, 0);
    assert_eq!(report["total_deleted"], GONE * (PROPS + TAGS) as i64);

    // One connection: the same block holds the whole purge where it is.
    seed_more(&db).await;
    let blocker = block_tags(&db).await;
    let child = spawn_json(&db, &all("purge", &["--jobs", "1"]));
    let moved = drains_to(&db, "image_properties", 0, Duration::from_secs(2)).await;
    release(blocker).await;
    let report = finish_json(child);
    assert!(
        !moved,
        "--jobs 1 purged image_properties while image_tags was blocked"
    );
    assert_eq!(report["jobs"], 1, "{report}");
    assert_eq!(eligible(&db, "image_properties").await, 0);
});

/// A second round of soft-deleted properties and tags for the same images (ids after the first).
async fn seed_more(db: &TestDb) {
    let (mut p, mut t) = (vec![], vec![]);
    for i in (1..IMAGES).step_by(2) {
        let id = bulk_image(i);
        p.push(format!(
            "({}, '{id}', 'again', 'v', {c}, {c}, TRUE)",
            10_000 + i,
            c = common::purge::ago(3, 0)
        ));
        t.push(format!(
            "({}, '{id}', 'again', {c}, {c}, TRUE)",
            10_000 + i,
            c = common::purge::ago(3, 0)
        ));
    }
    db.exec(&format!(
        "INSERT INTO image_properties (id, image_id, name, value, created_at, deleted_at, deleted) VALUES {};\n\
         INSERT INTO image_tags (id, image_id, value, created_at, deleted_at, deleted) VALUES {}",
        p.join(", "),
        t.join(", ")
    ))
    .await;
}

for_each_backend!(
    a_lone_step_splits_into_key_ranges,
    |db: TestDb| async move {
        seed_bulk(&db, IMAGES, 0, 0).await;
        // Image 1 (the first soft-deleted one, lowest key) keeps a live tag, whose deletion by
        // another transaction is pending: deleting image 1 waits on that transaction's row lock
        // (the foreign-key check), so the walk's first key range is held; the second is not.
        let first = bulk_image(1);
        db.exec(&format!(
        "INSERT INTO image_tags (id, image_id, value, created_at, deleted) VALUES (1, '{first}', 'live', {}, FALSE)",
        common::purge::ago(0, 0)
    ))
    .await;
        let args = all(
            "purge_images_table",
            &["--skip-referenced", "--batch-size", "5", "--jobs", "2"],
        );
        if db.dialect == Dialect::Sqlite {
            db.exec("DELETE FROM image_tags").await;
            let report = json(&db, &args);
            assert_eq!(report["jobs"], 1, "{report}");
            assert_eq!(report["steps"][0]["parts"], 1, "{report}");
            assert_eq!(eligible(&db, "images").await, 0);
            return;
        }
        let mut blocker = db.conn().await;
        let begin = match db.dialect {
            Dialect::Postgres => "BEGIN",
            _ => "START TRANSACTION",
        };
        blocker
            .execute(&format!("{begin}; DELETE FROM image_tags WHERE id = 1"))
            .await
            .expect("hold the tag");
        let child = spawn_json(&db, &args);
        // The upper half of the soft-deleted images goes while image 1's range waits.
        let half = drains_to(&db, "images", GONE / 2 + 1, Duration::from_secs(60)).await;
        let first_left = db
            .count(&format!("SELECT COUNT(*) FROM images WHERE id = '{first}'"))
            .await;
        release(blocker).await;
        let report = finish_json(child);
        assert!(
            half,
            "the second key range did not move while the first was held"
        );
        assert_eq!(first_left, 1, "image 1 was held");
        let step = &report["steps"][0];
        assert_eq!(step["parts"], 2, "{report}");
        assert_eq!(report["jobs"], 2, "{report}");
        // The tag's deletion committed: nothing references image 1 any more, and every
        // soft-deleted image is gone, each exactly once.
        assert_eq!(step["deleted"], GONE, "{report}");
        assert_eq!(eligible(&db, "images").await, 0);
        assert_eq!(
            db.count("SELECT COUNT(*) FROM images").await,
            (IMAGES / 2) as i64
        );
    }
);

for_each_backend!(
    split_keeps_referenced_images_in_every_range,
    |db: TestDb| async move {
        seed_bulk(&db, IMAGES, 0, 0).await;
        // A live tag on a soft-deleted image at each end of the key range: both ranges meet one.
        let (low, high) = (bulk_image(1), bulk_image(IMAGES - 1));
        db.exec(&format!(
        "INSERT INTO image_tags (id, image_id, value, created_at, deleted) VALUES (1, '{low}', 'live', {now}, FALSE), (2, '{high}', 'live', {now}, FALSE)",
        now = common::purge::ago(0, 0)
    ))
    .await;
        let report = json(
            &db,
            &all("purge_images_table", &["--skip-referenced", "--jobs", "3"]),
        );
        let step = &report["steps"][0];
        let parts = if db.dialect == Dialect::Sqlite { 1 } else { 3 };
        assert_eq!(step["parts"], parts, "{report}");
        assert_eq!(step["deleted"], GONE - 2, "{report}");
        assert_eq!(step["skipped"], 2, "{report}");
        assert_eq!(eligible(&db, "images").await, 2);
        for id in [&low, &high] {
            assert_eq!(
                db.count(&format!("SELECT COUNT(*) FROM images WHERE id = '{id}'"))
                    .await,
                1,
                "{id} is referenced and stays"
            );
        }
    }
);

for_each_backend!(
    a_failing_lane_stops_the_purge_and_the_report_is_exact,
    |db: TestDb| async move {
        seed_bulk(&db, IMAGES, PROPS, TAGS).await;
        common::purge::freeze_tags(&db).await;
        let props_before = eligible(&db, "image_properties").await;
        let out = common::purge::run(&db.url, &all("purge", &["--jobs", "3", "--format", "json"]));
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stderr.contains("tags are frozen"), "{}", out.stderr);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert!(
            report["error"].as_str().unwrap().contains("image_tags"),
            "{report}"
        );
        // Whatever the other lanes finished is reported, and only that: each table's count in the
        // report is what left it.
        let reported = common::purge::deleted(&report);
        assert_eq!(
            reported.get("image_tags").copied().unwrap_or(0),
            0,
            "{report}"
        );
        assert_eq!(eligible(&db, "image_tags").await, GONE * TAGS as i64);
        let props_gone = props_before - eligible(&db, "image_properties").await;
        assert_eq!(
            reported.get("image_properties").copied().unwrap_or(0) as i64,
            props_gone,
            "{report}"
        );
    }
);

for_each_backend!(a_cron_sized_cap_is_not_split, |db: TestDb| async move {
    seed_bulk(&db, IMAGES, 0, 0).await;
    let capped = json(
        &db,
        &[
            "db",
            "purge_images_table",
            "--age_in_days",
            "1",
            "--max_rows",
            "10",
            "--jobs",
            "2",
        ],
    );
    // At most one batch's worth: one connection, no split scan.
    assert_eq!(capped["steps"][0]["parts"], 1, "{capped}");
    assert_eq!(capped["steps"][0]["deleted"], 10, "{capped}");
    // A cap above --batch-size walks several batches: split, and still exactly the cap.
    let parts = if db.dialect == Dialect::Sqlite { 1 } else { 2 };
    let walked = json(
        &db,
        &[
            "db",
            "purge_images_table",
            "--age_in_days",
            "1",
            "--max_rows",
            "12",
            "--batch-size",
            "5",
            "--jobs",
            "2",
        ],
    );
    assert_eq!(walked["steps"][0]["parts"], parts, "{walked}");
    assert_eq!(walked["steps"][0]["deleted"], 12, "{walked}");
    assert_eq!(eligible(&db, "images").await, GONE - 22);
});
