//! Execution guarantees on SQLite, PostgreSQL and MariaDB:
//! - `--lock-timeout 0` fails at once, non-zero, naming the holder where the backend can tell,
//!   while another connection holds the migration lock;
//! - the version table is never seen empty by another session while an upgrade moves the
//!   version row (it used to be, on MySQL: `CREATE TABLE IF NOT EXISTS` committed the DELETE
//!   before the INSERT);
//! - data migrations run in key-range batches (1000 rows) and still migrate every row.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use common::{Gm, TestDb, gm};
use glance_manage::schema::model::Dialect;

const HEAD: &str = "2024_1_contract01";

async fn lock_timeout_zero(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    assert_eq!(gm(&db.url, &["db", "sync"]).code, 0);
    let key = format!("glance-manage:{}", db.db_url().database);
    let mut holder = db.conn().await;
    let hold = match dialect {
        Dialect::Postgres => format!("SELECT pg_advisory_lock(hashtext('{key}'))"),
        Dialect::Mysql => format!("SELECT GET_LOCK('{key}', 10)"),
        Dialect::Sqlite => "BEGIN IMMEDIATE".to_string(),
    };
    holder.execute(&hold).await.expect("hold the lock");
    let r = Gm::new()
        .url(&db.url)
        .args(["--lock-timeout", "0", "db", "sync"])
        .run();
    assert_ne!(r.code, 0, "{dialect}: {r:?}");
    assert!(
        r.stderr.contains("another glance-manage run is migrating")
            && r.stderr.contains("not waiting (--lock-timeout 0)"),
        "{dialect}: {r:?}"
    );
    if dialect != Dialect::Sqlite {
        assert!(r.stderr.contains("held by"), "{dialect}: {r:?}");
    }
    assert!(!r.stderr.contains("panicked"), "{r:?}");
    // Released: the same command goes through.
    let release = match dialect {
        Dialect::Postgres => format!("SELECT pg_advisory_unlock(hashtext('{key}'))"),
        Dialect::Mysql => format!("SELECT RELEASE_LOCK('{key}')"),
        Dialect::Sqlite => "COMMIT".to_string(),
    };
    holder.execute(&release).await.expect("release");
    holder.close().await;
    let r = Gm::new()
        .url(&db.url)
        .args(["--lock-timeout", "0", "db", "sync"])
        .run();
    assert_eq!(r.code, 0, "{dialect}: {r:?}");
}

per_dialect!(lock_timeout_zero);

