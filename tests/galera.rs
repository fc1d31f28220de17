//! Glance on a MariaDB Galera cluster: three nodes on 127.0.0.1 (tests/common/galera.rs),
//! started once (about 20 s) and shared by the tests of this file, which take turns.
//!
//! - concurrent `db sync` on two and on three different nodes, 12 races: exactly one applies,
//!   all exit 0, one version row on every node, the lease released;
//! - `db version` / `db check` on another node right after a change are never stale;
//! - `--lock-timeout 0` names the lease holder; a dead holder's expired lease is taken over;
//! - a node whose global `wsrep_OSU_method` is RSU still changes the schema cluster-wide;
//! - data migrations and purge under `wsrep_max_ws_rows = 200`;
//! - purge on one node while another node writes: no committed write lost, every eligible row
//!   deleted;
//! - a rolling upgrade: expand, migrate and contract each on a different node.

mod common;

use std::sync::{Mutex, MutexGuard, OnceLock};

use common::galera::{Cluster, StartError};
use common::{Gm, Run, gm};
use glance_manage::config::DbUrl;
use glance_manage::exec::{Conn, OpenMode};

const HEAD: &str = "2024_1_contract01";

static CLUSTER: OnceLock<Option<Mutex<Cluster>>> = OnceLock::new();

/// The shared cluster, held for the whole test; None when the packages are missing and
/// `GM_TEST_ALLOW_SKIP=1` lets the test skip (outside CI; otherwise it fails).
fn cluster() -> Option<MutexGuard<'static, Cluster>> {
    let c = CLUSTER.get_or_init(|| match Cluster::start() {
        Ok(c) => Some(Mutex::new(c)),
        Err(StartError::Missing(what)) => {
            common::skip_or_fail_because(
                &format!("no Galera test cluster: {what} is missing"),
                "install the Debian packages galera-4 and rsync (.ci/run does)",
            );
            None
        }
        Err(e) => panic!("cannot start the Galera test cluster: {e:?}"),
    });
    c.as_ref()
        .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs SQL on node `n` (text protocol, several statements allowed); returns the rows of the
/// last one as text.
fn sql(c: &Cluster, n: u16, db: &str, text: &str) -> Vec<Vec<String>> {
    rt().block_on(async {
        let mut conn = Conn::connect(&DbUrl::parse(&c.url(n, db)).unwrap(), OpenMode::Existing)
            .await
            .unwrap_or_else(|e| panic!("connect node {n}: {e}"));
        let rows = if text.trim_start().to_ascii_uppercase().starts_with("SELECT") {
            conn.query(text)
                .await
                .unwrap_or_else(|e| panic!("node {n}: {e}\n{text}"))
        } else {
            conn.execute(text)
                .await
                .unwrap_or_else(|e| panic!("node {n}: {e}\n{text}"));
            vec![]
        };
        conn.close().await;
        common::text_rows(&rows)
    })
}

fn count(c: &Cluster, n: u16, db: &str, q: &str) -> i64 {
    sql(c, n, db, q)[0][0].parse().unwrap()
}

/// A fresh database on the cluster (created on node 1, replicated), dropped at the end.
struct Db<'a> {
    c: &'a Cluster,
    name: String,
}

impl<'a> Db<'a> {
    fn new(c: &'a Cluster, tag: &str) -> Db<'a> {
        let name = format!("gm_g{}_{tag}", std::process::id());
        sql(
            c,
            1,
            "mysql",
            &format!("DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}`"),
        );
        Db { c, name }
    }
    fn url(&self, n: u16) -> String {
        self.c.url(n, &self.name)
    }
    fn versions(&self, n: u16) -> Vec<String> {
        sql(
            self.c,
            n,
            &self.name,
            "SELECT version_num FROM alembic_version",
        )
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
    }
    fn count(&self, n: u16, q: &str) -> i64 {
        count(self.c, n, &self.name, q)
    }
    fn exec(&self, n: u16, q: &str) {
        sql(self.c, n, &self.name, q);
    }
}

impl Drop for Db<'_> {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sql(
                self.c,
                1,
                "mysql",
                &format!("DROP DATABASE IF EXISTS `{}`", self.name),
            )
        }));
    }
}

