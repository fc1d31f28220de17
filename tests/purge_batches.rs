//! Time-targeted purge batches on SQLite, PostgreSQL and MariaDB: the walk deletes exactly the
//! eligible rows whatever the batch sizes (`--batch-size 1`, a tiny and a huge
//! `--batch-seconds`), the sizes reported follow the controller (×4 per fast batch from 100,
//! the floor after slow ones), the cron window taken by keys, Galera's write-set row limit
//! as a cap (set on a plain MariaDB server, which reads it the same way), and a row another
//! transaction holds waited for, then deleted.

mod common;

use common::purge::{finish_json, json, spawn_json};
use common::{Gm, TestDb};
use glance_manage::purge::{format_utc_micros, now_micros};
use glance_manage::schema::model::Dialect;

/// Images seeded; every second one is soft-deleted.
const IMAGES: usize = 40;
/// Properties per image: 20 × 25 = 500 eligible rows of image_properties.
const PROPS: usize = 25;
const ELIGIBLE_PROPS: i64 = (IMAGES / 2 * PROPS) as i64;

/// The write-set test changes a server-global variable that caps every purge's batches: the
/// tests that assert batch sizes wait for it (read), it waits for them (write).
static SERVER_GLOBALS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn ago(secs: i64) -> String {
    format!("'{}'", format_utc_micros(now_micros() - secs * 1_000_000))
}

/// `db sync`, then [`IMAGES`] images with [`PROPS`] properties and a tag each
/// ([`common::purge::seed_bulk`]).
async fn seeded(db: &TestDb) {
    common::purge::seed_bulk(db, IMAGES, PROPS, 1).await;
}

fn step<'a>(report: &'a serde_json::Value, table: &str) -> &'a serde_json::Value {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["table"] == table)
        .unwrap_or_else(|| panic!("no step for {table}: {report}"))
}

async fn left(db: &TestDb, table: &str) -> i64 {
    db.count(&format!("SELECT COUNT(*) FROM {table}")).await
}

/// Runs the unlimited purge with `extra` options on a freshly seeded database and checks that
/// exactly the eligible rows went; returns the image_properties step.
async fn unlimited(db: &TestDb, extra: &[&str]) -> serde_json::Value {
    let _shared = SERVER_GLOBALS.read().await;
    seeded(db).await;
    let mut args = vec!["db", "purge", "--age_in_days", "1", "--max_rows", "-1"];
    args.extend(extra);
    let report = json(db, &args);
    assert_eq!(
        report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == "image_properties")
            .unwrap()["deleted"],
        ELIGIBLE_PROPS,
        "{extra:?}"
    );
    assert_eq!(
        left(db, "image_properties").await,
        (IMAGES * PROPS) as i64 - ELIGIBLE_PROPS,
        "{extra:?}"
    );
    assert_eq!(
        left(db, "image_tags").await,
        (IMAGES / 2) as i64,
        "{extra:?}"
    );
    assert_eq!(
        left(db, "images").await,
        IMAGES as i64,
        "OSSN-0075: db purge keeps images"
    );
    step(&report, "image_properties").clone()
}

for_each_backend!(fast_batches_grow_fourfold, |db: TestDb| async move {
    // Every batch is far under an hour: 100, then 400 (which takes the last of the 500 rows);
    // the walk then finds nothing more.
    let s = unlimited(&db, &["--batch-seconds", "3600"]).await;
    assert_eq!(s["largest_batch"], 400, "{s}");
    assert_eq!(s["batches"], 2, "{s}");
    assert_eq!(s["retries"], 0, "{s}");
});

for_each_backend!(slow_batches_stay_at_the_floor, |db: TestDb| async move {
    // Every batch is far over a microsecond: the size never leaves the floor of 100.
    let s = unlimited(&db, &["--batch-seconds", "0.000001"]).await;
    assert_eq!(s["largest_batch"], 100, "{s}");
    assert_eq!(s["batches"], 5, "{s}");
    assert!(s["slowest_batch_seconds"].as_f64().unwrap() > 0.0, "{s}");
});

for_each_backend!(batch_size_one_is_the_cap, |db: TestDb| async move {
    let s = unlimited(&db, &["--batch-size", "1", "--batch-seconds", "3600"]).await;
    assert_eq!(s["largest_batch"], 1, "{s}");
    assert_eq!(s["batches"], ELIGIBLE_PROPS, "{s}");
});

for_each_backend!(cron_window_by_keys, |db: TestDb| async move {
    seeded(&db).await;
    // Glance's pick: the 30 oldest eligible properties by deleted_at, then id. Image i was
    // deleted 2 days − i seconds ago: image 1's properties are the oldest, then image 3's.
    let report = json(
        &db,
        &["db", "purge", "--age_in_days", "1", "--max_rows", "30"],
    );
    let s = step(&report, "image_properties");
    assert_eq!(s["deleted"], 30, "{s}");
    assert!(
        s["sql"]["window_end"]
            .as_str()
            .unwrap()
            .starts_with("SELECT t."),
        "the window is read as keys: {s}"
    );
    // Image 1 owns ids 26..=50, image 3 ids 76..=100: the first 30 in Glance's order are
    // 26..=50 and 76..=80.
    let gone: Vec<i64> = (1..=(IMAGES * PROPS) as i64)
        .filter(|id| (26..=50).contains(id) || (76..=80).contains(id))
        .collect();
    let ids = db
        .rows("SELECT id FROM image_properties WHERE id BETWEEN 26 AND 100 ORDER BY id")
        .await;
    let ids: Vec<i64> = ids.iter().map(|r| r[0].parse().unwrap()).collect();
    for g in &gone {
        assert!(!ids.contains(g), "property {g} should be gone");
    }
    assert_eq!(ids.len(), 75 - 30, "{ids:?}");
    assert_eq!(step(&report, "image_tags")["deleted"], 20);
});

