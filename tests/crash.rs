//! Crash convergence: `db sync` stopped after the k-th statement of its plan, for every k (or a
//! spread of k, see `coverage`), on a fresh and on a populated liberty-era database, on SQLite,
//! PostgreSQL and MariaDB; then `db sync` again must finish the job: exit 0, no drift, the
//! version table holds exactly the contract head, and every seeded row is still there with its
//! values (and the `visibility`, metadef-rename and `backend`→`store` data migrations done).
//!
//! The kill point is made deterministic by `GLANCE_MANAGE_FAIL_AFTER=k` (the executor stops
//! before statement k+1 as if killed). A few real SIGKILLs at 50/150/400 ms check that the
//! migration lock dies with the process (PostgreSQL advisory lock and MySQL `GET_LOCK` are
//! session-scoped; SQLite's file lock is the process's).
//!
//! Environment knobs: `GM_CRASH_JOBS` (parallel k workers per test, default 2) and
//! `GM_CRASH_SPREAD=1` (on MariaDB only the first, the last and every third kill point, for a
//! quicker run by hand; CI covers every kill point on every backend).

mod common;

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Gm, Run, TestDb, gm, gm_env};
use glance_manage::config::DbUrl;
use glance_manage::engine;
use glance_manage::exec::{Conn, OpenMode};
use glance_manage::revisions::RevisionSet;
use glance_manage::schema::model::Dialect;

const HEAD: &str = "2024_1_contract01";
const FAIL_AFTER: &str = "GLANCE_MANAGE_FAIL_AFTER";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// An empty database.
    Fresh,
    /// `db upgrade liberty`, then rows in images, members, properties, tags, locations, tasks,
    /// task_info and metadef_resource_types.
    Liberty,
}

/// A column rendered as text the same way before and after the upgrade.
fn txt(d: Dialect, col: &str) -> String {
    match d {
        Dialect::Mysql => format!("CAST({col} AS CHAR)"),
        _ => format!("CAST({col} AS TEXT)"),
    }
}

async fn seed_liberty(db: &TestDb) {
    db.exec(
        "INSERT INTO images (id, name, size, status, is_public, created_at, updated_at, deleted_at, deleted, \
         disk_format, container_format, checksum, owner, min_disk, min_ram, protected, virtual_size) VALUES \
         ('img-public', 'pub', 1024, 'active', TRUE, '2015-10-01 00:00:00', '2015-10-03 04:05:06', NULL, FALSE, 'qcow2', 'bare', 'd41d8cd98f00b204e9800998ecf8427e', 'tenant-a', 0, 0, FALSE, 4096), \
         ('img-shared', 'sh', NULL, 'active', FALSE, '2015-10-01 00:00:00', NULL, NULL, FALSE, 'raw', 'bare', NULL, 'tenant-a', 0, 0, FALSE, NULL), \
         ('img-private', 'pr''ivate', 5, 'queued', FALSE, '2015-10-01 00:00:00', NULL, NULL, FALSE, NULL, NULL, NULL, 'tenant-b', 0, 0, FALSE, NULL), \
         ('img-gone-member', 'gm', 7, 'active', FALSE, '2015-10-01 00:00:00', NULL, NULL, FALSE, 'iso', 'ovf', NULL, NULL, 1, 2, TRUE, 9), \
         ('img-deleted', 'old', 3, 'deleted', TRUE, '2015-09-01 00:00:00', NULL, '2015-09-02 00:00:00', TRUE, NULL, NULL, NULL, 'tenant-c', 0, 0, FALSE, NULL)",
    )
    .await;
    db.exec(
        "INSERT INTO image_members (image_id, member, can_share, created_at, deleted, status) VALUES \
         ('img-shared', 'tenant-x', FALSE, '2015-10-02 00:00:00', FALSE, 'accepted'), \
         ('img-shared', 'tenant-y', TRUE, '2015-10-02 00:00:00', FALSE, 'pending'), \
         ('img-gone-member', 'tenant-z', FALSE, '2015-10-02 00:00:00', TRUE, 'accepted')",
    )
    .await;
    db.exec(
        "INSERT INTO image_properties (image_id, name, value, created_at, deleted) VALUES \
         ('img-public', 'os_distro', 'debian', '2015-10-01 00:00:00', FALSE), \
         ('img-public', 'hw_disk_bus', 'virtio', '2015-10-01 00:00:00', FALSE), \
         ('img-private', 'note', 'quote '' and ; -- inside', '2015-10-01 00:00:00', FALSE)",
    )
    .await;
    db.exec(
        "INSERT INTO image_tags (image_id, value, created_at, deleted) VALUES \
         ('img-public', 'gold', '2015-10-01 00:00:00', FALSE), ('img-shared', 'beta', '2015-10-01 00:00:00', FALSE)",
    )
    .await;
    db.exec(
        "INSERT INTO image_locations (image_id, value, created_at, deleted, meta_data, status) VALUES \
         ('img-public', 'file:///var/lib/glance/images/img-public', '2015-10-01 00:00:00', FALSE, '{\"backend\": \"fast\"}', 'active'), \
         ('img-shared', 'rbd://pool/img-shared', '2015-10-01 00:00:00', FALSE, '{}', 'active')",
    )
    .await;
    db.exec(
        "INSERT INTO tasks (id, type, status, owner, expires_at, created_at, deleted) VALUES \
         ('task-1', 'import', 'success', 'tenant-a', '2015-11-01 00:00:00', '2015-10-01 00:00:00', FALSE), \
         ('task-2', 'import', 'failure', 'tenant-b', NULL, '2015-10-01 00:00:00', TRUE)",
    )
    .await;
    db.exec(
        "INSERT INTO task_info (task_id, input, result, message) VALUES \
         ('task-1', '{\"import_from\": \"http://example.com/x.img\"}', '{\"image_id\": \"img-public\"}', 'done')",
    )
    .await;
    db.exec(
        "INSERT INTO metadef_resource_types (name, protected, created_at) VALUES \
         ('OS::Nova::Instance', TRUE, '2015-10-01 00:00:00'), ('OS::Glance::Image', TRUE, '2015-10-01 00:00:00')",
    )
    .await;
}

