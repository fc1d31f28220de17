//! `db sync`, `db upgrade`, `db expand`, `db migrate`, `db contract` and `db version_control`:
//! arguments resolved into a runner [`Command`], the runner's events printed as Glance's lines,
//! or collected into one JSON report (`--format json`).

use std::time::Instant;

use serde::Serialize;

use super::context::{CmdResult, Context, Failure, target_failure};
use super::glance;
use super::output::{json, note, out, render_failure};
use super::progress::{Display, Progress};
use crate::engine::runner::{self, Command, Event, RunError};
use crate::engine::target::{resolve_revision, resolve_target};
use crate::exec::OpenMode;
use crate::observe::Observer;
use crate::plan::Phase;

/// Prints Glance's line for each milestone and a note for each object left alone and each
/// retry; data-migration batches show as progress on stderr.
struct GlanceLines {
    display: Display,
    /// The data migration being counted, by name.
    progress: Option<(String, Progress)>,
}

impl Observer<Event> for GlanceLines {
    fn on(&mut self, event: &Event) {
        match event {
            Event::Milestone(m) => out(&glance::milestone_line(m)),
            Event::LeftAlone { object } => note(&format!("note: left alone: {object}")),
            Event::Retried {
                what,
                code,
                attempt,
                delay,
            } => note(&retry_line(what, code, *attempt, *delay)),
            Event::DataBatch {
                name,
                rows,
                pending,
                ..
            } => {
                if self.progress.as_ref().is_none_or(|(n, _)| n != name) {
                    let p = Progress::start(self.display, name.clone(), *pending);
                    self.progress = Some((name.clone(), p));
                }
                if let Some((_, p)) = &mut self.progress {
                    p.advance(*rows);
                }
            }
            Event::DataMigrated { .. } => {
                if let Some((_, p)) = self.progress.take() {
                    p.finish();
                }
            }
            _ => {}
        }
    }
}

fn retry_line(what: &str, code: &str, attempt: u32, delay: std::time::Duration) -> String {
    format!(
        "note: retrying after error {code} (deadlock, Galera certification conflict or lock wait), \
         attempt {attempt}, in {} ms: {what}",
        delay.as_millis()
    )
}

/// `--format json` of a run: what was applied, with timings (docs/json-output.md).
#[derive(Serialize, Default)]
struct RunReport {
    command: &'static str,
    ok: bool,
    exit_code: u8,
    /// Version rows before and after (the first and last write; both empty if none).
    from: Vec<String>,
    to: Vec<String>,
    /// Glance's lines, in order, as text output would print them.
    messages: Vec<String>,
    steps: Vec<StepJson>,
    data_migrations: Vec<DataJson>,
    versions_written: Vec<VersionsJson>,
    left_alone: Vec<String>,
    /// Statements and reads run again after a transient error.
    retries: Vec<RetryJson>,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Batches of the data migration under way.
    #[serde(skip)]
    batches: u64,
}

#[derive(Serialize)]
struct StepJson {
    phase: Phase,
    summary: String,
    statements: usize,
    seconds: f64,
}

#[derive(Serialize)]
struct DataJson {
    revision: String,
    name: String,
    rows: u64,
    /// Statements run for it (one per key-range batch).
    batches: u64,
    seconds: f64,
}

#[derive(Serialize)]
struct RetryJson {
    what: String,
    code: String,
    attempt: u32,
    seconds: f64,
}

#[derive(Serialize)]
struct VersionsJson {
    from: Vec<String>,
    to: Vec<String>,
}

