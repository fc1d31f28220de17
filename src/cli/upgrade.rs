//! `db sync`, `db upgrade`, `db expand`, `db migrate`, `db contract` and `db version_control`:
//! arguments resolved into a runner [`Command`], the runner's events printed as Glance's lines.

use super::context::{CmdResult, Context, Failure, target_failure};
use super::glance;
use super::output::{note, out};
use crate::engine::runner::{self, Command, Event, RunError};
use crate::engine::target::{resolve_revision, resolve_target};
use crate::exec::{Conn, OpenMode};
use crate::observe::Observer;

/// Prints Glance's line for each milestone and a note for each object left alone.
struct GlanceLines;

impl Observer<Event> for GlanceLines {
    fn on(&mut self, event: &Event) {
        match event {
            Event::Milestone(m) => out(&glance::milestone_line(m)),
            Event::LeftAlone { object } => note(&format!("note: left alone: {object}")),
            _ => {}
        }
    }
}

/// The failure a stopped run ends with.
fn run_failure(e: RunError) -> Failure {
    match e {
        RunError::Refused(r) => {
            if let Some(line) = glance::refusal_preamble(&r) {
                out(&line);
            }
            glance::refusal_failure(&r)
        }
        RunError::Engine(e) => Failure::from(e),
    }
}

/// Opens the database (creating a SQLite file) and runs `command` under the migration lock.
async fn run(ctx: &Context, command: Command) -> CmdResult {
    let mut conn = Conn::connect(&ctx.url, OpenMode::Create).await?;
    let result = runner::run_locked(
        &mut conn,
        &ctx.url,
        ctx.lock_timeout,
        &ctx.revisions,
        &command,
        &mut GlanceLines,
    )
    .await;
    conn.close().await;
    result.map(|()| 0).map_err(run_failure)
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
        Command::Sync {
            target,
            stamp_first,
        },
    )
    .await
}

pub async fn upgrade(ctx: &Context, version: Option<&str>) -> CmdResult {
    let target = resolve_target(&ctx.revisions, version).map_err(target_failure)?;
    run(ctx, Command::Upgrade { target }).await
}

pub async fn expand(ctx: &Context) -> CmdResult {
    run(ctx, Command::Expand).await
}

pub async fn migrate(ctx: &Context) -> CmdResult {
    run(ctx, Command::Migrate).await
}

pub async fn contract(ctx: &Context) -> CmdResult {
    run(ctx, Command::Contract).await
}

/// `db version_control [V]` (default `liberty`).
pub async fn version_control(ctx: &Context, version: Option<&str>, force: bool) -> CmdResult {
    let revision = resolve_revision(&ctx.revisions, Some(version.unwrap_or("liberty")))
        .map_err(target_failure)?
        .unwrap_or_else(|| "liberty".to_string());
    run(ctx, Command::Stamp { revision, force }).await
}