/// Every seeded column that survives to the head unchanged, as text, in a stable order.
async fn stable_rows(db: &TestDb) -> Vec<Vec<String>> {
    let d = db.dialect;
    let t = |c: &str| txt(d, c);
    let mut all = Vec::new();
    let queries = [
        format!(
            "SELECT id, {}, {}, status, {}, {}, {}, {}, disk_format, container_format, checksum, owner, {}, {}, {}, {} FROM images ORDER BY id",
            t("name"),
            t("size"),
            t("created_at"),
            t("updated_at"),
            t("deleted_at"),
            t("deleted"),
            t("min_disk"),
            t("min_ram"),
            t("protected"),
            t("virtual_size")
        ),
        format!(
            "SELECT image_id, member, {}, {}, {}, status FROM image_members ORDER BY image_id, member",
            t("can_share"),
            t("created_at"),
            t("deleted")
        ),
        format!(
            "SELECT image_id, name, value, {} FROM image_properties ORDER BY image_id, name",
            t("deleted")
        ),
        format!(
            "SELECT image_id, value, {} FROM image_tags ORDER BY image_id, value",
            t("created_at")
        ),
        "SELECT image_id, value, status FROM image_locations ORDER BY image_id".to_string(),
        format!(
            "SELECT id, type, status, owner, {}, {}, {} FROM tasks ORDER BY id",
            t("expires_at"),
            t("created_at"),
            t("deleted")
        ),
        format!(
            "SELECT task_id, {}, {}, message FROM task_info ORDER BY task_id",
            t("input"),
            t("result")
        ),
    ];
    for q in &queries {
        let rows = db.rows(q).await;
        all.push(vec![format!("-- {q}: {} row(s)", rows.len())]);
        all.extend(rows);
    }
    all
}

