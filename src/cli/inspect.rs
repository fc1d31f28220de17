//! The commands that only read: `db version`, `db check`, `db plan`, `db drift` and
//! `db history`, and how they present what they find (text or JSON).

use std::collections::BTreeSet;

use serde::Serialize;

use super::context::{CmdResult, Context, Failure, Message, target_failure};
use super::glance::{self, NOT_UNDER_CONTROL};
use super::output::{json, out, out_raw, unified_diff};
use super::plan_view;
use crate::engine;
use crate::engine::refusal::Refusal;
use crate::engine::rolling::{self, PreviewError, Status};
use crate::engine::target::{current_id, resolve_target};
use crate::exec::{Conn, OpenMode, version_table};
use crate::plan;
use crate::plan::hazard;
use crate::revisions::RevisionSet;
use crate::schema::model::Dialect;
use crate::snapshot::Branch;

// ---------------------------------------------------------------------------------------------
// db version

/// `db version --format json`.
#[derive(Serialize)]
struct VersionJson {
    command: &'static str,
    under_control: bool,
    /// The version rows, as Glance prints them.
    rows: Vec<RowJson>,
    /// The heads of the revision history (what `db sync` would bring the database to).
    heads: Vec<String>,
}

#[derive(Serialize)]
struct RowJson {
    revision: String,
    /// `expand`, `contract`, or null for revisions before the split (and unknown ones).
    branch: Option<&'static str>,
    /// Whether the revision is in this tool's history (a newer Glance may have written it).
    known: bool,
    /// Whether it is a head of the history.
    head: bool,
}

fn rows_json(revs: &RevisionSet, heads: &[String]) -> Vec<RowJson> {
    let dag_heads = revs.heads();
    heads
        .iter()
        .map(|h| {
            let id = current_id(h);
            RowJson {
                revision: id.to_string(),
                branch: revs.meta(id).and_then(|m| m.branch).map(Branch::as_str),
                known: revs.contains(id),
                head: dag_heads.contains(&id),
            }
        })
        .collect()
}

/// The version rows of an existing database (none for a SQLite file never created).
async fn read_rows(ctx: &Context) -> Result<(Vec<String>, Dialect, Option<Conn>), Failure> {
    if !ctx.database_exists() {
        return Ok((vec![], ctx.url.dialect, None));
    }
    let mut conn = ctx.connect(OpenMode::Existing).await?;
    match version_table::read(&mut conn).await {
        Ok(rows) => {
            let d = conn.dialect();
            Ok((rows.unwrap_or_default(), d, Some(conn)))
        }
        Err(e) => {
            conn.close().await;
            Err(e.into())
        }
    }
}