impl Observer<Event> for RunReport {
    fn on(&mut self, event: &Event) {
        match event {
            Event::Milestone(m) => self.messages.push(glance::milestone_line(m)),
            Event::LeftAlone { object } => self.left_alone.push(object.clone()),
            Event::PhaseStarted { .. } => {}
            Event::StepApplied {
                phase,
                summary,
                statements,
                elapsed,
            } => self.steps.push(StepJson {
                phase: *phase,
                summary: summary.clone(),
                statements: *statements,
                seconds: elapsed.as_secs_f64(),
            }),
            Event::DataMigrated {
                revision,
                name,
                rows,
                elapsed,
            } => {
                let batches = std::mem::take(&mut self.batches);
                self.data_migrations.push(DataJson {
                    revision: revision.clone(),
                    name: name.clone(),
                    rows: *rows,
                    batches,
                    seconds: elapsed.as_secs_f64(),
                })
            }
            Event::DataBatch { .. } => self.batches += 1,
            Event::Retried {
                what,
                code,
                attempt,
                delay,
            } => self.retries.push(RetryJson {
                what: what.clone(),
                code: code.clone(),
                attempt: *attempt,
                seconds: delay.as_secs_f64(),
            }),
            Event::VersionsWritten { from, to } => {
                if self.versions_written.is_empty() {
                    self.from = from.clone();
                }
                self.to = to.clone();
                self.versions_written.push(VersionsJson {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        }
    }
}

/// The failure a stopped run ends with. The legacy head Glance prints before refusing goes to
/// stdout as text, or into the JSON report's messages.
fn run_failure(e: RunError, report: Option<&mut RunReport>) -> Failure {
    match e {
        RunError::Refused(r) => {
            if let Some(line) = glance::refusal_preamble(&r) {
                match report {
                    Some(rep) => rep.messages.push(line),
                    None => out(&line),
                }
            }
            glance::refusal_failure(&r)
        }
        RunError::Engine(e) => Failure::from(e),
    }
}

/// Opens the database (creating a SQLite file) and runs `command` under the migration lock.
async fn run(ctx: &Context, name: &'static str, command: Command) -> CmdResult {
    let started = Instant::now();
    let mut report = RunReport {
        command: name,
        ..RunReport::default()
    };
    let mut lines = GlanceLines {
        display: Display::for_stderr(ctx.json),
        progress: None,
    };
    let result = match ctx.connect(OpenMode::Create).await {
        Err(e) => Err(Failure::from(e)),
        Ok(mut conn) => {
            let obs: &mut dyn Observer<Event> = if ctx.json { &mut report } else { &mut lines };
            let policy = runner::Policy {
                max_lock: ctx.max_lock,
                online: ctx.online,
                verify: ctx.verify,
            };
            let r = runner::run_locked_with(
                &mut conn,
                &ctx.url,
                ctx.lock_timeout,
                &ctx.revisions,
                &command,
                policy,
                obs,
            )
            .await;
            conn.close().await;
            r.map(|()| 0)
                .map_err(|e| run_failure(e, ctx.json.then_some(&mut report)))
        }
    };
    if ctx.json {
        report.seconds = started.elapsed().as_secs_f64();
        match &result {
            Ok(code) => {
                report.ok = true;
                report.exit_code = *code;
            }
            Err(f) => {
                report.exit_code = f.code;
                let text = render_failure(&f.report);
                report.error = Some(
                    anstream::adapter::strip_str(&text)
                        .to_string()
                        .trim_end()
                        .into(),
                );
            }
        }
        json(&report);
    }
    result
}

pub async fn sync(ctx: &Context, version: Option<&str>, current: Option<&str>) -> CmdResult {
    // Bad version arguments fail before anything is opened (or a SQLite file created).
    let target = resolve_target(&ctx.revisions, version).map_err(target_failure)?;
    let stamp_first = match current {
        None => None,
        Some(c) => Some(
            resolve_revision(&ctx.revisions, Some(c))
                .map_err(target_failure)?
                .unwrap_or_else(|| "liberty".to_string()),
        ),
    };
    run(
        ctx,
        "sync",
        Command::Sync {
            target,
            stamp_first,
        },
    )
    .await
}

pub async fn upgrade(ctx: &Context, version: Option<&str>) -> CmdResult {
    let target = resolve_target(&ctx.revisions, version).map_err(target_failure)?;
    run(ctx, "upgrade", Command::Upgrade { target }).await
}

pub async fn expand(ctx: &Context) -> CmdResult {
    run(ctx, "expand", Command::Expand).await
}

pub async fn migrate(ctx: &Context) -> CmdResult {
    run(ctx, "migrate", Command::Migrate).await
}

pub async fn contract(ctx: &Context) -> CmdResult {
    run(ctx, "contract", Command::Contract).await
}

/// `db version_control [V]` (default `liberty`).
pub async fn version_control(ctx: &Context, version: Option<&str>, force: bool) -> CmdResult {
    let revision = resolve_revision(&ctx.revisions, Some(version.unwrap_or("liberty")))
        .map_err(target_failure)?
        .unwrap_or_else(|| "liberty".to_string());
    run(ctx, "version_control", Command::Stamp { revision, force }).await
}