fn spawn_all(urls: &[String], args: &[&str], env: &[(&str, &str)]) -> Vec<Run> {
    let children: Vec<_> = urls
        .iter()
        .map(|u| {
            let mut g = Gm::new().url(u).args(args);
            for (k, v) in env {
                g = g.env(k, v);
            }
            g.spawn()
        })
        .collect();
    children
        .into_iter()
        .map(|c| Run::from_output(c.wait_with_output().unwrap()))
        .collect()
}

#[test]
fn verbose_says_galera_and_honours_sync_wait() {
    let Some(c) = cluster() else { return };
    let db = Db::new(&c, "verbose");
    let r = Gm::new()
        .url(&db.url(2))
        .args(["-v", "db", "version"])
        .env("OS_DATABASE__MYSQL_WSREP_SYNC_WAIT", "3")
        .run();
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("Galera cluster detected")
            && r.stderr.contains("cluster size 3")
            && r.stderr.contains("wsrep_sync_wait=3"),
        "{r:?}"
    );
    let r = gm_verbose(&db.url(3));
    assert!(r.stderr.contains("wsrep_sync_wait=1"), "default 1: {r:?}");
    // The machine's plain MariaDB: nothing said.
    let r = gm_verbose(&common::mysql_admin_url());
    assert!(!r.stderr.contains("Galera"), "{r:?}");
}

fn gm_verbose(url: &str) -> Run {
    Gm::new().url(url).args(["-v", "db", "version"]).run()
}

/// `n` nodes race `db sync` on a fresh database, `rounds` times.
fn sync_races(c: &Cluster, nodes: u16, rounds: usize) {
    for round in 0..rounds {
        let db = Db::new(c, &format!("race{nodes}_{round}"));
        let urls: Vec<String> = (1..=nodes).map(|n| db.url(n)).collect();
        // A short lease in half the rounds: the heartbeat must keep it while DDL runs.
        let lease = if round % 2 == 0 { "3" } else { "30" };
        let runs = spawn_all(
            &urls,
            &["db", "sync"],
            &[("GLANCE_MANAGE_LEASE_SECONDS", lease)],
        );
        let ctx = format!("{nodes} nodes, round {round}");
        for r in &runs {
            assert_eq!(r.code, 0, "{ctx}: {r:?}");
        }
        assert_eq!(runs.len(), nodes as usize, "{ctx}");
        common::assert_one_sync_applied(&runs, &ctx);
        for n in 1..=3 {
            assert_eq!(db.versions(n), vec![HEAD], "{ctx}: node {n}");
            assert_eq!(
                db.count(n, "SELECT COUNT(*) FROM glance_manage_lock"),
                0,
                "{ctx}: lease left on node {n}"
            );
        }
        let d = gm(&db.url(3), &["db", "drift"]);
        assert_eq!(
            d.code, 0,
            "{ctx}: drift (the lease table is not drift): {d:?}"
        );
    }
}

#[test]
fn concurrent_syncs_on_two_and_three_nodes() {
    let Some(c) = cluster() else { return };
    sync_races(&c, 2, 6);
    sync_races(&c, 3, 6);
}

#[test]
fn reads_on_another_node_are_never_stale() {
    let Some(c) = cluster() else { return };
    for round in 0..3 {
        let db = Db::new(&c, &format!("stale{round}"));
        assert_eq!(gm(&db.url(1), &["db", "sync"]).code, 0);
        let v = gm(&db.url(3), &["db", "version"]);
        assert_eq!((v.code, v.stdout.trim()), (0, HEAD), "round {round}: {v:?}");
        let k = gm(&db.url(2), &["db", "check"]);
        assert_eq!(k.code, 0, "round {round}: {k:?}");
        // Then the version row flips between two revisions: each read on node 3 sees the
        // change node 1 just committed.
        for (i, rev) in ["2023_1_contract01", HEAD]
            .iter()
            .cycle()
            .take(10)
            .enumerate()
        {
            let s = gm(&db.url(1), &["db", "version_control", rev, "--force"]);
            assert_eq!(s.code, 0, "{s:?}");
            let v = gm(&db.url(3), &["db", "version"]);
            assert_eq!(v.stdout.trim(), *rev, "round {round}, flip {i}: {v:?}");
        }
    }
}

