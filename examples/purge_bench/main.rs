//! Purge benchmark: ours against Glance's own statements run raw, one raw DELETE per table in
//! one transaction, and (given a venv) glance-manage itself, each on a fresh copy of the same
//! seeded database, per backend, in one run.
//!
//! ```text
//! benches/purge.sh [--glance-venv DIR] [--images N] [--runs R] [--backends sqlite,postgres,mariadb]
//!                  [--scenarios unlimited,cron] [--tasks N] [--batch-size N]
//!                  [--mariadb-copy select|dump|reseed] [--keep] [--seed-only]
//!                  [--forms SIZES [--cap N]]
//! ```
//! Per backend: one database is created, `db sync`ed to head with our binary and seeded
//! (`seed.rs`: by default 100,000 images, 2,000,000 child rows, 10,000 tasks with task_info,
//! metadef rows; half soft-deleted, so 1,060,000 rows are eligible at `--age_in_days 0`). Then,
//! per scenario, R rounds; each round runs every contender (in a rotating order) on its own
//! fresh copy; copying is timed apart. After every run the rows left in each table are counted:
//! every contender must have deleted exactly the rows the scenario makes eligible (and report
//! the count it deleted), or the benchmark stops with the difference: comparing different work
//! is worthless.
//!
//! Prints one Markdown table per scenario (median wall time of R runs, peak RSS of our binary,
//! ratios), then per-table seconds. Servers as in the tests (GM_TEST_PG_URL, GM_TEST_MYSQL_URL).

mod backend;
mod contenders;
mod forms;
mod seed;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use backend::{Backend, Db, MariadbCopy, Servers};
use contenders::{Contender, Outcome, Scenario, Tools};
use seed::{Shape, TABLES};

struct Args {
    backends: Vec<Backend>,
    scenarios: Vec<Scenario>,
    shape: Shape,
    runs: usize,
    glance_venv: Option<PathBuf>,
    batch_size: Option<u64>,
    mariadb_copy: MariadbCopy,
    keep: bool,
    /// `--forms`: time batch statement forms instead of the contenders (`forms.rs`).
    forms: Option<Vec<u64>>,
    /// The row cap of the time-targeted sizer in `--forms`.
    cap: u64,
    /// `--seed-only`: seed one database per backend, keep it, print its URL (for hand timing).
    seed_only: bool,
}

const USAGE: &str = "usage: purge_bench [--glance-venv DIR] [--images N] [--tasks N] [--runs R] \
[--backends sqlite,postgres,mariadb] [--scenarios unlimited,cron] [--batch-size N] \
[--mariadb-copy select|dump|reseed] [--keep] [--seed-only] [--forms SIZES [--cap N]]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        backends: vec![Backend::Sqlite, Backend::Postgres, Backend::Mariadb],
        scenarios: vec![Scenario::Unlimited, Scenario::Cron],
        shape: Shape {
            images: 100_000,
            tasks: 0,
        },
        runs: 3,
        glance_venv: None,
        batch_size: None,
        mariadb_copy: MariadbCopy::Select,
        keep: false,
        forms: None,
        cap: 100_000,
        seed_only: false,
    };
    let mut tasks = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--keep" {
            a.keep = true;
            continue;
        }
        if flag == "--seed-only" {
            a.seed_only = true;
            a.keep = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        const VALUED: [&str; 10] = [
            "--backends",
            "--scenarios",
            "--images",
            "--tasks",
            "--runs",
            "--batch-size",
            "--glance-venv",
            "--mariadb-copy",
            "--forms",
            "--cap",
        ];
        if !VALUED.contains(&flag.as_str()) {
            return Err(format!("unknown argument {flag}\n{USAGE}"));
        }
        let val = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        };
        match flag.as_str() {
            "--backends" => {
                a.backends = val
                    .split(',')
                    .map(Backend::parse)
                    .collect::<Result<_, _>>()?
            }
            "--scenarios" => {
                a.scenarios = val
                    .split(',')
                    .map(Scenario::parse)
                    .collect::<Result<_, _>>()?
            }
            "--images" => a.shape.images = num(&val)?,
            "--tasks" => tasks = Some(num(&val)?),
            "--runs" => a.runs = num(&val)?.max(1) as usize,
            "--batch-size" => a.batch_size = Some(num(&val)?),
            "--glance-venv" => {
                let p = PathBuf::from(&val);
                if !p.join("bin/glance-manage").exists() {
                    return Err(format!("{val}/bin/glance-manage does not exist"));
                }
                a.glance_venv = Some(p);
            }
            "--mariadb-copy" => a.mariadb_copy = MariadbCopy::parse(&val)?,
            "--forms" => {
                a.forms = Some(val.split(',').map(num).collect::<Result<_, _>>()?);
            }
            "--cap" => a.cap = num(&val)?,
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    a.shape.tasks = tasks.unwrap_or(a.shape.images / 10);
    Ok(a)
}