pub async fn version(ctx: &Context) -> CmdResult {
    // A missing SQLite file is a fresh database: nothing to connect to, nothing is created.
    let (heads, _, conn) = read_rows(ctx).await?;
    if let Some(c) = conn {
        c.close().await;
    }
    if ctx.json {
        json(&VersionJson {
            command: "version",
            under_control: !heads.is_empty(),
            rows: rows_json(&ctx.revisions, &heads),
            heads: ctx
                .revisions
                .heads()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        });
    } else if heads.is_empty() {
        out(NOT_UNDER_CONTROL);
    } else {
        for h in heads {
            out(current_id(&h));
        }
    }
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// db check

/// `db check --format json`.
#[derive(Serialize)]
struct CheckJson {
    command: &'static str,
    /// `up_to_date`, `expand`, `migrate` or `contract`: the next step.
    status: &'static str,
    /// The exit code this answer has (0, 3, 4, 5).
    exit_code: u8,
    /// Glance's line.
    message: &'static str,
    rows: Vec<RowJson>,
    pending: PendingJson,
}

#[derive(Serialize)]
struct PendingJson {
    /// Unapplied revisions of the expand branch (and before the split).
    expand: Vec<String>,
    /// Data migrations with rows still to change.
    migrate: Vec<MigrationJson>,
    /// Unapplied revisions of the contract branch.
    contract: Vec<String>,
}

#[derive(Serialize)]
struct MigrationJson {
    revision: String,
    name: String,
    rows: i64,
}

pub async fn check(ctx: &Context) -> CmdResult {
    let (heads, dialect, mut conn) = read_rows(ctx).await?;
    let report = rolling::report(conn.as_mut(), &ctx.revisions, &heads, dialect).await;
    if let Some(c) = conn {
        c.close().await;
    }
    let report = report?;
    let (line, code) = glance::check_answer(report.status);
    if ctx.json {
        let of = |contract: bool| {
            report
                .unapplied
                .iter()
                .filter(|(_, b)| (*b == Some(Branch::Contract)) == contract)
                .map(|(r, _)| r.clone())
                .collect()
        };
        json(&CheckJson {
            command: "check",
            status: match report.status {
                Status::UpToDate => "up_to_date",
                Status::NeedsExpand => "expand",
                Status::NeedsMigrate => "migrate",
                Status::NeedsContract => "contract",
            },
            exit_code: code,
            message: line,
            rows: rows_json(&ctx.revisions, &heads),
            pending: PendingJson {
                expand: of(false),
                migrate: report
                    .migrations
                    .iter()
                    .map(|m| MigrationJson {
                        revision: m.revision.clone(),
                        name: m.name.clone(),
                        rows: m.rows,
                    })
                    .collect(),
                contract: of(true),
            },
        });
    } else {
        out(line);
    }
    Ok(code)
}

// ---------------------------------------------------------------------------------------------
// db plan

#[derive(Serialize)]
struct PlanJson<'a> {
    command: &'static str,
    dialect: Dialect,
    target: &'a str,
    from: &'a [String],
    to: &'a [String],
    revisions: &'a [String],
    steps: Vec<plan_view::JsonStep>,
    /// Data migrations the upgrade leaves for `db migrate`.
    left_for_migrate: Vec<&'a str>,
    left_alone: &'a [String],
    unsupported: &'a [String],
}

pub async fn plan(ctx: &Context, version: Option<&str>) -> CmdResult {
    let target = resolve_target(&ctx.revisions, version).map_err(target_failure)?;
    // One connection serves the introspection, the pending-row counts and the table sizes.
    let mut conn = if ctx.database_exists() {
        Some(ctx.connect(OpenMode::Existing).await?)
    } else {
        None
    };
    let p = rolling::preview(conn.as_mut(), &ctx.revisions, &target).await;
    let measured = match (&p, conn.as_mut()) {
        (Ok(p), Some(c)) => plan_view::measure(c, p).await.map(Some),
        _ => Ok(None),
    };
    let verified = match (&p, ctx.verify) {
        (Ok(p), true) => Some(verify_plan(ctx, conn.as_mut(), p).await),
        _ => None,
    };
    if let Some(conn) = conn {
        conn.close().await;
    }
    let p = match p {
        Ok(p) => p,
        Err(PreviewError::Engine(e)) => return Err(Failure::from(e)),
        Err(PreviewError::Refused(r)) => {
            if let Some(line) = glance::refusal_preamble(&r) {
                out(&line);
            }
            return Err(glance::refusal_failure(&r));
        }
    };
    let mut m = measured?.unwrap_or_default();
    m.online = ctx.online;
    if ctx.json {
        let j = PlanJson {
            command: "plan",
            dialect: p.dialect,
            target: &p.target,
            from: &p.from_heads,
            to: &p.final_heads,
            revisions: &p.revisions,
            steps: plan_view::steps_json(&p, &m),
            left_for_migrate: p.deferred.iter().map(|d| d.name.as_str()).collect(),
            left_alone: &p.left_alone,
            unsupported: &p.unsupported,
        };
        json(&j);
    } else if p.is_empty() {
        out("-- nothing to do: the database is at the target revision");
    } else {
        out_raw(&plan_view::script(&p, &m));
    }
    // `--verify`, `--online` and `--max-lock` as CI gates: the plan is printed either way.
    match verified {
        Some(Err(f)) => return Err(f),
        Some(Ok(())) if !ctx.json => out(&format!(
            "-- verified: on a scratch copy of the live schema the plan reaches {}",
            p.final_heads.join(", ")
        )),
        _ => {}
    }
    let ddl = || p.expand.iter().chain(&p.contract);
    if ctx.online {
        let steps: Vec<String> = ddl()
            .filter_map(|s| {
                plan_view::online_refusal(p.dialect, s)
                    .map(|r| format!("{}: {}: {r}", s.phase, s.summary))
            })
            .collect();
        if !steps.is_empty() {
            return Err(glance::refusal_failure(&Refusal::NotOnline {
                dialect: p.dialect,
                steps,
            }));
        }
    }
    if let Some(max) = ctx.max_lock {
        let over: Vec<_> = ddl()
            .map(|s| {
                let h = if ctx.online {
                    plan::online::online_hazard(p.dialect, &s.op)
                } else {
                    hazard::step_hazard(p.dialect, s)
                };
                (s, h)
            })
            .filter(|(_, h)| h.lock > max)
            .collect();
        if !over.is_empty() {
            let steps = over
                .iter()
                .map(|(s, h)| hazard::describe_lock(s, h))
                .collect();
            return Err(glance::refusal_failure(&Refusal::LockPolicy { max, steps }));
        }
    }
    Ok(0)
}

