//! Purge benchmark: seeds Glance data (default 100,000 images with 20 child rows each, about
//! 2 million child rows, 10,000 tasks with task_info; half of everything soft-deleted), then
//! measures `db purge --age_in_days 0 --max_rows -1` followed by `db purge_images_table` with the
//! same arguments (wall time, rows/s, peak RSS of the glance-manage process), and, on an
//! identically seeded database, one raw `DELETE … WHERE deleted_at < cutoff` per table.
//!
//! ```text
//! cargo build --release
//! cargo run --release --example purge_bench -- --backend sqlite|postgres|mysql [--images N] [--batch-size N]
//! ```
//! Servers as in the tests: GM_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
//! and GM_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/mysql). Not part of `cargo test`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use glance_manage::config::DbUrl;
use glance_manage::exec::{Conn, OpenMode};
use glance_manage::schema::model::Dialect;

const CHILDREN: [(&str, u32); 4] = [
    ("image_properties", 8),
    ("image_locations", 4),
    ("image_members", 4),
    ("image_tags", 4),
];

struct Args {
    dialect: Dialect,
    images: u64,
    tasks: u64,
    batch_size: u64,
}

fn parse_args() -> Args {
    let mut a = Args {
        dialect: Dialect::Sqlite,
        images: 100_000,
        tasks: 10_000,
        batch_size: 1000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let val = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--backend" => {
                a.dialect = match val.as_str() {
                    "sqlite" => Dialect::Sqlite,
                    "postgres" | "postgresql" => Dialect::Postgres,
                    "mysql" | "mariadb" => Dialect::Mysql,
                    other => panic!("unknown backend {other}"),
                }
            }
            "--images" => a.images = val.parse().expect("--images N"),
            "--tasks" => a.tasks = val.parse().expect("--tasks N"),
            "--batch-size" => a.batch_size = val.parse().expect("--batch-size N"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/examples/purge_bench → target/<profile>/glance-manage
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("glance-manage"))
        .expect("target dir");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --release` first",
        bin.display()
    );
    bin
}

/// A fresh database; returns its URL.
async fn create_db(dialect: Dialect, name: &str, dir: &std::path::Path) -> String {
    match dialect {
        Dialect::Sqlite => format!("sqlite:///{}/{name}.sqlite", dir.display()),
        _ => {
            let admin = admin_url(dialect);
            let mut c = Conn::connect(&DbUrl::parse(&admin).unwrap(), OpenMode::Existing)
                .await
                .expect("admin connection");
            let q = glance_manage::sql::quote(dialect, name);
            c.execute(&format!("DROP DATABASE IF EXISTS {q}"))
                .await
                .unwrap();
            c.execute(&format!("CREATE DATABASE {q}")).await.unwrap();
            c.close().await;
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
            format!("{base}/{name}")
        }
    }
}

async fn drop_db(dialect: Dialect, name: &str) {
    if dialect == Dialect::Sqlite {
        return;
    }
    let admin = admin_url(dialect);
    if let Ok(mut c) = Conn::connect(&DbUrl::parse(&admin).unwrap(), OpenMode::Existing).await {
        let q = glance_manage::sql::quote(dialect, name);
        let _ = c.execute(&format!("DROP DATABASE IF EXISTS {q}")).await;
        c.close().await;
    }
}

fn admin_url(dialect: Dialect) -> String {
    if dialect == Dialect::Postgres {
        std::env::var("GM_TEST_PG_URL")
            .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into())
    } else {
        std::env::var("GM_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into())
    }
}

fn concat(d: Dialect, a: &str, b: &str) -> String {
    match d {
        Dialect::Mysql => format!("CONCAT({a}, {b})"),
        _ => format!("({a} || {b})"),
    }
}

fn padded(d: Dialect, prefix: &str, expr: &str) -> String {
    match d {
        Dialect::Sqlite => format!("printf('{prefix}%012d', {expr})"),
        Dialect::Postgres => format!("'{prefix}' || lpad(({expr})::text, 12, '0')"),
        Dialect::Mysql => format!("CONCAT('{prefix}', LPAD({expr}, 12, '0'))"),
    }
}

fn ts(d: Dialect, s: &str) -> String {
    match d {
        Dialect::Sqlite => format!("'{s}'"),
        _ => format!("TIMESTAMP '{s}'"),
    }
}

/// Seeds with INSERT … SELECT over a generated numbers table: nothing row by row.
async fn seed(url: &str, a: &Args) -> u64 {
    let d = a.dialect;
    let mut c = Conn::connect(&DbUrl::parse(url).unwrap(), OpenMode::Existing)
        .await
        .unwrap();
    let now = ts(d, "2026-01-01 00:00:00");
    let old = ts(d, "2024-01-01 00:00:00");
    let del_at = format!("CASE WHEN n.i % 2 = 0 THEN {old} ELSE NULL END");
    let del = "(n.i % 2 = 0)";
    let image_id = padded(d, "00000000-0000-0000-0000-", "n.i");
    let task_id = padded(d, "11111111-0000-0000-0000-", "n.i");
    let mut sql = vec![
        "CREATE TABLE bench_d (x INTEGER NOT NULL)".to_string(),
        "INSERT INTO bench_d (x) VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)".to_string(),
        "CREATE TABLE bench_n (i INTEGER NOT NULL PRIMARY KEY)".to_string(),
        format!(
            "INSERT INTO bench_n (i) SELECT 1 + a.x + 10 * b.x + 100 * c.x + 1000 * e.x + 10000 * f.x + 100000 * g.x \
             FROM bench_d a, bench_d b, bench_d c, bench_d e, bench_d f, bench_d g \
             WHERE a.x + 10 * b.x + 100 * c.x + 1000 * e.x + 10000 * f.x + 100000 * g.x < {}",
            a.images.max(a.tasks)
        ),
        format!(
            "INSERT INTO images (id, name, status, created_at, deleted_at, deleted, min_disk, min_ram, protected, visibility, os_hidden) \
             SELECT {image_id}, 'bench', 'active', {now}, {del_at}, {del}, 0, 0, FALSE, 'shared', FALSE \
             FROM bench_n n WHERE n.i <= {}",
            a.images
        ),
    ];
    for (table, per) in CHILDREN {
        let (cols, vals) = match table {
            "image_properties" => (
                "name, value",
                format!("{}, 'value'", concat(d, "'p'", "k.x")),
            ),
            "image_locations" => (
                "value, meta_data, status",
                format!(
                    "{}, '{{}}', 'active'",
                    concat(d, "'file:///var/lib/glance/images/'", "k.x")
                ),
            ),
            "image_members" => (
                "member, can_share, status",
                format!("{}, FALSE, 'accepted'", concat(d, "'tenant-'", "k.x")),
            ),
            _ => ("value", concat(d, "'tag-'", "k.x")),
        };
        sql.push(format!(
            "INSERT INTO {table} (image_id, {cols}, created_at, deleted_at, deleted) \
             SELECT {image_id}, {vals}, {now}, {del_at}, {del} \
             FROM bench_n n CROSS JOIN bench_d k WHERE n.i <= {} AND k.x < {per} ORDER BY n.i, k.x",
            a.images
        ));
    }
    sql.push(format!(
        "INSERT INTO tasks (id, type, status, owner, created_at, deleted_at, deleted) \
         SELECT {task_id}, 'import', 'success', 'bench', {now}, {del_at}, {del} FROM bench_n n WHERE n.i <= {}",
        a.tasks
    ));
    sql.push(format!(
        "INSERT INTO task_info (task_id, input, result, message) \
         SELECT {task_id}, '{{}}', '{{}}', 'done' FROM bench_n n WHERE n.i <= {}",
        a.tasks
    ));
    sql.push("DROP TABLE bench_n".into());
    sql.push("DROP TABLE bench_d".into());
    for s in &sql {
        c.execute(s)
            .await
            .unwrap_or_else(|e| panic!("seed failed: {e}\n{s}"));
    }
    match d {
        Dialect::Postgres => {
            c.execute("ANALYZE").await.unwrap();
        }
        Dialect::Sqlite => {
            c.execute("ANALYZE").await.unwrap();
        }
        Dialect::Mysql => {
            for t in [
                "images",
                "image_properties",
                "image_locations",
                "image_members",
                "image_tags",
                "tasks",
                "task_info",
            ] {
                c.query(&format!("ANALYZE TABLE {t}")).await.unwrap();
            }
        }
    }
    let mut total = 0;
    for t in [
        "images",
        "image_properties",
        "image_locations",
        "image_members",
        "image_tags",
        "tasks",
        "task_info",
    ] {
        total += c
            .query_i64(&format!("SELECT COUNT(*) FROM {t}"))
            .await
            .unwrap()
            .unwrap() as u64;
    }
    c.close().await;
    total
}

struct Measured {
    seconds: f64,
    max_rss_kb: u64,
    deleted: u64,
    per_table: Vec<(String, u64, f64)>,
}

fn run_purge(bin: &PathBuf, url: &str, cmd: &str, batch: u64) -> Measured {
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(bin)
        .args(["--database-url", url, "--format", "json", "db", cmd])
        .args(["--age_in_days", "0", "--max_rows", "-1"])
        .args(["--batch-size", &batch.to_string()])
        .output()
        .expect("run /usr/bin/time");
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd} failed:\n{stderr}");
    let max_rss_kb = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    let per_table = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["table"].as_str().unwrap().to_string(),
                s["deleted"].as_u64().unwrap(),
                s["seconds"].as_f64().unwrap(),
            )
        })
        .collect();
    Measured {
        seconds,
        max_rss_kb,
        deleted: report["total_deleted"].as_u64().unwrap(),
        per_table,
    }
}

async fn raw_deletes(url: &str, d: Dialect) -> (f64, u64, Vec<(String, u64, f64)>) {
    let mut c = Conn::connect(&DbUrl::parse(url).unwrap(), OpenMode::Existing)
        .await
        .unwrap();
    let cutoff = ts(d, "2025-12-31 00:00:00");
    let stmts = [
        (
            "task_info",
            format!(
                "DELETE FROM task_info WHERE task_id IN (SELECT id FROM tasks WHERE deleted_at < {cutoff})"
            ),
        ),
        (
            "image_properties",
            format!("DELETE FROM image_properties WHERE deleted_at < {cutoff}"),
        ),
        (
            "image_locations",
            format!("DELETE FROM image_locations WHERE deleted_at < {cutoff}"),
        ),
        (
            "image_members",
            format!("DELETE FROM image_members WHERE deleted_at < {cutoff}"),
        ),
        (
            "image_tags",
            format!("DELETE FROM image_tags WHERE deleted_at < {cutoff}"),
        ),
        (
            "tasks",
            format!("DELETE FROM tasks WHERE deleted_at < {cutoff}"),
        ),
        (
            "images",
            format!("DELETE FROM images WHERE deleted_at < {cutoff}"),
        ),
    ];
    let started = Instant::now();
    let mut total = 0;
    let mut per = Vec::new();
    for (t, s) in &stmts {
        let t0 = Instant::now();
        let n = c.execute(s).await.unwrap_or_else(|e| panic!("{e}\n{s}"));
        per.push((t.to_string(), n, t0.elapsed().as_secs_f64()));
        total += n;
    }
    let secs = started.elapsed().as_secs_f64();
    c.close().await;
    (secs, total, per)
}

fn sync(bin: &PathBuf, url: &str) {
    let out = Command::new(bin)
        .args(["--database-url", url, "db", "sync"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a = parse_args();
    let bin = binary();
    let dir = tempfile::tempdir().unwrap();
    let d = a.dialect;
    let name = format!("gm_purge_bench_{}", std::process::id());

    // 1. glance-manage purge.
    let url = create_db(d, &name, dir.path()).await;
    sync(&bin, &url);
    let t0 = Instant::now();
    let rows = seed(&url, &a).await;
    eprintln!(
        "{d}: seeded {rows} rows in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let p = run_purge(&bin, &url, "purge", a.batch_size);
    let pi = run_purge(&bin, &url, "purge_images_table", a.batch_size);
    drop_db(d, &name).await;

    // 2. Raw DELETEs on identical data.
    let name = format!("{name}_raw");
    let url = create_db(d, &name, dir.path()).await;
    sync(&bin, &url);
    seed(&url, &a).await;
    let (raw_secs, raw_rows, raw_per) = raw_deletes(&url, d).await;
    drop_db(d, &name).await;

    let total = p.deleted + pi.deleted;
    let secs = p.seconds + pi.seconds;
    println!(
        "## {d}: {} images, {rows} rows seeded, batch size {}",
        a.images, a.batch_size
    );
    println!("| run | rows deleted | wall time (s) | rows/s | peak RSS (MiB) |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| `db purge --age_in_days 0 --max_rows -1` | {} | {:.2} | {:.0} | {:.1} |",
        p.deleted,
        p.seconds,
        p.deleted as f64 / p.seconds,
        p.max_rss_kb as f64 / 1024.0
    );
    println!(
        "| `db purge_images_table --age_in_days 0 --max_rows -1` | {} | {:.2} | {:.0} | {:.1} |",
        pi.deleted,
        pi.seconds,
        pi.deleted as f64 / pi.seconds,
        pi.max_rss_kb as f64 / 1024.0
    );
    println!(
        "| both | {total} | {secs:.2} | {:.0} | |",
        total as f64 / secs
    );
    println!(
        "| raw `DELETE … WHERE deleted_at < cutoff`, one per table | {raw_rows} | {raw_secs:.2} | {:.0} | (server side) |",
        raw_rows as f64 / raw_secs
    );
    println!();
    println!("| table | purge rows | purge s | raw rows | raw s |");
    println!("|---|---:|---:|---:|---:|");
    for (t, n, s) in p.per_table.iter().chain(&pi.per_table) {
        let raw = raw_per.iter().find(|r| &r.0 == t);
        println!(
            "| {t} | {n} | {s:.2} | {} | {} |",
            raw.map(|r| r.1.to_string()).unwrap_or_default(),
            raw.map(|r| format!("{:.2}", r.2)).unwrap_or_default()
        );
    }
}