/// The glance-manage binary next to this example (target/<profile>/).
fn our_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("glance-manage"))
        .ok_or("no target directory")?;
    if !bin.exists() {
        return Err(format!(
            "{} not found: run `cargo build --release` first",
            bin.display()
        ));
    }
    Ok(bin)
}

/// Rows a scenario must delete from each table, from the seeded database.
async fn expected(db: &Db, s: Scenario) -> Result<BTreeMap<String, u64>, String> {
    let cutoff = contenders::cutoff(s.age_in_days());
    let mut c = db.connect().await?;
    let mut out = BTreeMap::new();
    for t in TABLES {
        let eligible = if s.tables().contains(&t) {
            let q = if t == "task_info" {
                format!(
                    "SELECT COUNT(*) FROM task_info ti JOIN tasks t ON t.id = ti.task_id WHERE t.deleted_at < '{cutoff}'"
                )
            } else {
                format!("SELECT COUNT(*) FROM {t} WHERE deleted_at < '{cutoff}'")
            };
            let n = c
                .query_i64(&q)
                .await
                .map_err(|e| format!("{e}\n{q}"))?
                .unwrap_or(0) as u64;
            s.max_rows().map_or(n, |m| n.min(m))
        } else {
            0
        };
        out.insert(t.to_string(), eligible);
    }
    c.close().await;
    Ok(out)
}

