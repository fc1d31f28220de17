//! `--online` against a live writer: a loop inserting into `images` (200 000 rows) while
//! `db expand` adds Glance's Rocky indexes to it. The writer's lock wait is bounded by the
//! server (`lock_timeout` on PostgreSQL, `lock_wait_timeout` on MariaDB): with `--online` no
//! insert may exceed it; without, PostgreSQL's plain CREATE INDEX (SHARE, held until the phase
//! commits) is seen to make it wait. And a run killed during `CREATE INDEX CONCURRENTLY`
//! leaves an invalid index that the next run drops and builds again.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::seed::seed_images_with_visibility;
use common::{Gm, TestDb, gm};
use glance_manage::exec::Conn;
use glance_manage::schema::model::Dialect;

const ROWS: u32 = 200_000;

/// Queens with `ROWS` images and Rocky's three image columns already there, so that on
/// `images` the expand phase only builds Rocky's two indexes.
async fn queens_ready_for_rocky_indexes(db: &TestDb) {
    let r = gm(&db.url, &["db", "sync", "queens_contract01"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    seed_images_with_visibility(db, ROWS).await;
    let cols = match db.dialect {
        Dialect::Postgres => {
            "ADD COLUMN os_hidden BOOLEAN NOT NULL DEFAULT false, \
             ADD COLUMN os_hash_algo VARCHAR(64), ADD COLUMN os_hash_value VARCHAR(128)"
        }
        _ => {
            "ADD COLUMN os_hidden BOOL NOT NULL DEFAULT false, \
             ADD COLUMN os_hash_algo VARCHAR(64) NULL, ADD COLUMN os_hash_value VARCHAR(128) NULL"
        }
    };
    db.exec(&format!("ALTER TABLE images {cols}")).await;
    // The plan touches `images` only with the index builds.
    let r = gm(&db.url, &["db", "plan", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let on_images: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] != "data" && s["hazard"]["locked"][0] == "images")
        .map(|s| s["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        on_images,
        [
            "add index os_hash_value_image_idx on images (os_hash_value)",
            "add index os_hidden_image_idx on images (os_hidden)"
        ]
    );
}

/// What the writer saw while `db expand` ran.
struct Writes {
    committed: u64,
    /// Inserts that waited for a lock longer than the bound.
    timed_out: u64,
}

/// Runs `db expand [extra]` while a writer inserts into `images` one row per transaction,
/// every insert bounded by the server's lock timeout.
async fn expand_under_writer(db: &TestDb, extra: &[&str]) -> Writes {
    let mut writer = db.conn().await;
    match db.dialect {
        // Any lock wait at all on `images` fails the insert.
        Dialect::Postgres => writer.execute("SET lock_timeout = '1ms'").await.unwrap(),
        // MariaDB's smallest bound is a second.
        _ => {
            writer
                .execute("SET SESSION lock_wait_timeout = 1")
                .await
                .unwrap();
            writer
                .execute("SET SESSION innodb_lock_wait_timeout = 1")
                .await
                .unwrap()
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let timed_out = Arc::new(AtomicU64::new(0));
    let (s, c, t) = (stop.clone(), committed.clone(), timed_out.clone());
    let dialect = db.dialect;
    let task = tokio::spawn(async move {
        let mut i = 0u64;
        while !s.load(Ordering::SeqCst) {
            i += 1;
            let sql = format!(
                "INSERT INTO images (id, name, status, created_at, deleted, min_disk, min_ram, \
                 protected, visibility) VALUES ('w-{i}', 'w', 'active', '2020-01-01 00:00:00', \
                 {f}, 0, 0, {f}, 'public')",
                f = if dialect == Dialect::Postgres {
                    "FALSE"
                } else {
                    "0"
                }
            );
            match writer.execute(&sql).await {
                Ok(_) => {
                    c.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => {
                    let code = e
                        .as_database_error()
                        .and_then(|d| d.code())
                        .map(|c| c.to_string());
                    // 55P03: lock_timeout; HY000 1205: lock wait timeout.
                    assert!(
                        matches!(code.as_deref(), Some("55P03") | Some("HY000")),
                        "writer failed otherwise: {e}"
                    );
                    t.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        writer.close().await;
    });
    // The writer is committing before the expand starts.
    while committed.load(Ordering::SeqCst) < 20 {
        tokio::task::yield_now().await;
    }
    let before = committed.load(Ordering::SeqCst);
    let mut args: Vec<String> = vec!["db".into(), "expand".into()];
    args.extend(extra.iter().map(|a| a.to_string()));
    let url = db.url.clone();
    let out = tokio::task::spawn_blocking(move || Gm::new().url(&url).args(args).run())
        .await
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    task.await.unwrap();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    Writes {
        committed: committed.load(Ordering::SeqCst) - before,
        timed_out: timed_out.load(Ordering::SeqCst),
    }
}

async fn index_valid(db: &TestDb, name: &str) -> bool {
    db.count(&format!(
        "SELECT COUNT(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname = '{name}' AND i.indisvalid"
    ))
    .await
        == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_online_expand_never_blocks_the_writer() {
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    queens_ready_for_rocky_indexes(&db).await;
    let w = expand_under_writer(&db, &["--online"]).await;
    assert!(w.committed > 0, "the writer committed during the expand");
    assert_eq!(w.timed_out, 0, "an insert waited for a lock under --online");
    assert!(index_valid(&db, "os_hash_value_image_idx").await);
    assert!(index_valid(&db, "os_hidden_image_idx").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_plain_expand_blocks_the_writer() {
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    queens_ready_for_rocky_indexes(&db).await;
    let w = expand_under_writer(&db, &[]).await;
    // CREATE INDEX takes SHARE until the phase commits: inserts wait.
    assert!(
        w.timed_out > 0,
        "the writer never waited ({} commits)",
        w.committed
    );
    assert!(index_valid(&db, "os_hidden_image_idx").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_online_expand_never_blocks_the_writer() {
    let Some(db) = TestDb::create(Dialect::Mysql).await else {
        return;
    };
    queens_ready_for_rocky_indexes(&db).await;
    let w = expand_under_writer(&db, &["--online"]).await;
    assert!(w.committed > 0, "the writer committed during the expand");
    assert_eq!(
        w.timed_out, 0,
        "an insert waited over a second under --online"
    );
    let n = db
        .count(
            "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
             AND INDEX_NAME IN ('os_hash_value_image_idx', 'os_hidden_image_idx')",
        )
        .await;
    assert_eq!(n, 2);
}

/// Finds the backend running `CREATE INDEX CONCURRENTLY` while it waits (for the snapshot
/// `holder` keeps), and terminates it: the run dies with the index built but invalid.
async fn kill_during_concurrently(admin: &mut Conn) -> i64 {
    loop {
        let rows = admin
            .query(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%' \
                 AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
            )
            .await
            .unwrap();
        if let Some(pid) = rows.first().and_then(|r| r[0].as_i64()) {
            admin
                .execute(&format!("SELECT pg_terminate_backend({pid})"))
                .await
                .unwrap();
            return pid;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_concurrently_converges_on_the_next_run() {
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    queens_ready_for_rocky_indexes(&db).await;
    let heads_before = db.version_rows().await;
    // An open snapshot: CREATE INDEX CONCURRENTLY waits for it before marking the index valid.
    let mut holder = db.conn().await;
    holder
        .execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    holder.query("SELECT COUNT(*) FROM images").await.unwrap();
    let url = db.url.clone();
    let child = Gm::new()
        .url(&url)
        .args(["db", "expand", "--online"])
        .spawn();
    let mut admin = db.conn().await;
    kill_during_concurrently(&mut admin).await;
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0), "the killed run failed");
    holder.execute("ROLLBACK").await.unwrap();
    holder.close().await;
    admin.close().await;
    let invalid = "SELECT COUNT(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   WHERE NOT i.indisvalid AND n.nspname = current_schema()";
    assert_eq!(db.count(invalid).await, 1, "the kill left an invalid index");
    assert_eq!(db.version_rows().await, heads_before);

    // The next run drops it and builds it again.
    let r = gm(&db.url, &["db", "expand", "--online"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(db.count(invalid).await, 0);
    assert!(index_valid(&db, "os_hash_value_image_idx").await);
    assert!(index_valid(&db, "os_hidden_image_idx").await);
    assert_eq!(
        db.version_rows().await,
        ["2024_1_expand01", "queens_contract01"]
    );
    // Nothing is left to repair.
    let r = gm(&db.url, &["db", "plan", "2024_1_expand01"]);
    assert!(r.stdout.contains("nothing to do"), "{}", r.stdout);
}

#[tokio::test]
async fn sqlite_online_refuses_row_work_and_changes_nothing() {
    let Some(db) = TestDb::create(Dialect::Sqlite).await else {
        return;
    };
    let r = gm(&db.url, &["db", "sync", "queens_contract01"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    seed_images_with_visibility(&db, 100).await;
    let bytes = std::fs::read(&db.name).unwrap();
    let r = gm(&db.url, &["db", "sync", "--online"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--online"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("CREATE INDEX \"os_hash_value_image_idx\" ON \"images\""),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(&db.name).unwrap(),
        bytes,
        "the file is unchanged"
    );
}
