//! Plan/drift benchmark: how long `db plan` and `db drift` take, and how many introspection
//! queries they issue, on Glance's schema and on a generated schema of 2,000 tables.
//!
//! ```text
//! cargo build --release --bin glance-manage --example plan_bench
//! target/release/examples/plan_bench [--backend sqlite|postgres|mysql]... [--runs N] [--tables N]
//! ```
//!
//! Per backend it measures, as median wall time over N runs (default 5) of the release binary
//! (`target/release/glance-manage`, process start to exit):
//! - Glance: `db plan` on an empty database (fresh -> head), then after `db sync`, `db plan` and
//!   `db drift` at the head;
//! - generated: a `--revisions` directory with one revision of `--tables` tables (default 2,000;
//!   10 columns, 2 indexes, 1 foreign key each), created once (by `db upgrade`, 500 tables per
//!   run), then `db plan` and `db drift` at the head.
//!
//! In-process it also reports, for the same databases, the time of the introspection alone
//! (`engine::read_live`), the number of catalog queries it issued (`Live.queries`), and the
//! time of planning alone (`engine::plan_upgrade`). Servers as in the tests: GM_TEST_PG_URL
//! (default postgresql://postgres@127.0.0.1:5432/postgres) and GM_TEST_MYSQL_URL (default
//! mysql://root@127.0.0.1:3306/mysql). Prints Markdown table rows. Not part of `cargo test`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use glance_manage::config::DbUrl;
use glance_manage::engine;
use glance_manage::exec::{Conn, OpenMode};
use glance_manage::revisions::RevisionSet;
use glance_manage::schema::model::Dialect;

struct Args {
    backends: Vec<Dialect>,
    runs: usize,
    tables: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        backends: Vec::new(),
        runs: 5,
        tables: 2000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--backend" => a.backends.push(match val.as_str() {
                "sqlite" => Dialect::Sqlite,
                "postgres" | "postgresql" => Dialect::Postgres,
                "mysql" | "mariadb" => Dialect::Mysql,
                other => panic!("unknown backend {other}"),
            }),
            "--runs" => a.runs = val.parse().expect("--runs N"),
            "--tables" => a.tables = val.parse().expect("--tables N"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    if a.backends.is_empty() {
        a.backends = Dialect::ALL.to_vec();
    }
    a
}

fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/examples")
        .join("glance-manage");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release --bin glance-manage --example plan_bench`",
        bin.display()
    );
    bin
}

/// A fresh database; returns its URL. Server databases are named `gm_plan_bench_<tag>`.
async fn fresh_db(dialect: Dialect, tag: &str, dir: &Path) -> String {
    let name = format!("gm_plan_bench_{tag}");
    match dialect {
        Dialect::Sqlite => {
            let path = dir.join(format!("{name}.sqlite"));
            let _ = std::fs::remove_file(&path);
            format!("sqlite:///{}", path.display())
        }
        _ => {
            let admin = admin_url(dialect);
            let mut c = Conn::connect(&DbUrl::parse(&admin).unwrap(), OpenMode::Existing)
                .await
                .expect("admin connection");
            let (drop, create) = if dialect == Dialect::Postgres {
                (
                    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                    format!("CREATE DATABASE \"{name}\""),
                )
            } else {
                (
                    format!("DROP DATABASE IF EXISTS `{name}`"),
                    format!("CREATE DATABASE `{name}`"),
                )
            };
            c.execute(&drop).await.unwrap();
            c.execute(&create).await.unwrap();
            c.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
            format!("{base}/{name}")
        }
    }
}

async fn drop_db(dialect: Dialect, tag: &str) {
    if dialect == Dialect::Sqlite {
        return;
    }
    let name = format!("gm_plan_bench_{tag}");
    let mut c = Conn::connect(
        &DbUrl::parse(&admin_url(dialect)).unwrap(),
        OpenMode::Existing,
    )
    .await
    .unwrap();
    let sql = if dialect == Dialect::Postgres {
        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
    } else {
        format!("DROP DATABASE IF EXISTS `{name}`")
    };
    let _ = c.execute(&sql).await;
    c.close().await;
}

fn admin_url(dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => std::env::var("GM_TEST_PG_URL")
            .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into()),
        _ => std::env::var("GM_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into()),
    }
}

/// Runs the binary; returns (wall time, exit code, stdout length).
fn run(url: &str, revisions: Option<&Path>, args: &[&str]) -> (Duration, i32, usize) {
    let mut cmd = Command::new(binary());
    cmd.arg("--database-url").arg(url);
    if let Some(r) = revisions {
        cmd.arg("--revisions").arg(r);
    }
    cmd.args(args);
    let t = Instant::now();
    let out = cmd.output().expect("run glance-manage");
    let dt = t.elapsed();
    let code = out.status.code().unwrap_or(-1);
    if code > 1 {
        panic!(
            "glance-manage {args:?} failed ({code}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (dt, code, out.stdout.len())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn timed(runs: usize, url: &str, revisions: Option<&Path>, args: &[&str]) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut len = 0;
    for _ in 0..runs {
        let (dt, code, n) = run(url, revisions, args);
        assert!(code == 0 || args.contains(&"drift"), "exit {code}");
        times.push(dt);
        len = n;
    }
    (median(times), len)
}

/// In-process: introspection time and queries, planning time (medians).
async fn in_process(
    url: &str,
    revs: &RevisionSet,
    target: &str,
    runs: usize,
) -> (Duration, usize, Duration, usize, usize) {
    let url = DbUrl::parse(url).unwrap();
    let (mut read, mut plan) = (Vec::new(), Vec::new());
    let (mut queries, mut tables, mut steps) = (0, 0, 0);
    for _ in 0..runs {
        let mut conn = Conn::connect(&url, OpenMode::Create).await.unwrap();
        let t = Instant::now();
        let live = engine::read_live(&mut conn).await.expect("read_live");
        read.push(t.elapsed());
        conn.close().await;
        let t = Instant::now();
        let p = engine::plan_upgrade(revs, &live, target).expect("plan");
        plan.push(t.elapsed());
        queries = live.queries;
        tables = live.raw.tables.len();
        steps = p.expand.len() + p.contract.len();
    }
    (median(read), queries, median(plan), tables, steps)
}

/// A revision snapshot of `n` tables: 10 columns, 2 indexes and 1 foreign key each (to the
/// previous table; the first references itself).
fn generated_revision(name: &str, parent: Option<&str>, n: usize) -> String {
    let parents = parent.map(|p| format!("\"{p}\"")).unwrap_or_default();
    let mut s = format!(
        "# Generated by examples/plan_bench.rs.\n[revision]\nname = \"{name}\"\nparents = [{parents}]\n\
         description = \"generated schema for the plan benchmark\"\n"
    );
    for i in 0..n {
        let t = format!("t{i:04}");
        let parent = format!("t{:04}", i.saturating_sub(1));
        s.push_str(&format!(
            "\n[tables.{t}]\nprimary_key = [\"id\"]\nmysql = {{ engine = \"InnoDB\", charset = \"utf8mb4\" }}\ncolumns = [\n\
  {{ name = \"id\", type = \"integer\", nullable = false, autoincrement = true }},\n\
  {{ name = \"parent_id\", type = \"integer\" }},\n\
  {{ name = \"name\", type = \"string(255)\", nullable = false }},\n\
  {{ name = \"description\", type = \"text\" }},\n\
  {{ name = \"size\", type = \"bigint\" }},\n\
  {{ name = \"status\", type = \"string(30)\", nullable = false, default = \"active\" }},\n\
  {{ name = \"deleted\", type = \"boolean\", nullable = false, default = false }},\n\
  {{ name = \"created_at\", type = \"datetime\", nullable = false }},\n\
  {{ name = \"updated_at\", type = \"datetime\" }},\n\
  {{ name = \"checksum\", type = \"string(64)\" }},\n]\n\
indexes = [\n  {{ name = \"{t}_name_idx\", columns = [\"name\"] }},\n  {{ name = \"{t}_status_created_idx\", columns = [\"status\", \"created_at\"] }},\n]\n\
foreign_keys = [\n  {{ columns = [\"parent_id\"], ref_table = \"{parent}\", ref_columns = [\"id\"] }},\n]\n"
        ));
    }
    s
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse_args();
    let dir = tempfile::tempdir().expect("tempdir");
    // Created in chunks of CHUNK tables, one revision each, applied one `db upgrade` at a time:
    // PostgreSQL cannot create thousands of tables in one transaction with its default lock
    // table (max_locks_per_transaction = 64: "out of shared memory"), and `db sync` of a
    // fresh database is one transaction. Timed runs then use a directory holding only the
    // final revision (as a root), so parsing the build chain is not counted.
    const CHUNK: usize = 500;
    let chunks = args.tables.div_ceil(CHUNK);
    let name = |k: usize| format!("bench{k:02}");
    let builddir = dir.path().join("build");
    let revdir = dir.path().join("revisions");
    std::fs::create_dir_all(&builddir).unwrap();
    std::fs::create_dir_all(&revdir).unwrap();
    for k in 1..=chunks {
        let parent = (k > 1).then(|| name(k - 1));
        let n = (k * CHUNK).min(args.tables);
        std::fs::write(
            builddir.join(format!("{}.toml", name(k))),
            generated_revision(&name(k), parent.as_deref(), n),
        )
        .unwrap();
    }
    let last = name(chunks);
    std::fs::write(
        revdir.join(format!("{last}.toml")),
        generated_revision(&last, None, args.tables),
    )
    .unwrap();
    let glance = RevisionSet::builtin().unwrap();
    let generated = RevisionSet::from_dir(&revdir).expect("generated revisions load");
    let head = "2024_1_contract01";
    println!(
        "| backend | schema | command | wall time (median of {}) | introspection | queries | planning | tables | steps |",
        args.runs
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for dialect in &args.backends {
        let d = *dialect;
        // Glance: fresh -> head.
        let url = fresh_db(d, "glance", dir.path()).await;
        let (t, len) = timed(args.runs, &url, None, &["db", "plan"]);
        let (r, q, p, n, s) = if d == Dialect::Sqlite {
            // `db plan` does not create the SQLite file; the in-process numbers would.
            (Duration::ZERO, 0, Duration::ZERO, 0, 0)
        } else {
            in_process(&url, &glance, head, args.runs).await
        };
        println!(
            "| {d} | Glance | `db plan` fresh → head ({len} bytes of SQL) | {} | {} | {q} | {} | {n} | {s} |",
            ms(t),
            ms(r),
            ms(p)
        );
        let (dt, code, _) = run(&url, None, &["db", "sync"]);
        assert_eq!(code, 0);
        eprintln!("{d}: Glance db sync {}", ms(dt));
        let (t, _) = timed(args.runs, &url, None, &["db", "plan"]);
        let (r, q, p, n, s) = in_process(&url, &glance, head, args.runs).await;
        println!(
            "| {d} | Glance | `db plan` at head | {} | {} | {q} | {} | {n} | {s} |",
            ms(t),
            ms(r),
            ms(p)
        );
        let (t, _) = timed(args.runs, &url, None, &["db", "drift"]);
        println!(
            "| {d} | Glance | `db drift` at head | {} | {} | {q} | – | {n} | – |",
            ms(t),
            ms(r)
        );
        drop_db(d, "glance").await;

        // Generated schema.
        let url = fresh_db(d, "gen", dir.path()).await;
        let mut total = Duration::ZERO;
        for k in 1..=chunks {
            let (dt, code, _) = run(&url, Some(&builddir), &["db", "upgrade", &name(k)]);
            assert_eq!(code, 0);
            total += dt;
        }
        eprintln!(
            "{d}: {} tables created by {chunks} `db upgrade` runs in {}",
            args.tables,
            ms(total)
        );
        let (t, _) = timed(args.runs, &url, Some(&revdir), &["db", "plan"]);
        let (r, q, p, n, s) = in_process(&url, &generated, &last, args.runs).await;
        assert_eq!(n, args.tables);
        assert_eq!(s, 0, "generated schema has drift");
        println!(
            "| {d} | {} tables | `db plan` at head | {} | {} | {q} | {} | {n} | {s} |",
            args.tables,
            ms(t),
            ms(r),
            ms(p)
        );
        let (t, _) = timed(args.runs, &url, Some(&revdir), &["db", "drift"]);
        let (_, code, _) = run(&url, Some(&revdir), &["db", "drift"]);
        assert_eq!(code, 0, "generated schema drifts");
        println!(
            "| {d} | {} tables | `db drift` at head | {} | {} | {q} | – | {n} | – |",
            args.tables,
            ms(t),
            ms(r)
        );
        drop_db(d, "gen").await;
    }
}
