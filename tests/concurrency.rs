//! Races: 2 and 4 `db sync` processes started together, on a fresh and on a populated
//! liberty-era database, on SQLite, PostgreSQL and MariaDB: all exit 0, exactly one applies the
//! migration ("Database is synced successfully.") and the others, having waited for the lock,
//! find nothing to do ("Database is up to date. No migrations needed."); the version table
//! ends with the contract head alone and there is no drift. Then 2 and 4 `db purge` runs (and
//! 2 `db purge_images_table` runs) at once: all exit 0, and the per-run "Deleted N row(s)"
//! lines add up, table by table, to exactly the rows seeded — none purged twice, none missed.

mod common;

use std::collections::BTreeMap;
use std::process::Child;

use common::{Gm, Run, TestDb, gm};
use glance_manage::schema::model::Dialect;

const HEAD: &str = "2024_1_contract01";

fn spawn(url: &str, args: &[&str]) -> Child {
    Gm::new().url(url).args(args).spawn()
}

fn wait(c: Child) -> Run {
    Run::from_output(c.wait_with_output().expect("wait"))
}

/// Starts `n` processes with the same arguments at once and waits for all of them.
fn together(url: &str, args: &[&str], n: usize) -> Vec<Run> {
    let children: Vec<Child> = (0..n).map(|_| spawn(url, args)).collect();
    children.into_iter().map(wait).collect()
}

async fn seed_liberty(db: &TestDb) {
    assert_eq!(gm(&db.url, &["db", "upgrade", "liberty"]).code, 0);
    let mut images = Vec::new();
    let mut props = Vec::new();
    for i in 0..30 {
        images.push(format!(
            "('img-{i}', 'n{i}', 'active', {}, '2015-10-01 00:00:00', FALSE, 0, 0, FALSE)",
            if i % 3 == 0 { "TRUE" } else { "FALSE" }
        ));
        props.push(format!(
            "('img-{i}', 'k', 'v{i}', '2015-10-01 00:00:00', FALSE)"
        ));
    }
    db.exec(&format!(
        "INSERT INTO images (id, name, status, is_public, created_at, deleted, min_disk, min_ram, protected) VALUES {}",
        images.join(", ")
    ))
    .await;
    db.exec(&format!(
        "INSERT INTO image_properties (image_id, name, value, created_at, deleted) VALUES {}",
        props.join(", ")
    ))
    .await;
    db.exec(
        "INSERT INTO image_members (image_id, member, can_share, created_at, deleted, status) VALUES \
         ('img-1', 'tenant-a', FALSE, '2015-10-02 00:00:00', FALSE, 'accepted')",
    )
    .await;
}

async fn sync_race(dialect: Dialect, n: usize, populated: bool) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    if populated {
        seed_liberty(&db).await;
    }
    let runs = together(&db.url, &["db", "sync"], n);
    let ctx = format!("{dialect}: {n} syncs at once (populated: {populated})");
    for r in &runs {
        assert_eq!(r.code, 0, "{ctx}: {r:?}");
        assert!(!r.stderr.contains("panicked"), "{ctx}: {r:?}");
    }
    assert_eq!(runs.len(), n, "{ctx}");
    common::assert_one_sync_applied(&runs, &ctx);
    assert_eq!(db.version_rows().await, vec![HEAD], "{ctx}");
    let d = gm(&db.url, &["db", "drift"]);
    assert_eq!(d.code, 0, "{ctx}: {d:?}");
    if populated {
        assert_eq!(db.count("SELECT COUNT(*) FROM images").await, 30, "{ctx}");
        assert_eq!(
            db.count("SELECT COUNT(*) FROM images WHERE visibility = 'public'")
                .await,
            10,
            "{ctx}"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) FROM images WHERE visibility = 'shared'")
                .await,
            1,
            "{ctx}"
        );
        assert_eq!(db.count("SELECT COUNT(*) FROM image_properties").await, 30);
    }
}

/// 2 and 4 syncs of a fresh database, 4 of a populated liberty-era one.
async fn sync_races(dialect: Dialect) {
    sync_race(dialect, 2, false).await;
    sync_race(dialect, 4, false).await;
    sync_race(dialect, 4, true).await;
}

per_dialect!(sync_races);

// ---------------------------------------------------------------------------------------------
// Purge races

const OLD: &str = "'2001-02-03 04:05:06'";
const NOW: &str = "'2024-01-01 00:00:00'";

/// Rows `db purge --age_in_days 30` must delete, per table.
fn expected_purge() -> BTreeMap<String, u64> {
    [
        ("image_properties", 20 * 15),
        ("image_tags", 20 * 5),
        ("image_members", 20 * 3),
        ("image_locations", 20 * 2),
        ("tasks", 50),
        ("task_info", 40),
    ]
    .iter()
    .map(|(t, n)| (t.to_string(), *n))
    .collect()
}