#[test]
fn lock_timeout_zero_names_the_lease_holder_and_a_dead_lease_is_taken_over() {
    let Some(c) = cluster() else { return };
    let db = Db::new(&c, "lease");
    assert_eq!(gm(&db.url(1), &["db", "upgrade", "liberty"]).code, 0);
    db.exec(
        2,
        "INSERT INTO glance_manage_lock (name, holder, host, pid, acquired_at, expires_at) \
         VALUES (CONCAT('glance-manage:', DATABASE()), 'ghost', 'elsewhere', 4242, \
         UTC_TIMESTAMP(), UTC_TIMESTAMP() + INTERVAL 10 MINUTE)",
    );
    let r = Gm::new()
        .url(&db.url(3))
        .args(["--lock-timeout", "0", "db", "sync"])
        .run();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("glance-manage pid 4242 on elsewhere")
            && r.stderr.contains("not waiting (--lock-timeout 0)"),
        "{r:?}"
    );
    assert_eq!(db.versions(1), vec!["liberty"], "nothing changed");
    // The holder died: once its lease expires, the next run takes it over.
    db.exec(
        1,
        "UPDATE glance_manage_lock SET expires_at = UTC_TIMESTAMP() - INTERVAL 1 SECOND",
    );
    let r = gm(&db.url(2), &["db", "sync"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(db.versions(3), vec![HEAD]);
    assert_eq!(db.count(1, "SELECT COUNT(*) FROM glance_manage_lock"), 0);
}

#[test]
fn schema_changes_replicate_even_where_the_node_defaults_to_rsu() {
    let Some(c) = cluster() else { return };
    let db = Db::new(&c, "rsu");
    sql(&c, 1, "mysql", "SET GLOBAL wsrep_OSU_method = 'RSU'");
    let r = gm(&db.url(1), &["db", "sync"]);
    sql(&c, 1, "mysql", "SET GLOBAL wsrep_OSU_method = 'TOI'");
    assert_eq!(r.code, 0, "{r:?}");
    let tables = |n| {
        db.count(
            n,
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
        )
    };
    assert!(tables(1) > 10);
    assert_eq!(tables(2), tables(1));
    assert_eq!(tables(3), tables(1));
    for n in 1..=3 {
        assert_eq!(db.versions(n), vec![HEAD], "node {n}");
    }
}

/// Sets `wsrep_max_ws_rows` on every node for the life of the value.
struct WsRows<'a>(&'a Cluster);

impl<'a> WsRows<'a> {
    fn set(c: &'a Cluster, rows: u32) -> WsRows<'a> {
        for n in 1..=3 {
            sql(
                c,
                n,
                "mysql",
                &format!("SET GLOBAL wsrep_max_ws_rows = {rows}"),
            );
        }
        WsRows(c)
    }
}

impl Drop for WsRows<'_> {
    fn drop(&mut self) {
        for n in 1..=3 {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                sql(self.0, n, "mysql", "SET GLOBAL wsrep_max_ws_rows = 0")
            }));
        }
    }
}

const OLD: &str = "'2001-02-03 04:05:06'";

/// A liberty-era database with 900 images (a third public, every tenth shared), 500
/// locations naming a `backend`, and 600 image properties soft-deleted long ago.
fn seed_liberty(db: &Db) {
    assert_eq!(gm(&db.url(1), &["db", "upgrade", "liberty"]).code, 0);
    let (mut images, mut members, mut locs, mut props) = (vec![], vec![], vec![], vec![]);
    for i in 0..900 {
        images.push(format!(
            "('img-{i:04}', 'n', 'active', {}, '2015-10-01 00:00:00', FALSE, 0, 0, FALSE)",
            if i % 3 == 0 { "TRUE" } else { "FALSE" }
        ));
        if i % 10 == 1 {
            members.push(format!(
                "('img-{i:04}', 'tenant', FALSE, '2015-10-01 00:00:00', FALSE, 'accepted')"
            ));
        }
        if i < 500 {
            locs.push(format!(
                "('img-{i:04}', 'file:///{i}', '2015-10-01 00:00:00', FALSE, '{{\"backend\": \"b\"}}', 'active')"
            ));
        }
        if i < 600 {
            props.push(format!(
                "('img-{i:04}', 'old', 'v', '2015-10-01 00:00:00', {OLD}, TRUE)"
            ));
        }
    }
    let insert = |table: &str, cols: &str, rows: &[String]| {
        for chunk in rows.chunks(150) {
            db.exec(
                1,
                &format!("INSERT INTO {table} ({cols}) VALUES {}", chunk.join(", ")),
            );
        }
    };
    insert(
        "images",
        "id, name, status, is_public, created_at, deleted, min_disk, min_ram, protected",
        &images,
    );
    insert(
        "image_members",
        "image_id, member, can_share, created_at, deleted, status",
        &members,
    );
    insert(
        "image_locations",
        "image_id, value, created_at, deleted, meta_data, status",
        &locs,
    );
    insert(
        "image_properties",
        "image_id, name, value, created_at, deleted_at, deleted",
        &props,
    );
}