/// `db plan --verify`: the plan's DDL rehearsed on a scratch copy of the live schema.
async fn verify_plan(
    ctx: &Context,
    conn: Option<&mut Conn>,
    p: &engine::UpgradePlan,
) -> Result<(), Failure> {
    let steps: Vec<&plan::PlannedStep> = p.expand.iter().chain(&p.contract).collect();
    let mut mem_conn = None;
    let (c, live) = match conn {
        Some(c) => {
            let live = engine::read_live(c).await?;
            (c, live)
        }
        // A SQLite file not created yet: an empty schema (the scratch is in memory).
        None => {
            let mut mem = ctx.url.clone();
            mem.database = ":memory:".into();
            let c = mem_conn.insert(Conn::connect(&mem, OpenMode::Create).await?);
            (c, engine::Live::empty(ctx.url.dialect))
        }
    };
    let r = engine::verify::verify(
        c,
        &ctx.url,
        &ctx.revisions,
        &live,
        &steps,
        &p.final_heads,
        ctx.online,
    )
    .await
    .map_err(|v| glance::refusal_failure(&Refusal::Verify(v)));
    if let Some(c) = mem_conn {
        c.close().await;
    }
    r
}

// ---------------------------------------------------------------------------------------------
// db drift

#[derive(Serialize)]
struct DriftJson<'a> {
    command: &'static str,
    drift: bool,
    heads: &'a [String],
    changes: &'a [String],
    unmanaged: &'a [String],
    repair: Vec<String>,
    unsupported: &'a [String],
    diff: String,
}

