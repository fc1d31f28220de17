//! The contenders: our binary, Glance's own statements run raw, one raw DELETE per table in one
//! transaction, and glance-manage from a Glance venv. Each runs on its own fresh copy.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use glance_manage::schema::model::Dialect;
use sqlx::types::chrono::{DateTime, Utc};

use crate::backend::{Db, exec};

/// Glance's `db purge` order (glance-reference §4.2): `task_info` forced first, then the models
/// with a `deleted` column in definition order, `tasks` last; `images` only in
/// `purge_images_table`.
pub const GLANCE_ORDER: [&str; 7] = [
    "task_info",
    "image_properties",
    "image_tags",
    "image_locations",
    "image_members",
    "tasks",
    "images",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// `db purge --age_in_days 0 --max_rows -1`, then `db purge_images_table` alike.
    Unlimited,
    /// The default cron run: `db purge --age_in_days 30 --max_rows 100`.
    Cron,
}

impl Scenario {
    pub fn parse(s: &str) -> Result<Scenario, String> {
        match s {
            "unlimited" => Ok(Scenario::Unlimited),
            "cron" => Ok(Scenario::Cron),
            other => Err(format!("unknown scenario {other:?} (unlimited, cron)")),
        }
    }

    pub fn age_in_days(self) -> i64 {
        match self {
            Scenario::Unlimited => 0,
            Scenario::Cron => 30,
        }
    }

    /// `None`: no limit.
    pub fn max_rows(self) -> Option<u64> {
        match self {
            Scenario::Unlimited => None,
            Scenario::Cron => Some(100),
        }
    }

    /// The commands of the run (`purge_images_table` only when unlimited).
    pub fn commands(self) -> &'static [&'static str] {
        match self {
            Scenario::Unlimited => &["purge", "purge_images_table"],
            Scenario::Cron => &["purge"],
        }
    }

    /// Tables the run purges, in Glance's order.
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Scenario::Unlimited => &GLANCE_ORDER,
            Scenario::Cron => &GLANCE_ORDER[..6],
        }
    }

    pub fn contenders(self) -> &'static [Contender] {
        match self {
            Scenario::Unlimited => &[
                Contender::Ours,
                Contender::OursOneJob,
                Contender::GlanceRaw,
                Contender::OneTransaction,
                Contender::GlanceManage,
            ],
            Scenario::Cron => &[
                Contender::Ours,
                Contender::GlanceRaw,
                Contender::GlanceManage,
            ],
        }
    }

    pub fn title(self) -> String {
        let args = self.args().join(" ");
        match self {
            Scenario::Unlimited => {
                format!("Unlimited purge: `db purge {args}` then `db purge_images_table {args}`")
            }
            Scenario::Cron => format!("Default cron run: `db purge {args}`"),
        }
    }

    pub fn args(self) -> Vec<String> {
        let max = self.max_rows().map(|m| m as i64).unwrap_or(-1);
        vec![
            "--age_in_days".into(),
            self.age_in_days().to_string(),
            "--max_rows".into(),
            max.to_string(),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Contender {
    Ours,
    /// Ours with `--jobs 1`: one table at a time, one connection (what `--jobs` adds).
    OursOneJob,
    /// Glance's statements (`DeleteFromSelect`), one per table, each its own transaction.
    GlanceRaw,
    /// `DELETE … WHERE deleted_at < :cutoff` per table, all in one transaction.
    OneTransaction,
    GlanceManage,
}

impl Contender {
    pub fn title(self) -> &'static str {
        match self {
            Contender::Ours => "ours",
            Contender::OursOneJob => "ours, --jobs 1",
            Contender::GlanceRaw => "Glance's statements, raw",
            Contender::OneTransaction => "one raw DELETE per table, one transaction",
            Contender::GlanceManage => "glance-manage 33",
        }
    }
}

/// What one timed run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub seconds: f64,
    /// Peak RSS of the process (the largest of the run's processes), when it is a process.
    pub rss_kib: Option<u64>,
    /// Rows deleted per table as the contender itself reports them.
    pub reported: Vec<(String, u64)>,
    /// Seconds per table, when the contender says.
    pub per_table: Vec<(String, f64)>,
}