/// Walks `db upgrade` revision by revision from liberty while another session counts the
/// version rows as fast as it can: it never sees none.
async fn version_row_never_missing(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    assert_eq!(gm(&db.url, &["db", "upgrade", "liberty"]).code, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let (min, polls) = (
        Arc::new(AtomicI64::new(i64::MAX)),
        Arc::new(AtomicI64::new(0)),
    );
    let url = db.db_url();
    let poller = {
        let (stop, min, polls) = (stop.clone(), min.clone(), polls.clone());
        tokio::spawn(async move {
            let mut c =
                glance_manage::exec::Conn::connect(&url, glance_manage::exec::OpenMode::Existing)
                    .await
                    .expect("poller connects");
            while !stop.load(Ordering::SeqCst) {
                // SQLite: a read while the upgrade holds the write lock waits (busy_timeout).
                if let Ok(Some(n)) = c.query_i64("SELECT COUNT(*) FROM alembic_version").await {
                    min.fetch_min(n, Ordering::SeqCst);
                    polls.fetch_add(1, Ordering::SeqCst);
                }
                // A millisecond between reads: often enough to land between two statements,
                // gentle enough for a shared machine.
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            c.close().await;
        })
    };
    let revs = glance_manage::revisions::RevisionSet::builtin().unwrap();
    let order: Vec<String> = revs.walk_order().iter().map(|s| s.to_string()).collect();
    let from = order.iter().position(|r| r == "liberty").unwrap() + 1;
    for rev in &order[from..] {
        let url = db.url.clone();
        let rev2 = rev.clone();
        // A loaded machine can be slow to accept a connection: wait longer than the default.
        let r = tokio::task::spawn_blocking(move || {
            common::gm_env(
                &url,
                &["db", "upgrade", &rev2],
                &[("GLANCE_MANAGE_CONNECT_TIMEOUT", "120")],
            )
        })
        .await
        .unwrap();
        assert_eq!(r.code, 0, "{dialect}: upgrade {rev}: {r:?}");
    }
    stop.store(true, Ordering::SeqCst);
    poller.await.unwrap();
    assert_eq!(db.version_rows().await, vec![HEAD], "{dialect}");
    assert!(
        polls.load(Ordering::SeqCst) > 0,
        "{dialect}: the poller never read"
    );
    assert_eq!(
        min.load(Ordering::SeqCst),
        1,
        "{dialect}: another session saw the version table without its row ({} polls)",
        polls.load(Ordering::SeqCst)
    );
}

mod version_row {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        version_row_never_missing(Dialect::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        version_row_never_missing(Dialect::Postgres).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        version_row_never_missing(Dialect::Mysql).await;
    }
}

/// 2500 liberty-era images (a third public, every tenth shared) and 1200 locations whose
/// metadata names a `backend`: `db sync` migrates them all, in batches.
async fn data_migrations_batched(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    assert_eq!(gm(&db.url, &["db", "upgrade", "liberty"]).code, 0);
    let (mut images, mut members, mut locs) = (vec![], vec![], vec![]);
    for i in 0..2500 {
        images.push(format!(
            "('img-{i:05}', 'n', 'active', {}, '2015-10-01 00:00:00', FALSE, 0, 0, FALSE)",
            if i % 3 == 0 { "TRUE" } else { "FALSE" }
        ));
        if i % 10 == 1 {
            members.push(format!(
                "('img-{i:05}', 'tenant', FALSE, '2015-10-01 00:00:00', FALSE, 'accepted')"
            ));
        }
        if i < 1200 {
            locs.push(format!(
                "('img-{i:05}', 'file:///{i}', '2015-10-01 00:00:00', FALSE, '{{\"backend\": \"fast\"}}', 'active')"
            ));
        }
    }
    for chunk in images.chunks(500) {
        db.exec(&format!(
            "INSERT INTO images (id, name, status, is_public, created_at, deleted, min_disk, min_ram, protected) VALUES {}",
            chunk.join(", ")
        ))
        .await;
    }
    db.exec(&format!(
        "INSERT INTO image_members (image_id, member, can_share, created_at, deleted, status) VALUES {}",
        members.join(", ")
    ))
    .await;
    for chunk in locs.chunks(400) {
        db.exec(&format!(
            "INSERT INTO image_locations (image_id, value, created_at, deleted, meta_data, status) VALUES {}",
            chunk.join(", ")
        ))
        .await;
    }
    let r = gm(&db.url, &["db", "sync", "--format", "json"]);
    assert_eq!(r.code, 0, "{dialect}: {r:?}");
    let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let steps = report["data_migrations"]
        .as_array()
        .expect("data_migrations");
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["name"].as_str().is_some_and(|n| n.contains(name)))
            .unwrap_or_else(|| panic!("{dialect}: no step {name}: {steps:?}"))
    };
    let vis = step("community_images");
    assert_eq!(vis["rows"], 2500, "{dialect}: {vis}");
    // public: 834 rows (1 batch), shared: 167 (1), private: 1499 (2).
    assert_eq!(vis["batches"], 4, "{dialect}: {vis}");
    let store = step("backend_to_store");
    assert_eq!(store["rows"], 1200, "{dialect}: {store}");
    assert_eq!(store["batches"], 2, "{dialect}: {store}");
    let count = |sql: &'static str| db.count(sql);
    assert_eq!(
        count("SELECT COUNT(*) FROM images WHERE visibility = 'public'").await,
        834
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM images WHERE visibility = 'shared'").await,
        167
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM images WHERE visibility IS NULL").await,
        0
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM image_locations WHERE meta_data LIKE '%backend%'").await,
        0
    );
    assert_eq!(db.version_rows().await, vec![HEAD], "{dialect}");
}

per_dialect!(data_migrations_batched);