pub async fn drift(ctx: &Context) -> CmdResult {
    // Every failure of `db drift` exits 2 (1 means "drift found").
    let mut conn = ctx
        .connect(OpenMode::Existing)
        .await
        .map_err(|e| Failure::from(e).with_code(2))?;
    let live = engine::read_live(&mut conn)
        .await
        .map_err(|e| Failure::from(e).with_code(2));
    conn.close().await;
    let live = live?;
    if live.version_rows.as_ref().is_none_or(Vec::is_empty) && !live.schema.tables.is_empty() {
        return Err(Failure::from(Message {
            message: "the database has tables but no version rows, so there is no revision to compare with".into(),
            help: Some("place it under control with `glance-manage db version_control VERSION`, or run `db sync`".into()),
        })
        .with_code(2));
    }
    let d = engine::drift(&ctx.revisions, &live).map_err(|e| Failure::from(e).with_code(2))?;
    let has_drift = !d.changes.is_empty() || !d.unsupported.is_empty() || !d.unmanaged.is_empty();
    let headers = ("expected (revision snapshot)", "live (introspected)");
    let unified = unified_diff(&d.expected_toml, &d.live_toml, headers, false);
    if ctx.json {
        let repair = plan::statements(live.dialect, &d.repair);
        let j = DriftJson {
            command: "drift",
            drift: has_drift,
            heads: &d.heads,
            changes: &d.changes,
            unmanaged: &d.unmanaged,
            repair,
            unsupported: &d.unsupported,
            diff: unified,
        };
        json(&j);
    } else if !has_drift {
        out(&format!(
            "No drift: the live schema matches revision(s) {}.",
            if d.heads.is_empty() {
                "(none)".to_string()
            } else {
                d.heads.join(", ")
            }
        ));
    } else {
        out(&format!(
            "Drift: the live schema differs from revision(s) {}:",
            d.heads.join(", ")
        ));
        for c in &d.changes {
            out(&format!("  - to repair: {c}"));
        }
        for u in &d.unmanaged {
            out(&format!(
                "  - unmanaged: {u} (no revision declares it; left alone, not repaired)"
            ));
        }
        for u in &d.unsupported {
            out(&format!("  - unsupported: {u}"));
        }
        out("");
        out_raw(&if ctx.color {
            unified_diff(&d.expected_toml, &d.live_toml, headers, true)
        } else {
            unified.clone()
        });
        if !d.repair.is_empty() {
            out("");
            out("-- DDL that would repair it:");
            out_raw(&plan::to_sql_script(&d.repair, live.dialect));
        }
    }
    Ok(if has_drift { 1 } else { 0 })
}

// ---------------------------------------------------------------------------------------------
// db history

#[derive(Serialize)]
pub struct HistoryEntry {
    name: String,
    parents: Vec<String>,
    depends_on: Vec<String>,
    branch: Option<&'static str>,
    head: bool,
    description: Option<String>,
    changes: Vec<String>,
    data_migrations: Vec<String>,
}

pub fn history_entries(revs: &RevisionSet) -> Vec<HistoryEntry> {
    // Every snapshot is needed: read them on the machine's cores, not one by one below.
    revs.read_all();
    let heads: BTreeSet<&str> = revs.heads().into_iter().collect();
    revs.walk_order()
        .into_iter()
        .map(|name| {
            let s = revs.get(name).expect("listed");
            let before = revs.ancestors(name);
            let changes = revs.change_summary(&before, name);
            HistoryEntry {
                name: name.to_string(),
                parents: s.meta.parents.clone(),
                depends_on: s.meta.depends_on.clone(),
                branch: s.meta.branch.map(Branch::as_str),
                head: heads.contains(name),
                description: s.meta.description.clone(),
                changes,
                data_migrations: s
                    .data_migrations
                    .iter()
                    .map(|d| format!("{} ({})", d.name, d.phase.as_str()))
                    .collect(),
            }
        })
        .collect()
}

pub fn history(ctx: &Context) -> CmdResult {
    let entries = history_entries(&ctx.revisions);
    if ctx.json {
        json(&entries);
        return Ok(0);
    }
    for e in &entries {
        let mut head = e.name.clone();
        if let Some(b) = e.branch {
            head.push_str(&format!(" [{b}]"));
        }
        if e.parents.is_empty() {
            head.push_str(" (root)");
        } else {
            head.push_str(&format!(" <- {}", e.parents.join(", ")));
        }
        if !e.depends_on.is_empty() {
            head.push_str(&format!("; depends on {}", e.depends_on.join(", ")));
        }
        if e.head {
            head.push_str(" (head)");
        }
        out(&head);
        if e.changes.is_empty() {
            out("    no schema change");
        }
        for c in &e.changes {
            out(&format!("    {c}"));
        }
        for d in &e.data_migrations {
            out(&format!("    data migration {d}"));
        }
    }
    Ok(0)
}