impl Outcome {
    pub fn reported_total(&self) -> u64 {
        self.reported.iter().map(|(_, n)| n).sum()
    }
}

/// What a run needs besides the database.
pub struct Tools {
    pub ours: PathBuf,
    pub ours_extra: Vec<String>,
    pub glance_venv: Option<PathBuf>,
    pub workdir: PathBuf,
}

pub async fn run(c: Contender, s: Scenario, db: &Db, tools: &Tools) -> Result<Outcome, String> {
    match c {
        Contender::Ours | Contender::OursOneJob => {
            let mut out = Outcome::default();
            for cmd in s.commands() {
                let mut args = vec![
                    "--database-url".to_string(),
                    db.url.clone(),
                    "--format".into(),
                    "json".into(),
                    "db".into(),
                    cmd.to_string(),
                ];
                args.extend(s.args());
                args.extend(tools.ours_extra.iter().cloned());
                if c == Contender::OursOneJob {
                    args.extend(["--jobs".to_string(), "1".to_string()]);
                }
                let p = timed_process(&tools.ours, &args, &tools.workdir)?;
                let report: serde_json::Value = serde_json::from_slice(&p.stdout)
                    .map_err(|e| format!("ours: no JSON report ({e})"))?;
                for step in report["steps"].as_array().into_iter().flatten() {
                    let t = step["table"].as_str().unwrap_or_default().to_string();
                    add(&mut out.reported, &t, step["deleted"].as_u64().unwrap_or(0));
                    add(
                        &mut out.per_table,
                        &t,
                        step["seconds"].as_f64().unwrap_or(0.0),
                    );
                }
                out.seconds += p.seconds;
                out.rss_kib = out.rss_kib.max(Some(p.rss_kib));
            }
            Ok(out)
        }
        Contender::GlanceManage => {
            let venv = tools
                .glance_venv
                .as_ref()
                .ok_or("glance-manage needs --glance-venv")?;
            let conf = tools.workdir.join(format!("{}.conf", db.name));
            std::fs::write(&conf, format!("[database]\nconnection = {}\n", db.url))
                .map_err(|e| format!("writing {}: {e}", conf.display()))?;
            let mut out = Outcome::default();
            for cmd in s.commands() {
                let mut args = vec![
                    "--config-file".to_string(),
                    conf.display().to_string(),
                    "db".into(),
                    cmd.to_string(),
                ];
                args.extend(s.args());
                let p = timed_process(&venv.join("bin/glance-manage"), &args, &tools.workdir)?;
                for (t, n) in glance_deleted_lines(&String::from_utf8_lossy(&p.stderr)) {
                    add(&mut out.reported, &t, n);
                }
                out.seconds += p.seconds;
                out.rss_kib = out.rss_kib.max(Some(p.rss_kib));
            }
            Ok(out)
        }
        Contender::GlanceRaw | Contender::OneTransaction => {
            let cutoff = cutoff(s.age_in_days());
            let d = db.backend.dialect();
            let stmts: Vec<(String, String)> = s
                .tables()
                .iter()
                .map(|t| {
                    let sql = if c == Contender::GlanceRaw {
                        glance_statement(t, &cutoff, s.max_rows())
                    } else {
                        plain_statement(t, &cutoff)
                    };
                    (t.to_string(), sql)
                })
                .collect();
            let mut out = Outcome::default();
            let started = Instant::now();
            let mut conn = db.connect().await?;
            let one_tx = c == Contender::OneTransaction;
            if one_tx {
                exec(&mut conn, begin(d)).await?;
            }
            for (t, sql) in &stmts {
                let t0 = Instant::now();
                let n = exec(&mut conn, sql).await?;
                out.reported.push((t.clone(), n));
                out.per_table.push((t.clone(), t0.elapsed().as_secs_f64()));
            }
            if one_tx {
                exec(&mut conn, "COMMIT").await?;
            }
            conn.close().await;
            out.seconds = started.elapsed().as_secs_f64();
            Ok(out)
        }
    }
}