for_each_backend!(guards_only_on_demand, |db: TestDb| async move {
    seeded(&db).await;
    json(
        &db,
        &["db", "purge", "--age_in_days", "1", "--max_rows", "-1"],
    );
    // A live tag on deleted image 3: purge_images_table refuses whole, as before.
    let image3 = "00000000-0000-0000-0000-000000000003";
    db.exec(&format!(
        "INSERT INTO image_tags (id, image_id, value, created_at, deleted) VALUES (1000, '{image3}', 'live', {}, FALSE)",
        ago(0)
    ))
    .await;
    let args = [
        "db",
        "purge_images_table",
        "--age_in_days",
        "1",
        "--max_rows",
        "-1",
    ];
    let r = Gm::new().url(&db.url).args(args).run();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        left(&db, "images").await,
        IMAGES as i64,
        "the refusal deleted nothing"
    );
    // --skip-referenced: the walk starts without the guards the FKs duplicate, fails one batch
    // on the FK, runs it again guarded and keeps image 3.
    let mut skip = args.to_vec();
    skip.extend(["--skip-referenced", "--batch-seconds", "3600"]);
    let report = json(&db, &skip);
    let s = step(&report, "images");
    assert_eq!(s["deleted"], (IMAGES / 2 - 1) as u64, "{s}");
    assert_eq!(s["skipped"], 1, "{s}");
    assert_eq!(s["guard_fallbacks"], 1, "{s}");
    assert_eq!(s["referenced_by"][0], "image_tags", "{s}");
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) FROM images WHERE id = '{image3}'"
        ))
        .await,
        1
    );
    assert_eq!(left(&db, "images").await, (IMAGES / 2 + 1) as i64);
});

/// Galera's `wsrep_max_ws_rows` as the batch cap. The variable is global only; on a plain
/// server it limits nothing else, and the purge reads it whether or not `wsrep_on` is set.
#[tokio::test]
async fn write_set_row_limit_caps_every_batch() {
    let Some(db) = TestDb::create(Dialect::Mysql).await else {
        return;
    };
    seeded(&db).await;
    let _alone = SERVER_GLOBALS.write().await;
    db.exec("SET GLOBAL wsrep_max_ws_rows = 50").await;
    let r = Gm::new()
        .url(&db.url)
        .args(["db", "purge", "--age_in_days", "1", "--max_rows", "-1"])
        .args(["--batch-seconds", "3600", "--format", "json"])
        .run();
    db.exec("SET GLOBAL wsrep_max_ws_rows = 0").await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["write_set_limits"]["max_ws_rows"], 50, "{report}");
    let s = step(&report, "image_properties");
    assert_eq!(s["deleted"], ELIGIBLE_PROPS);
    assert_eq!(s["batch_cap"], 50, "{s}");
    assert_eq!(s["largest_batch"], 50, "{s}");
    assert_eq!(s["batches"], ELIGIBLE_PROPS / 50, "{s}");
    for st in report["steps"].as_array().unwrap() {
        assert!(st["largest_batch"].as_u64().unwrap() <= 50, "{st}");
    }
}

for_each_backend!(a_held_row_is_waited_for, |db: TestDb| async move {
    seeded(&db).await;
    // Property 30 (of deleted image 1, in the first batch) is held by another transaction: the
    // purge waits for it rather than passing it by (PostgreSQL's batches take no row locks of
    // their own, benches/PURGE-DESIGN.md §6), then deletes it once it is released.
    let mut holder = db.conn().await;
    let hold = match db.dialect {
        Dialect::Sqlite => {
            "BEGIN IMMEDIATE; UPDATE image_properties SET value = value WHERE id = 30"
        }
        Dialect::Postgres => "BEGIN; SELECT id FROM image_properties WHERE id = 30 FOR UPDATE",
        Dialect::Mysql => {
            "START TRANSACTION; SELECT id FROM image_properties WHERE id = 30 FOR UPDATE"
        }
    };
    holder.execute(hold).await.unwrap();
    let mut child = spawn_json(
        &db,
        &["db", "purge", "--age_in_days", "1", "--max_rows", "-1"],
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let waiting = child.try_wait().unwrap().is_none();
    holder.execute("ROLLBACK").await.unwrap();
    holder.close().await;
    let report = finish_json(child);
    assert!(waiting, "the purge did not wait for the held row");
    assert_eq!(step(&report, "image_properties")["deleted"], ELIGIBLE_PROPS);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM image_properties WHERE id = 30")
            .await,
        0
    );
});

#[test]
fn batch_seconds_must_be_positive() {
    for bad in ["0", "-1", "abc", "inf"] {
        let r = Gm::new()
            .url("sqlite:///nonexistent.db")
            .args(["db", "purge", "--batch-seconds", bad])
            .run();
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains("--batch-seconds"), "{bad}: {}", r.stderr);
    }
}