#[test]
fn data_migrations_and_purge_fit_wsrep_max_ws_rows_200() {
    let Some(c) = cluster() else { return };
    let db = Db::new(&c, "wsrows");
    seed_liberty(&db);
    let _limit = WsRows::set(&c, 200);
    // Without batches the visibility UPDATE (900 rows) is one write set and fails.
    let r = gm(&db.url(1), &["db", "sync", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let vis = report["data_migrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str().unwrap().contains("community_images"))
        .cloned()
        .unwrap();
    assert_eq!(vis["rows"], 900, "{vis}");
    assert!(vis["batches"].as_u64().unwrap() >= 900 / 180, "{vis}");
    assert_eq!(
        db.count(3, "SELECT COUNT(*) FROM images WHERE visibility IS NULL"),
        0
    );
    assert_eq!(
        db.count(2, "SELECT COUNT(*) FROM images WHERE visibility = 'public'"),
        300
    );
    assert_eq!(
        db.count(
            3,
            "SELECT COUNT(*) FROM image_locations WHERE meta_data LIKE '%backend%'"
        ),
        0
    );
    // Purge with its default batch cap (50,000 rows): it reads the limit and stays under it.
    let p = gm(
        &db.url(2),
        &[
            "db",
            "purge",
            "--age_in_days",
            "30",
            "--max_rows",
            "-1",
            "--format",
            "json",
        ],
    );
    assert_eq!(p.code, 0, "{p:?}");
    assert_eq!(db.count(3, "SELECT COUNT(*) FROM image_properties"), 0);
    let report: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(report["write_set_limits"]["max_ws_rows"], 200, "{report}");
    let props = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["table"] == "image_properties")
        .cloned()
        .unwrap();
    // 600 rows in batches held within the limit by the cap, not by --batch-size.
    assert_eq!(props["deleted"], 600, "{props}");
    let cap = props["batch_cap"]
        .as_u64()
        .expect("a batch cap under Galera");
    assert!(cap <= 200, "{props}");
    assert!(props["largest_batch"].as_u64().unwrap() <= cap, "{props}");
}

#[test]
fn purge_while_another_node_writes_loses_nothing() {
    let Some(c) = cluster() else { return };
    let db = Db::new(&c, "purgew");
    seed_liberty(&db);
    assert_eq!(gm(&db.url(1), &["db", "sync"]).code, 0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Two writers on node 2 add properties (live rows) to the images whose old rows the
    // purge on node 1 deletes, and record each committed insert.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (url, stop) = (db.url(2), stop.clone());
            std::thread::spawn(move || {
                rt().block_on(async move {
                    let mut conn = Conn::connect(&DbUrl::parse(&url).unwrap(), OpenMode::Existing)
                        .await
                        .unwrap();
                    let (mut ok, mut i) = (vec![], 0);
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let name = format!("w{w}-{i}");
                        let q = format!(
                            "INSERT INTO image_properties (image_id, name, value, created_at, deleted) \
                             VALUES ('img-{:04}', '{name}', 'v', UTC_TIMESTAMP(), FALSE)",
                            (i * 7 + w) % 600
                        );
                        if conn.execute(&q).await.is_ok() {
                            ok.push(name);
                        }
                        i += 1;
                    }
                    conn.close().await;
                    ok
                })
            })
        })
        .collect();
    let p = gm(
        &db.url(1),
        &[
            "db",
            "purge",
            "--age_in_days",
            "30",
            "--max_rows",
            "-1",
            "--batch-size",
            "50",
        ],
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let written: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert_eq!(p.code, 0, "{p:?}");
    assert!(
        p.stdout
            .contains("Deleted 600 row(s) from table image_properties"),
        "{p:?}"
    );
    assert!(!written.is_empty(), "the writers never committed");
    assert_eq!(
        db.count(
            3,
            "SELECT COUNT(*) FROM image_properties WHERE deleted = TRUE"
        ),
        0,
        "every eligible row deleted"
    );
    let live = db.count(
        3,
        "SELECT COUNT(*) FROM image_properties WHERE name LIKE 'w%'",
    );
    assert_eq!(live, written.len() as i64, "committed writer rows lost");
}

#[test]
fn rolling_upgrade_on_three_nodes() {
    let Some(c) = cluster() else { return };
    let db = Db::new(&c, "rolling");
    seed_liberty(&db);
    // A Mitaka-era deployment: every expand, data migration and contract since is owed.
    assert_eq!(gm(&db.url(1), &["db", "upgrade", "mitaka02"]).code, 0);
    let e = gm(&db.url(1), &["db", "expand"]);
    assert_eq!(e.code, 0, "{e:?}");
    let k = gm(&db.url(3), &["db", "check"]);
    assert_ne!(k.code, 0, "contract still owed: {k:?}");
    let m = gm(&db.url(2), &["db", "migrate"]);
    assert_eq!(m.code, 0, "{m:?}");
    assert_eq!(
        db.count(3, "SELECT COUNT(*) FROM images WHERE visibility IS NULL"),
        0
    );
    let x = gm(&db.url(3), &["db", "contract"]);
    assert_eq!(x.code, 0, "{x:?}");
    for n in 1..=3 {
        assert_eq!(db.versions(n), vec![HEAD], "node {n}");
        let k = gm(&db.url(n), &["db", "check"]);
        assert_eq!(k.code, 0, "node {n}: {k:?}");
    }
    assert_eq!(gm(&db.url(2), &["db", "drift"]).code, 0);
    assert_eq!(db.count(3, "SELECT COUNT(*) FROM images"), 900);
}

#[test]
fn a_node_that_refuses_queries_is_explained() {
    let Some(c) = cluster() else { return };
    let db = Db::new(&c, "notready");
    // A node taken out of service answers 1047, as a node outside the primary component does.
    sql(&c, 3, "mysql", "SET GLOBAL wsrep_reject_queries = ALL");
    let r = gm(&db.url(3), &["db", "sync"]);
    sql(&c, 3, "mysql", "SET GLOBAL wsrep_reject_queries = NONE");
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("error 1047") && r.stderr.contains("primary component"),
        "{r:?}"
    );
    assert!(!r.stderr.contains("panicked"), "{r:?}");
    // The node serves again; nothing was created while it refused.
    let n = count(
        &c,
        3,
        "mysql",
        &format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{}'",
            db.name
        ),
    );
    assert_eq!(n, 0);
}

