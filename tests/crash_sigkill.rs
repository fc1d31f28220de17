//! Real SIGKILLs: the shipped `glance-manage db sync` killed while it is demonstrably in the
//! middle of upgrading a liberty-era database with `BULK` extra images (so that the `images`
//! rebuilds and the visibility data migration take a while), then `db sync` again converges.
//!
//! The kill is not timed: the test watches the database until the run has visibly started
//! writing (SQLite: its rollback journal exists; PostgreSQL: the expand phase has committed its
//! version rows; MariaDB: the expand DDL has added `images.visibility`), kills at once, and
//! then checks that the process died by the signal and what it left:
//! - SQLite: a hot journal on disk, and reading the file gives back exactly the starting state
//!   (one transaction per run);
//! - PostgreSQL: expand committed, migrate and contract not (one transaction per phase);
//! - MariaDB: a half-applied schema (`visibility` added, `is_public` not yet dropped), version
//!   rows not at the head.
//!
//! The next run must not wait for the dead process's migration lock (PostgreSQL advisory lock
//! and MySQL `GET_LOCK` are session-scoped; SQLite's file lock is the process's).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::liberty::{
    self, HEAD, Scenario, assert_converges, bulk_visibility, prepare, seed_bulk_images, stable_rows,
};
use common::{Gm, TestDb};
use glance_manage::schema::model::Dialect;

/// Extra images: enough that a sync takes seconds, so the watched moment is not its last.
const BULK: usize = 100_000;

/// Whether the run has visibly started changing the database (see the module comment).
async fn started(db: &TestDb) -> bool {
    match db.dialect {
        Dialect::Sqlite => journal(db).exists(),
        Dialect::Postgres => db.version_rows().await != vec!["liberty"],
        Dialect::Mysql => {
            db.count(
                "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 AND TABLE_NAME = 'images' AND COLUMN_NAME = 'visibility'",
            )
            .await
                == 1
        }
    }
}

fn journal(db: &TestDb) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}-journal", db.name))
}

async fn has_column(db: &TestDb, table: &str, column: &str) -> bool {
    let mut c = db.conn().await;
    let found = glance_manage::introspect::introspect(&mut c)
        .await
        .expect("introspect");
    c.close().await;
    found.schema.tables[table].column(column).is_some()
}

async fn sigkill_mid_run(dialect: Dialect) {
    let Some(db) = prepare(dialect, Scenario::Liberty).await else {
        return;
    };
    seed_bulk_images(&db, BULK).await;
    let before = stable_rows(&db).await;
    let start = liberty::state(&db).await;
    let mut child = Gm::new()
        .url(&db.url)
        .args(["db", "sync"])
        .command()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // A generous bound, only so that a run that never starts fails instead of hanging.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("{dialect}: the sync ended ({status}) before it was seen writing");
        }
        if started(&db).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{dialect}: the sync never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    let ctx = format!("{dialect} SIGKILL mid-run ({status})");
    assert_eq!(status.signal(), Some(9), "{ctx}: it must die by the signal");

    // What the dead run left, before anything repairs it.
    match dialect {
        Dialect::Sqlite => {
            assert!(journal(&db).exists(), "{ctx}: no hot journal left");
            // Opening the file rolls the journal back: exactly the starting state.
            assert_eq!(liberty::state(&db).await, start, "{ctx}");
        }
        Dialect::Postgres => {
            let versions = db.version_rows().await;
            assert!(
                versions != vec!["liberty"] && versions != vec![HEAD],
                "{ctx}: version rows {versions:?}"
            );
            assert!(has_column(&db, "images", "visibility").await, "{ctx}");
            assert!(has_column(&db, "images", "is_public").await, "{ctx}");
            // The migrate phase rolled back: no visibility computed yet.
            assert_eq!(
                db.count("SELECT COUNT(*) FROM images WHERE visibility IS NOT NULL")
                    .await,
                0,
                "{ctx}"
            );
        }
        Dialect::Mysql => {
            assert_ne!(db.version_rows().await, vec![HEAD], "{ctx}");
            assert!(has_column(&db, "images", "visibility").await, "{ctx}");
            assert!(has_column(&db, "images", "is_public").await, "{ctx}");
        }
    }

    assert_converges(&db, Scenario::Liberty, &before, None, &ctx).await;
    let public = BULK / 3;
    assert_eq!(
        bulk_visibility(&db).await,
        vec![
            vec!["private".to_string(), (BULK - public).to_string()],
            vec!["public".to_string(), public.to_string()],
        ],
        "{ctx}: the bulk images after convergence"
    );
}

per_dialect!(sigkill_mid_run);