/// The data migrations' results at the head.
async fn assert_migrated(db: &TestDb, ctx: &str) {
    let vis = db
        .rows("SELECT id, visibility FROM images ORDER BY id")
        .await;
    let got: Vec<(String, String)> = vis.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let want: Vec<(String, String)> = [
        ("img-deleted", "public"),
        ("img-gone-member", "private"),
        ("img-private", "private"),
        ("img-public", "public"),
        ("img-shared", "shared"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want, "{ctx}: visibility");
    let types = db
        .rows("SELECT name FROM metadef_resource_types ORDER BY name")
        .await;
    assert_eq!(
        types,
        vec![
            vec!["OS::Glance::Image".to_string()],
            vec!["OS::Nova::Server".to_string()]
        ],
        "{ctx}: metadef rename"
    );
    let meta = db
        .rows(&format!(
            "SELECT image_id, {} FROM image_locations ORDER BY image_id",
            txt(db.dialect, "meta_data")
        ))
        .await;
    assert_eq!(
        meta,
        vec![
            vec![
                "img-public".to_string(),
                "{\"store\": \"fast\"}".to_string()
            ],
            vec!["img-shared".to_string(), "{}".to_string()],
        ],
        "{ctx}: backend -> store"
    );
}

/// Statements of the plan `db sync` would run (DDL and data steps).
fn plan_statements(url: &str) -> usize {
    let r = gm(url, &["db", "plan", "--format", "json"]);
    assert_eq!(r.code, 0, "db plan: {r:?}");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).expect("plan JSON");
    j["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["statements"].as_array().expect("statements").len())
        .sum()
}

async fn prepare(dialect: Dialect, scenario: Scenario) -> Option<TestDb> {
    let db = TestDb::create(dialect).await?;
    if scenario == Scenario::Liberty {
        let r = gm(&db.url, &["db", "upgrade", "liberty"]);
        assert_eq!(r.code, 0, "upgrade liberty: {r:?}");
        seed_liberty(&db).await;
    }
    Some(db)
}

/// A new database in the scenario's starting state, copied from `template` where the backend
/// can (a SQLite file copy, PostgreSQL's CREATE DATABASE … TEMPLATE), built otherwise.
async fn from_template(template: &TestDb, scenario: Scenario) -> TestDb {
    let dialect = template.dialect;
    if scenario == Scenario::Fresh || dialect == Dialect::Mysql {
        return prepare(dialect, scenario).await.expect("database");
    }
    let db = TestDb::create(dialect).await.expect("database");
    match dialect {
        Dialect::Sqlite => {
            std::fs::copy(&template.name, &db.name).expect("copy the template file");
        }
        _ => {
            let admin = DbUrl::parse(&common::pg_admin_url()).unwrap();
            let mut c = Conn::connect(&admin, OpenMode::Existing).await.unwrap();
            c.execute(&format!("DROP DATABASE \"{}\"", db.name))
                .await
                .unwrap();
            c.execute(&format!(
                "CREATE DATABASE \"{}\" TEMPLATE \"{}\"",
                db.name, template.name
            ))
            .await
            .unwrap();
            c.close().await;
        }
    }
    db
}

/// `db drift`'s verdict, computed in-process (one CLI start less per kill point).
async fn assert_no_drift(db: &TestDb, revs: &RevisionSet, ctx: &str) {
    let mut c = db.conn().await;
    let live = engine::read_live(&mut c).await.expect("introspect");
    c.close().await;
    let d = engine::drift(revs, &live).expect("drift");
    assert!(
        d.changes.is_empty() && d.unsupported.is_empty(),
        "{ctx}: drift after convergence: {:?} {:?}",
        d.changes,
        d.unsupported
    );
}

/// After an interrupted run: the next `db sync` converges. `revs`: check drift in-process
/// (else through `db drift`).
async fn assert_converges(
    db: &TestDb,
    scenario: Scenario,
    before: &[Vec<String>],
    revs: Option<&RevisionSet>,
    ctx: &str,
) {
    let r = gm(&db.url, &["db", "sync"]);
    assert_eq!(r.code, 0, "{ctx}: second sync: {r:?}");
    let last = r.lines().last().copied().unwrap_or_default();
    assert!(
        last == "Database is synced successfully."
            || last == "Database is up to date. No migrations needed.",
        "{ctx}: second sync: {r:?}"
    );
    assert_no_panic(&r, ctx);
    match revs {
        Some(revs) => assert_no_drift(db, revs, ctx).await,
        None => {
            let d = gm(&db.url, &["db", "drift"]);
            assert_eq!(d.code, 0, "{ctx}: drift after convergence: {d:?}");
        }
    }
    assert_eq!(db.version_rows().await, vec![HEAD], "{ctx}: version rows");
    if scenario == Scenario::Liberty {
        assert_eq!(stable_rows(db).await, before, "{ctx}: seeded rows changed");
        assert_migrated(db, ctx).await;
    }
}

fn assert_no_panic(r: &Run, ctx: &str) {
    assert!(
        !r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"),
        "{ctx}: {r:?}"
    );
}

/// One kill point: sync stopped after k statements, then sync again.
/// Returns whether the interrupted run still succeeded (k beyond what it executes).
async fn one_kill_point(
    template: &TestDb,
    scenario: Scenario,
    k: usize,
    total: usize,
    revs: &RevisionSet,
) -> bool {
    let dialect = template.dialect;
    let db = from_template(template, scenario).await;
    let before = if scenario == Scenario::Liberty {
        stable_rows(&db).await
    } else {
        vec![]
    };
    let ctx = format!("{dialect} {scenario:?} k={k}/{total}");
    let ks = k.to_string();
    let r = gm_env(&db.url, &["db", "sync"], &[(FAIL_AFTER, ks.as_str())]);
    assert_no_panic(&r, &ctx);
    let completed = match r.code {
        0 => true,
        1 => {
            assert!(r.stderr.contains(FAIL_AFTER), "{ctx}: {r:?}");
            false
        }
        _ => panic!("{ctx}: interrupted sync exited {}: {r:?}", r.code),
    };
    if k >= total {
        assert!(completed, "{ctx}: k beyond the plan must complete: {r:?}");
    }
    // The CLI's `db drift` for the last kill point, the in-process check for the others.
    let revs = (k < total).then_some(revs);
    assert_converges(&db, scenario, &before, revs, &ctx).await;
    completed
}

fn jobs() -> usize {
    std::env::var("GM_CRASH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(2)
}

/// Which kill points to cover: all of 0..=total; with `GM_CRASH_SPREAD=1`, only the first, the
/// last and every third on MariaDB (each MariaDB kill point costs ~2 s of DDL).
fn coverage(dialect: Dialect, total: usize) -> Vec<usize> {
    let spread = std::env::var("GM_CRASH_SPREAD").is_ok_and(|v| v == "1");
    if dialect == Dialect::Mysql && spread {
        let mut ks: Vec<usize> = (0..=total).step_by(3).collect();
        for k in [1, total.saturating_sub(1), total] {
            if !ks.contains(&k) {
                ks.push(k);
            }
        }
        ks.sort();
        return ks;
    }
    (0..=total).collect()
}

/// Runs every kill point of the scenario, `jobs()` at a time, and checks that the interrupted
/// runs fail below some point and succeed from there on.
fn crash_matrix(dialect: Dialect, scenario: Scenario) {
    // Plan size from a database in the scenario's starting state.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The scenario's starting state, kept as the template of every kill point's database.
    let Some(template) = rt.block_on(prepare(dialect, scenario)) else {
        return;
    };
    let total = plan_statements(&template.url);
    assert!(
        total > 20,
        "{dialect} {scenario:?}: plan has {total} statements"
    );
    let ks = coverage(dialect, total);
    let next = AtomicUsize::new(0);
    let results: Vec<(usize, bool)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs())
            .map(|_| {
                s.spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    let revs = RevisionSet::builtin().expect("built-in revisions");
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&k) = ks.get(i) else { break };
                        let done =
                            rt.block_on(one_kill_point(&template, scenario, k, total, &revs));
                        out.push((k, done));
                    }
                    out
                })
            })
            .collect();
        let mut all: Vec<(usize, bool)> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect();
        all.sort();
        all
    });
    // Interrupted below a threshold, complete from it on (data steps with nothing pending are
    // skipped, so the executor may run fewer statements than the plan lists).
    let first_done = results
        .iter()
        .find(|(_, d)| *d)
        .map(|(k, _)| *k)
        .expect("the run with k = total completes");
    assert!(
        results.iter().all(|(k, d)| *d == (*k >= first_done)),
        "{dialect} {scenario:?}: non-monotonic outcomes {results:?}"
    );
    assert!(first_done > 0, "k = 0 must interrupt the run");
    eprintln!(
        "{dialect} {scenario:?}: {} kill points of {} ({total} planned statements, {first_done} executed)",
        results.len(),
        total + 1
    );
}

