//! Crash convergence: `db sync` stopped after the k-th statement of its plan, for every k (or a
//! spread of k, see `coverage`), on a fresh and on a populated liberty-era database, on SQLite,
//! PostgreSQL and MariaDB; then `db sync` again must finish the job: exit 0, no drift, the
//! version table holds exactly the contract head, and every seeded row is still there with its
//! values (and the `visibility`, metadef-rename and `backend`→`store` data migrations done).
//!
//! The kill point is made deterministic by `GLANCE_MANAGE_FAIL_AFTER=k`, honoured only by the
//! test-only `glance-manage-fault` binary (the executor stops before statement k+1 as if
//! killed). What a stop leaves differs per backend, and the number of distinct states is
//! pinned (`pinned`): SQLite always rolls back to the start, PostgreSQL to the start of the
//! phase, MariaDB half-applies. Real SIGKILLs are in `tests/crash_sigkill.rs`.
//!
//! Environment knobs: `GM_CRASH_JOBS` (parallel k workers per test, default 2) and
//! `GM_CRASH_SPREAD=1` (on MariaDB only the first, the last and every third kill point, for a
//! quicker run by hand; CI covers every kill point on every backend).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::liberty::{
    self, HEAD, Scenario, assert_converges, assert_no_panic, prepare, stable_rows,
};
use common::{TestDb, gm, gm_env, gm_fail_after};
use glance_manage::config::DbUrl;
use glance_manage::exec::{Conn, OpenMode};
use glance_manage::revisions::RevisionSet;
use glance_manage::schema::model::Dialect;

const FAIL_AFTER: &str = "GLANCE_MANAGE_FAIL_AFTER";