fn begin(d: Dialect) -> &'static str {
    match d {
        Dialect::Mysql => "START TRANSACTION",
        _ => "BEGIN",
    }
}

fn add<T: std::ops::AddAssign + Copy>(v: &mut Vec<(String, T)>, table: &str, x: T) {
    match v.iter_mut().find(|(t, _)| t == table) {
        Some((_, acc)) => *acc += x,
        None => v.push((table.to_string(), x)),
    }
}

/// `now - age` in naive UTC with microseconds, as Glance binds it.
pub fn cutoff(age_in_days: i64) -> String {
    let micros = Utc::now().timestamp_micros() - age_in_days * 86_400 * 1_000_000;
    DateTime::<Utc>::from_timestamp_micros(micros)
        .expect("a date within chrono's range")
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

/// Glance's `DeleteFromSelect` as compiled (glance-reference §4.1), with the cutoff inlined.
pub fn glance_statement(table: &str, cutoff: &str, limit: Option<u64>) -> String {
    let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
    if table == "task_info" {
        format!(
            "DELETE FROM task_info WHERE task_info.task_id in (SELECT T1.task_id FROM \
             (SELECT task_info.task_id FROM task_info JOIN tasks ON tasks.id = task_info.task_id \
             WHERE tasks.deleted_at < '{cutoff}' ORDER BY tasks.deleted_at{limit}) as T1)"
        )
    } else {
        format!(
            "DELETE FROM {table} WHERE {table}.id in (SELECT T1.id FROM (SELECT {table}.id FROM {table} \
             WHERE {table}.deleted_at < '{cutoff}' ORDER BY {table}.deleted_at{limit}) as T1)"
        )
    }
}

/// The simplest set-based DELETE of a table's eligible rows.
pub fn plain_statement(table: &str, cutoff: &str) -> String {
    if table == "task_info" {
        format!(
            "DELETE FROM task_info WHERE task_id IN (SELECT id FROM tasks WHERE deleted_at < '{cutoff}')"
        )
    } else {
        format!("DELETE FROM {table} WHERE deleted_at < '{cutoff}'")
    }
}

/// `Deleted <n> row(s) from table <t>` lines of Glance's INFO log.
fn glance_deleted_lines(stderr: &str) -> Vec<(String, u64)> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find("Deleted ")? + "Deleted ".len()..];
            let (n, rest) = rest.split_once(' ')?;
            let table = rest.strip_prefix("row(s) from table ")?;
            Some((table.trim().to_string(), n.parse().ok()?))
        })
        .collect()
}

struct Process {
    seconds: f64,
    rss_kib: u64,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `program` under `/usr/bin/time` (peak RSS); wall time from spawn to exit.
fn timed_process(program: &Path, args: &[String], workdir: &Path) -> Result<Process, String> {
    let tfile = workdir.join("time.out");
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&tfile)
        .arg(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run /usr/bin/time {}: {e}", program.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{} {} failed ({}):\n{}",
            program.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let rss_kib = std::fs::read_to_string(&tfile)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()))
        .ok_or("cannot read the peak RSS from /usr/bin/time")?;
    Ok(Process {
        seconds,
        rss_kib,
        stdout: out.stdout,
        stderr: out.stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_glance_log_lines() {
        let log = "2026-11-30 05:00:00.1 12 INFO glance.db.sqlalchemy.api [None req-x - - - - - -] Deleted 5000 row(s) from table task_info\n\
                   INFO glance.db.sqlalchemy.api [-] Purging deleted rows older than 0 day(s) from table tasks";
        assert_eq!(
            glance_deleted_lines(log),
            vec![("task_info".to_string(), 5000)]
        );
    }
}