per_dialect!(sync: fresh_every_kill_point => crash_matrix(Scenario::Fresh));
per_dialect!(sync: liberty_every_kill_point => crash_matrix(Scenario::Liberty));

/// Real SIGKILLs: `db sync` killed after 50, 150 and 400 ms (whatever it was doing), then
/// `db sync` again converges — which needs the dead process's migration lock to be gone.
async fn sigkill(dialect: Dialect) {
    for (i, delay_ms) in [50u64, 150, 400, 0].into_iter().enumerate() {
        let scenario = if i % 2 == 0 {
            Scenario::Liberty
        } else {
            Scenario::Fresh
        };
        let Some(db) = prepare(dialect, scenario).await else {
            return;
        };
        let before = if scenario == Scenario::Liberty {
            stable_rows(&db).await
        } else {
            vec![]
        };
        let mut child = Gm::new()
            .url(&db.url)
            .args(["db", "sync"])
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL on Unix; an error means it had already exited.
        let status = child.wait().expect("wait");
        let ctx = format!("{dialect} {scenario:?} SIGKILL after {delay_ms} ms ({status})");
        // The next run must not wait for a lock held by the dead process.
        let start = std::time::Instant::now();
        let r = gm(&db.url, &["db", "--lock-timeout", "10", "sync"]);
        assert_eq!(r.code, 0, "{ctx}: {r:?}");
        assert!(
            start.elapsed() < Duration::from_secs(9),
            "{ctx}: the next sync waited {:?} for the dead run's lock",
            start.elapsed()
        );
        assert_converges(&db, scenario, &before, None, &ctx).await;
    }
}

per_dialect!(sigkill);