/// 20 live images, each with soft-deleted (and a few live) children; 50 soft-deleted tasks (40
/// with task_info) and 5 live ones; 30 soft-deleted images without children.
async fn seed_purge(db: &TestDb) {
    let mut images = Vec::new();
    let (mut props, mut tags, mut members, mut locs) = (vec![], vec![], vec![], vec![]);
    for i in 0..20 {
        images.push(format!(
            "('live-{i}', 'l', 'active', {NOW}, NULL, FALSE, 0, 0, FALSE, 'shared', FALSE)"
        ));
        for k in 0..17 {
            let (at, del) = if k < 15 {
                (OLD, "TRUE")
            } else {
                ("NULL", "FALSE")
            };
            props.push(format!("('live-{i}', 'p{k}', 'v', {NOW}, {at}, {del})"));
        }
        for k in 0..6 {
            let (at, del) = if k < 5 {
                (OLD, "TRUE")
            } else {
                ("NULL", "FALSE")
            };
            tags.push(format!("('live-{i}', 't{k}', {NOW}, {at}, {del})"));
        }
        for k in 0..3 {
            members.push(format!(
                "('live-{i}', 'm{k}', FALSE, {NOW}, {OLD}, TRUE, 'accepted')"
            ));
        }
        for k in 0..2 {
            locs.push(format!(
                "('live-{i}', 'file:///{i}/{k}', {NOW}, {OLD}, TRUE, '{{}}', 'active')"
            ));
        }
    }
    for i in 0..30 {
        images.push(format!(
            "('dead-{i}', 'd', 'deleted', {NOW}, {OLD}, TRUE, 0, 0, FALSE, 'private', FALSE)"
        ));
    }
    db.exec(&format!(
        "INSERT INTO images (id, name, status, created_at, deleted_at, deleted, min_disk, min_ram, protected, visibility, os_hidden) VALUES {}",
        images.join(", ")
    ))
    .await;
    db.exec(&format!(
        "INSERT INTO image_properties (image_id, name, value, created_at, deleted_at, deleted) VALUES {}",
        props.join(", ")
    ))
    .await;
    db.exec(&format!(
        "INSERT INTO image_tags (image_id, value, created_at, deleted_at, deleted) VALUES {}",
        tags.join(", ")
    ))
    .await;
    db.exec(&format!(
        "INSERT INTO image_members (image_id, member, can_share, created_at, deleted_at, deleted, status) VALUES {}",
        members.join(", ")
    ))
    .await;
    db.exec(&format!(
        "INSERT INTO image_locations (image_id, value, created_at, deleted_at, deleted, meta_data, status) VALUES {}",
        locs.join(", ")
    ))
    .await;
    let mut tasks = Vec::new();
    let mut infos = Vec::new();
    for i in 0..55 {
        let (at, del) = if i < 50 {
            (OLD, "TRUE")
        } else {
            ("NULL", "FALSE")
        };
        tasks.push(format!(
            "('task-{i}', 'import', 'success', 'o', {NOW}, {at}, {del})"
        ));
        if !(40..50).contains(&i) {
            infos.push(format!("('task-{i}', '{{}}', '{{}}', 'm')"));
        }
    }
    db.exec(&format!(
        "INSERT INTO tasks (id, type, status, owner, created_at, deleted_at, deleted) VALUES {}",
        tasks.join(", ")
    ))
    .await;
    db.exec(&format!(
        "INSERT INTO task_info (task_id, input, result, message) VALUES {}",
        infos.join(", ")
    ))
    .await;
}

/// Adds up the "Deleted N row(s) from table T" lines of all runs.
fn deleted_per_table(runs: &[Run]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in runs {
        for l in r.stdout.lines() {
            let Some(rest) = l.strip_prefix("Deleted ") else {
                continue;
            };
            let (n, table) = rest
                .split_once(" row(s) from table ")
                .unwrap_or_else(|| panic!("unexpected line {l:?}"));
            *m.entry(table.to_string()).or_insert(0) += n.parse::<u64>().unwrap();
        }
    }
    m.retain(|_, n| *n > 0);
    m
}

async fn purge_race(dialect: Dialect, n: usize) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    assert_eq!(gm(&db.url, &["db", "sync"]).code, 0);
    seed_purge(&db).await;
    let ctx = format!("{dialect}: {n} purges at once");
    let runs = together(
        &db.url,
        &[
            "db",
            "purge",
            "--age_in_days",
            "30",
            "--max_rows",
            "-1",
            "--batch-size",
            "7",
        ],
        n,
    );
    for r in &runs {
        assert_eq!(r.code, 0, "{ctx}: {r:?}");
        assert!(!r.stderr.contains("panicked"), "{ctx}: {r:?}");
    }
    assert_eq!(
        deleted_per_table(&runs),
        expected_purge(),
        "{ctx}: {runs:#?}"
    );
    // What is left: the live rows, and every image (db purge never touches images).
    for (table, left) in [
        ("image_properties", 40),
        ("image_tags", 20),
        ("image_members", 0),
        ("image_locations", 0),
        ("tasks", 5),
        ("task_info", 5),
        ("images", 50),
    ] {
        assert_eq!(
            db.count(&format!("SELECT COUNT(*) FROM {table}")).await,
            left,
            "{ctx}: {table}"
        );
    }
    // Then the 30 dead images, twice at once.
    let runs = together(
        &db.url,
        &[
            "db",
            "purge_images_table",
            "--age_in_days",
            "30",
            "--max_rows",
            "-1",
            "--batch-size",
            "4",
        ],
        2,
    );
    for r in &runs {
        assert_eq!(r.code, 0, "{ctx} (images): {r:?}");
    }
    let got = deleted_per_table(&runs);
    assert_eq!(got.get("images"), Some(&30), "{ctx}: {runs:#?}");
    assert_eq!(got.len(), 1, "{ctx}: {got:?}");
    assert_eq!(db.count("SELECT COUNT(*) FROM images").await, 20, "{ctx}");
}

/// 2 and 4 purges at once.
async fn purge_races(dialect: Dialect) {
    purge_race(dialect, 2).await;
    purge_race(dialect, 4).await;
}

per_dialect!(purge_races);