/// Statements of the plan `db sync` would run, per phase (expand, migrate, contract).
fn plan_phases(url: &str) -> [usize; 3] {
    let r = gm(url, &["db", "plan", "--format", "json"]);
    assert_eq!(r.code, 0, "db plan: {r:?}");
    let j: serde_json::Value = serde_json::from_str(&r.stdout).expect("plan JSON");
    let mut out = [0; 3];
    for s in j["steps"].as_array().expect("steps") {
        let i = match s["phase"].as_str().expect("phase") {
            "expand" => 0,
            "migrate" => 1,
            "contract" => 2,
            other => panic!("phase {other}"),
        };
        out[i] += s["statements"].as_array().expect("statements").len();
    }
    out
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

/// What one kill point left behind.
struct Outcome {
    k: usize,
    /// The interrupted run still finished (k at or beyond what it executes).
    completed: bool,
    /// [`liberty::state`] right after the interrupted run (before the next one converges it).
    state: String,
}

/// One kill point: sync stopped after k statements, its leftovers recorded, then sync again.
async fn one_kill_point(
    template: &TestDb,
    scenario: Scenario,
    k: usize,
    total: usize,
    revs: &RevisionSet,
) -> Outcome {
    let dialect = template.dialect;
    let db = from_template(template, scenario).await;
    let before = if scenario == Scenario::Liberty {
        stable_rows(&db).await
    } else {
        vec![]
    };
    let ctx = format!("{dialect} {scenario:?} k={k}/{total}");
    let r = gm_fail_after(&db.url, &["db", "sync"], k);
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
    let state = liberty::state(&db).await;
    // The CLI's `db drift` for the last kill point, the in-process check for the others.
    let revs = (k < total).then_some(revs);
    assert_converges(&db, scenario, &before, revs, &ctx).await;
    Outcome {
        k,
        completed,
        state,
    }
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

/// Pinned per backend and scenario: statements planned per phase (expand, migrate, contract),
/// statements an uninterrupted run executes, and how many different states the interrupted
/// runs leave behind. SQLite runs in one transaction, so every stop rolls back to the start
/// (1 state); PostgreSQL commits once per phase, so a stop rolls back to the start of its
/// phase (1 state on a fresh database, whose plan is one phase; 3 on the liberty one: the
/// start, expand committed, migrate committed); MariaDB commits every statement, so every
/// stop leaves a different, half-applied state.
fn pinned(dialect: Dialect, scenario: Scenario) -> ([usize; 3], usize, usize) {
    match (dialect, scenario) {
        (Dialect::Sqlite, Scenario::Fresh) => ([43, 0, 0], 43, 1),
        (Dialect::Sqlite, Scenario::Liberty) => ([20, 4, 18], 42, 1),
        (Dialect::Postgres, Scenario::Fresh) => ([44, 0, 0], 44, 1),
        (Dialect::Postgres, Scenario::Liberty) => ([18, 4, 10], 32, 3),
        // One CREATE TABLE per table, indexes inline (each MariaDB DDL statement commits).
        (Dialect::Mysql, Scenario::Fresh) => ([15, 0, 0], 15, 15),
        (Dialect::Mysql, Scenario::Liberty) => ([17, 4, 10], 31, 31),
    }
}

/// Runs every kill point of the scenario, `jobs()` at a time, and checks that the interrupted
/// runs fail below some point and succeed from there on, and which states they left.
fn crash_matrix(dialect: Dialect, scenario: Scenario) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The scenario's starting state, kept as the template of every kill point's database.
    let Some(template) = rt.block_on(prepare(dialect, scenario)) else {
        return;
    };
    let start = rt.block_on(liberty::state(&template));
    let phases = plan_phases(&template.url);
    let total: usize = phases.iter().sum();
    let ctx = format!("{dialect} {scenario:?}");
    let (want_phases, want_executed, want_states) = pinned(dialect, scenario);
    let ks = coverage(dialect, total);
    let next = AtomicUsize::new(0);
    let results: Vec<Outcome> = std::thread::scope(|s| {
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
                        out.push(rt.block_on(one_kill_point(&template, scenario, k, total, &revs)));
                    }
                    out
                })
            })
            .collect();
        let mut all: Vec<Outcome> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect();
        all.sort_by_key(|o| o.k);
        all
    });
    // Interrupted below a threshold, complete from it on (data steps with nothing pending are
    // skipped, so the executor may run fewer statements than the plan lists).
    let first_done = results
        .iter()
        .find(|o| o.completed)
        .map(|o| o.k)
        .expect("the run with k = total completes");
    let outcomes: Vec<(usize, bool)> = results.iter().map(|o| (o.k, o.completed)).collect();
    assert!(
        results.iter().all(|o| o.completed == (o.k >= first_done)),
        "{ctx}: non-monotonic outcomes {outcomes:?}"
    );
    let interrupted: Vec<&Outcome> = results.iter().filter(|o| !o.completed).collect();
    let mut states: Vec<&str> = interrupted.iter().map(|o| o.state.as_str()).collect();
    states.sort();
    states.dedup();
    eprintln!(
        "{ctx}: {} kill points, phases {phases:?}, {first_done} statements executed, {} distinct interrupted states",
        results.len(),
        states.len()
    );
    // GM_CRASH_SPREAD=1 leaves kill points out on MariaDB, and with them their states.
    let full = ks.len() == total + 1;
    assert_eq!(
        (
            phases,
            first_done,
            if full { states.len() } else { want_states }
        ),
        (want_phases, want_executed, want_states),
        "{ctx}: (statements per phase, executed, distinct states left by a stop)"
    );
    // Where the states change: nowhere on SQLite, at the phase boundaries on PostgreSQL.
    let state_of = |k: usize| results.iter().find(|o| o.k == k).map(|o| o.state.as_str());
    match dialect {
        Dialect::Sqlite => assert!(
            interrupted.iter().all(|o| o.state == start),
            "{ctx}: a stop must roll the whole run back"
        ),
        Dialect::Postgres => {
            let [expand, migrate, _] = phases;
            for o in &interrupted {
                let phase_start = if o.k < expand || scenario == Scenario::Fresh {
                    start.as_str()
                } else if o.k < expand + migrate {
                    state_of(expand).expect("kill point at the end of expand")
                } else {
                    state_of(expand + migrate).expect("kill point at the end of migrate")
                };
                assert_eq!(
                    o.state, phase_start,
                    "{ctx} k={}: a stop must roll back to the start of its phase",
                    o.k
                );
            }
        }
        // Every statement commits: no two stops leave the same state.
        Dialect::Mysql => assert_eq!(states.len(), interrupted.len(), "{ctx}"),
    }
}

per_dialect!(sync: fresh_every_kill_point => crash_matrix(Scenario::Fresh));
per_dialect!(sync: liberty_every_kill_point => crash_matrix(Scenario::Liberty));

/// The shipped binary has no fault injection: with `GLANCE_MANAGE_FAIL_AFTER=0` in its
/// environment `db sync` still runs to the end, while the test-only `glance-manage-fault`
/// stops before its first statement. The binary under test is built with the same lib as the
/// test-only one (feature on), so reading the variable anywhere in the library would fail this.
#[tokio::test]
async fn shipped_binary_ignores_fail_after() {
    let db = TestDb::create(Dialect::Sqlite).await.expect("SQLite");
    let stopped = gm_fail_after(&db.url, &["db", "sync"], 0);
    assert_eq!(stopped.code, 1, "{stopped:?}");
    assert!(
        stopped
            .stderr
            .contains("stopped before statement 1 (GLANCE_MANAGE_FAIL_AFTER=0)"),
        "{stopped:?}"
    );
    let r = gm_env(&db.url, &["db", "sync"], &[(FAIL_AFTER, "0")]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.lines().last(), Some(&"Database is synced successfully."));
    assert!(!r.stderr.contains(FAIL_AFTER), "{r:?}");
    assert_eq!(db.version_rows().await, vec![HEAD]);
}