/// Fails unless the run deleted exactly `want` per table and reported what it deleted.
fn verify(
    who: &str,
    seeded: &BTreeMap<String, u64>,
    left: &BTreeMap<String, u64>,
    want: &BTreeMap<String, u64>,
    o: &Outcome,
) -> Result<u64, String> {
    let mut wrong = Vec::new();
    let mut total = 0;
    for (t, &w) in want {
        let deleted = seeded[t].saturating_sub(left[t]);
        total += deleted;
        if deleted != w {
            wrong.push(format!("{t}: deleted {deleted}, expected {w}"));
        }
    }
    if o.reported_total() != total {
        wrong.push(format!(
            "reported {} rows deleted, the tables lost {total}",
            o.reported_total()
        ));
    }
    if wrong.is_empty() {
        Ok(total)
    } else {
        Err(format!(
            "{who} did different work than the others — stopping:\n  {}",
            wrong.join("\n  ")
        ))
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn secs(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

/// Everything measured for one backend and scenario.
struct Cell {
    backend: Backend,
    deleted: u64,
    runs: BTreeMap<Contender, Vec<Outcome>>,
}

impl Cell {
    fn median(&self, c: Contender) -> Option<f64> {
        let v = self.runs.get(&c)?;
        Some(median(v.iter().map(|o| o.seconds).collect()))
    }
    fn peak_rss_mib(&self, c: Contender) -> Option<f64> {
        let v = self.runs.get(&c)?;
        v.iter()
            .filter_map(|o| o.rss_kib)
            .max()
            .map(|k| k as f64 / 1024.0)
    }
    fn median_table(&self, c: Contender, table: &str) -> Option<f64> {
        let v: Vec<f64> = self
            .runs
            .get(&c)?
            .iter()
            .filter_map(|o| o.per_table.iter().find(|(t, _)| t == table).map(|x| x.1))
            .collect();
        (!v.is_empty()).then(|| median(v))
    }
}

fn print_scenario(s: Scenario, cells: &[Cell], a: &Args) {
    let contenders: Vec<Contender> = s
        .contenders()
        .iter()
        .copied()
        .filter(|c| *c != Contender::GlanceManage || a.glance_venv.is_some())
        .collect();
    println!("## {}\n", s.title());
    println!(
        "{} images, {} rows in the purgeable tables; median of {} run(s), each on a fresh copy.\n",
        thousands(a.shape.images),
        thousands(a.shape.purgeable_rows()),
        a.runs
    );
    let mut head = vec![
        "backend".to_string(),
        "rows deleted".into(),
        "ours".into(),
        "peak RSS (ours)".into(),
    ];
    let others: Vec<Contender> = contenders[1..].to_vec();
    head.extend(others.iter().map(|c| c.title().to_string()));
    head.extend(others.iter().map(|c| format!("ours / {}", short(*c))));
    println!("| {} |", head.join(" | "));
    println!("|{}", "---|".repeat(head.len()));
    for cell in cells {
        let ours = cell.median(Contender::Ours).unwrap_or(f64::NAN);
        let mut row = vec![
            cell.backend.title().to_string(),
            thousands(cell.deleted),
            secs(ours),
            cell.peak_rss_mib(Contender::Ours)
                .map(|m| format!("{m:.1} MiB"))
                .unwrap_or_default(),
        ];
        row.extend(
            others
                .iter()
                .map(|c| cell.median(*c).map(secs).unwrap_or_else(|| "–".into())),
        );
        row.extend(others.iter().map(|c| {
            cell.median(*c)
                .map(|m| format!("{:.2}×", ours / m))
                .unwrap_or_else(|| "–".into())
        }));
        println!("| {} |", row.join(" | "));
    }
    if a.glance_venv.is_some() {
        println!(
            "\nPeak RSS of glance-manage: {}",
            cells
                .iter()
                .map(|c| format!(
                    "{} {:.0} MiB",
                    c.backend.title(),
                    c.peak_rss_mib(Contender::GlanceManage).unwrap_or(f64::NAN)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!("\nSeconds per table (median; ours from its JSON report, raw per statement):\n");
    let timed: Vec<Contender> = contenders
        .iter()
        .copied()
        .filter(|c| *c != Contender::GlanceManage)
        .collect();
    let mut head = vec!["backend".to_string(), "table".into()];
    head.extend(timed.iter().map(|c| c.title().to_string()));
    println!("| {} |", head.join(" | "));
    println!("|{}", "---|".repeat(head.len()));
    for cell in cells {
        for t in s.tables() {
            let mut row = vec![cell.backend.title().to_string(), t.to_string()];
            row.extend(timed.iter().map(|c| {
                cell.median_table(*c, t)
                    .map(|x| format!("{x:.2}"))
                    .unwrap_or_else(|| "–".into())
            }));
            println!("| {} |", row.join(" | "));
        }
    }
    println!();
}

fn short(c: Contender) -> &'static str {
    match c {
        Contender::Ours => "ours",
        Contender::OursOneJob => "ours --jobs 1",
        Contender::GlanceRaw => "raw",
        Contender::OneTransaction => "one tx",
        Contender::GlanceManage => "glance-manage",
    }
}

async fn bench_backend(
    b: Backend,
    a: &Args,
    servers: &Servers,
    tools: &Tools,
    cells: &mut BTreeMap<Scenario, Vec<Cell>>,
) -> Result<(), String> {
    let pid = std::process::id();
    let seed_db = servers.db(b, &format!("gm_pbench_{pid}_seed"));
    let run_db = servers.db(b, &format!("gm_pbench_{pid}_run"));
    let result = async {
        let seed_secs = servers
            .create_seeded(&seed_db, &tools.ours, a.shape)
            .await?;
        let seeded = seed_db.counts().await?;
        eprintln!(
            "{}: seeded {} rows in {seed_secs:.1} s",
            b.title(),
            thousands(seeded.values().sum())
        );
        if a.seed_only {
            return Ok(());
        }
        if let Some(sizes) = &a.forms {
            return forms::run(
                b,
                servers,
                &seed_db,
                &run_db,
                &tools.ours,
                a.shape,
                a.mariadb_copy,
                sizes,
                a.cap,
            )
            .await;
        }
        let mut copy_secs = Vec::new();
        for &s in &a.scenarios {
            let want = expected(&seed_db, s).await?;
            let mut cell = Cell {
                backend: b,
                deleted: want.values().sum(),
                runs: BTreeMap::new(),
            };
            let contenders: Vec<Contender> = s
                .contenders()
                .iter()
                .copied()
                .filter(|c| *c != Contender::GlanceManage || tools.glance_venv.is_some())
                .collect();
            for round in 0..a.runs {
                for k in 0..contenders.len() {
                    let c = contenders[(round + k) % contenders.len()];
                    let t0 = Instant::now();
                    servers
                        .copy(&seed_db, &run_db, a.mariadb_copy, &tools.ours, a.shape)
                        .await?;
                    copy_secs.push(t0.elapsed().as_secs_f64());
                    let o = contenders::run(c, s, &run_db, tools)
                        .await
                        .map_err(|e| format!("{} {}: {e}", b.title(), c.title()))?;
                    let left = run_db.counts().await?;
                    let who = format!("{} on {}", c.title(), b.title());
                    let n = verify(&who, &seeded, &left, &want, &o)?;
                    eprintln!(
                        "{} {:?} round {}: {:<42} {:>9} rows  {:>8.2} s",
                        b.title(),
                        s,
                        round + 1,
                        c.title(),
                        n,
                        o.seconds
                    );
                    cell.runs.entry(c).or_default().push(o);
                }
            }
            cells.entry(s).or_default().push(cell);
        }
        let copy_how = match b {
            Backend::Sqlite => "file copy",
            Backend::Postgres => "CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY + CHECKPOINT",
            Backend::Mariadb => a.mariadb_copy.describe(),
        };
        eprintln!(
            "{}: fresh copy ({copy_how}): median {:.1} s, not counted",
            b.title(),
            median(copy_secs)
        );
        Ok::<_, String>(())
    }
    .await;
    let _ = servers.drop(&run_db).await;
    if a.keep {
        eprintln!("{}: kept the seeded database: {}", b.title(), seed_db.url);
    } else {
        let _ = servers.drop(&seed_db).await;
    }
    result
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let ours = match our_binary() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let workdir = std::env::var("GM_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir())
        .join(format!("gm_pbench_{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&workdir) {
        eprintln!("cannot create {}: {e}", workdir.display());
        return ExitCode::FAILURE;
    }
    let servers = Servers::from_env(workdir.clone());
    let tools = Tools {
        ours,
        ours_extra: a
            .batch_size
            .map(|n| vec!["--batch-size".to_string(), n.to_string()])
            .unwrap_or_default(),
        glance_venv: a.glance_venv.clone(),
        workdir: workdir.clone(),
    };
    let mut cells: BTreeMap<Scenario, Vec<Cell>> = BTreeMap::new();
    let mut failed = None;
    for &b in &a.backends {
        if let Err(e) = bench_backend(b, &a, &servers, &tools, &mut cells).await {
            failed = Some(e);
            break;
        }
    }
    if !a.keep {
        let _ = std::fs::remove_dir_all(&workdir);
    }
    if let Some(e) = failed {
        eprintln!("\nBENCHMARK FAILED: {e}");
        return ExitCode::FAILURE;
    }
    if a.forms.is_some() || a.seed_only {
        return ExitCode::SUCCESS;
    }
    let date = sqlx::types::chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    println!(
        "# Purge benchmark, {date}{}\n",
        a.batch_size
            .map(|n| format!(", ours with --batch-size {n}"))
            .unwrap_or_default()
    );
    for s in &a.scenarios {
        if let Some(c) = cells.get(s) {
            print_scenario(*s, c, &a);
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: &[(&str, u64)]) -> BTreeMap<String, u64> {
        v.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn verify_accepts_the_expected_work_only() {
        let seeded = map(&[("images", 10), ("tasks", 4), ("metadef_tags", 3)]);
        let want = map(&[("images", 5), ("tasks", 2), ("metadef_tags", 0)]);
        let reported = |n: u64| Outcome {
            reported: vec![("all".into(), n)],
            ..Outcome::default()
        };
        let left = map(&[("images", 5), ("tasks", 2), ("metadef_tags", 3)]);
        assert_eq!(verify("x", &seeded, &left, &want, &reported(7)), Ok(7));
        // One row too few in a table.
        let short = map(&[("images", 6), ("tasks", 2), ("metadef_tags", 3)]);
        let err = verify("x", &seeded, &short, &want, &reported(6)).unwrap_err();
        assert!(err.contains("images: deleted 4, expected 5"), "{err}");
        // A table that must stay untouched lost a row.
        let touched = map(&[("images", 5), ("tasks", 2), ("metadef_tags", 2)]);
        assert!(verify("x", &seeded, &touched, &want, &reported(8)).is_err());
        // The right rows went, but the contender reports another count.
        let err = verify("x", &seeded, &left, &want, &reported(9)).unwrap_err();
        assert!(err.contains("reported 9"), "{err}");
    }

    #[test]
    fn medians_and_numbers() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(thousands(1_060_000), "1,060,000");
        assert_eq!(thousands(600), "600");
    }
}