#[test]
fn a_run_whose_lease_is_lost_stops_before_its_next_statement() {
    let Some(c) = cluster() else { return };
    let db = Db::new(&c, "lost");
    seed_liberty(&db);
    assert_eq!(gm(&db.url(1), &["db", "expand"]).code, 0);
    let rt = rt();
    // Another session on node 1 holds a row the first data-migration batch must update.
    let mut blocker = rt.block_on(async {
        let mut b = Conn::connect(&DbUrl::parse(&db.url(1)).unwrap(), OpenMode::Existing)
            .await
            .unwrap();
        b.execute("START TRANSACTION; SELECT id FROM images WHERE id = 'img-0003' FOR UPDATE")
            .await
            .unwrap();
        b
    });
    let run = Gm::new()
        .url(&db.url(1))
        .args(["db", "migrate"])
        .env("GLANCE_MANAGE_LEASE_SECONDS", "3")
        .spawn();
    // Wait until the run holds the lease (and then is stuck behind the row lock).
    let mut held = false;
    for _ in 0..100 {
        if db.count(2, "SELECT COUNT(*) FROM glance_manage_lock") == 1 {
            held = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(held, "the run never took the lease");
    std::thread::sleep(std::time::Duration::from_secs(1));
    // Someone takes the lease away; the heartbeat (every second) notices.
    db.exec(2, "DELETE FROM glance_manage_lock");
    std::thread::sleep(std::time::Duration::from_secs(3));
    rt.block_on(async {
        blocker.execute("ROLLBACK").await.unwrap();
        blocker.close().await;
    });
    let r = Run::from_output(run.wait_with_output().unwrap());
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("migration lease") && r.stderr.contains("was lost"),
        "{r:?}"
    );
    // The statement under way finished; nothing after it ran.
    assert!(db.count(3, "SELECT COUNT(*) FROM images WHERE visibility IS NULL") > 0);
}
