//! What each `glance-manage db` command does, with Glance's output lines and exit codes
//! (`../shared/glance-reference.md` §1.3) where Glance defines them.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use miette::{Diagnostic, Report};
use serde::Serialize;

use crate::config::DbUrl;
use crate::engine::{self, EngineError, Live, UpgradePlan};
use crate::exec::Session;
use crate::exec::connection::{Conn, DbError, OpenMode};
use crate::model::Dialect;
use crate::plan::{self, Phase};
use crate::revisions::RevisionSet;
use crate::snapshot::Branch;

/// Glance's message when no version rows exist.
pub const NOT_UNDER_CONTROL: &str = "Database is either not under migration control or under legacy migration control, please run \"glance-manage db sync\" to place the database under alembic migration control.";

/// Exit codes of `db check`.
pub mod check_code {
    pub const UP_TO_DATE: u8 = 0;
    pub const EXPAND: u8 = 3;
    pub const MIGRATE: u8 = 4;
    pub const CONTRACT: u8 = 5;
}

/// Everything a command needs: where the database is and which history to use.
pub struct Context {
    pub url: DbUrl,
    pub revisions: RevisionSet,
    pub json: bool,
    pub color: bool,
    pub lock_timeout: Duration,
}

/// A failure that ends the command: a message on stderr and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub report: Report,
    pub code: u8,
}

impl<E: Diagnostic + Send + Sync + 'static> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure {
            report: Report::new(e),
            code: 1,
        }
    }
}

/// A plain message failure (Glance's `sys.exit("msg")`: stderr, exit 1).
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct Message {
    pub message: String,
    #[help]
    pub help: Option<String>,
}

pub fn fail(message: impl Into<String>, help: Option<&str>) -> Failure {
    Failure::from(Message {
        message: message.into(),
        help: help.map(str::to_string),
    })
}

pub type CmdResult = Result<u8, Failure>;

pub(crate) fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
}

/// A diagnostic line on stderr. Never `eprintln!`: it panics when stderr is a closed pipe.
pub(crate) fn note(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{line}");
}

/// Like [`out`] without the newline. Never `print!`: it panics when stdout is a closed pipe
/// (`glance-manage db plan | head`).
fn out_raw(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
}

async fn connect(ctx: &Context, mode: OpenMode) -> Result<Conn, Failure> {
    Ok(Conn::connect(&ctx.url, mode).await?)
}

/// Resolves a version argument: revision names, Glance's legacy numbers (42–45) and the
/// legacy monolithic ids (`ocata01`, `pike01`). `None`/`heads` means the head.
pub fn resolve_version(revs: &RevisionSet, v: Option<&str>) -> Result<Option<String>, Failure> {
    let Some(v) = v.map(str::trim) else {
        return Ok(None);
    };
    if v.is_empty() || v == "heads" || v == "head" {
        return Ok(None);
    }
    if let Ok(n) = v.parse::<i64>() {
        return match n {
            42 => Ok(Some("liberty".into())),
            43 => Ok(Some("mitaka01".into())),
            44 => Ok(Some("mitaka02".into())),
            45 => Ok(Some("ocata_contract01".into())),
            1..=41 => Err(fail(
                "The current database version is not supported any more. Please upgrade to Liberty release first.",
                Some(
                    "legacy versions 1-41 predate Liberty (42); upgrade with a Liberty-era Glance first",
                ),
            )),
            _ => Err(Failure::from(EngineError::UnknownRevision {
                name: v.into(),
                suggestions: revs.suggestions(v),
            })),
        };
    }
    let name = match v {
        "ocata01" => "ocata_contract01",
        "pike01" => "pike_contract01",
        other => other,
    };
    if !revs.contains(name) {
        return Err(Failure::from(EngineError::UnknownRevision {
            name: v.into(),
            suggestions: revs.suggestions(v),
        }));
    }
    Ok(Some(name.to_string()))
}

fn head_of(revs: &RevisionSet, branch: Branch) -> Option<String> {
    revs.branch_head(branch).map(str::to_string)
}

/// The default upgrade target: the contract head, else the single head.
fn default_target(revs: &RevisionSet) -> Result<String, Failure> {
    if let Some(c) = head_of(revs, Branch::Contract) {
        return Ok(c);
    }
    let heads = revs.heads();
    match heads.as_slice() {
        [one] => Ok(one.to_string()),
        _ => Err(fail(
            format!(
                "the revision history has several heads ({}); name the target revision",
                heads.join(", ")
            ),
            None,
        )),
    }
}

/// Reads the live state; adopts nothing.
async fn read(conn: &mut Conn) -> Result<Live, Failure> {
    Ok(engine::read_live(conn).await?)
}

// ---------------------------------------------------------------------------------------------
// db version

pub async fn version(ctx: &Context) -> CmdResult {
    // A missing SQLite file is a fresh database: nothing to connect to, nothing is created.
    if ctx.url.dialect == Dialect::Sqlite
        && !ctx.url.is_memory()
        && !crate::config::sqlite_path(&ctx.url).exists()
    {
        out(NOT_UNDER_CONTROL);
        return Ok(0);
    }
    let mut conn = connect(ctx, OpenMode::Existing).await?;
    let heads = read_version_rows(&mut conn).await?;
    conn.close().await;
    let heads = heads.unwrap_or_default();
    if heads.is_empty() {
        out(NOT_UNDER_CONTROL);
    } else {
        for h in heads {
            out(engine::current_id(&h));
        }
    }
    Ok(0)
}

/// Version rows without a full introspection (cheap).
async fn read_version_rows(conn: &mut Conn) -> Result<Option<Vec<String>>, Failure> {
    Ok(crate::exec::version_table::read(conn).await?)
}

// ---------------------------------------------------------------------------------------------
// db plan

#[derive(Serialize)]
struct PlanJson<'a> {
    dialect: Dialect,
    target: &'a str,
    from: &'a [String],
    to: &'a [String],
    revisions: &'a [String],
    steps: Vec<JsonStep<'a>>,
    left_alone: &'a [String],
    unsupported: &'a [String],
}

#[derive(Serialize)]
struct JsonStep<'a> {
    phase: Phase,
    kind: &'static str,
    summary: String,
    source: String,
    statements: &'a [String],
}

fn plan_steps_json(p: &UpgradePlan) -> Vec<JsonStep<'_>> {
    let mut v: Vec<JsonStep> = Vec::new();
    for s in &p.expand {
        v.push(JsonStep {
            phase: Phase::Expand,
            kind: if s.rebuild { "rebuild" } else { "ddl" },
            summary: s.summary.clone(),
            source: s.source.clone(),
            statements: &s.statements,
        });
    }
    for d in p.expand_data.iter().chain(p.migrate.iter()) {
        v.push(JsonStep {
            phase: d.phase,
            kind: "data",
            summary: format!("data migration {}", d.name),
            source: format!("revisions.{}.data_migrations.{}", d.revision, d.name),
            statements: &d.statements,
        });
    }
    for s in &p.contract {
        v.push(JsonStep {
            phase: Phase::Contract,
            kind: if s.rebuild { "rebuild" } else { "ddl" },
            summary: s.summary.clone(),
            source: s.source.clone(),
            statements: &s.statements,
        });
    }
    v
}

pub fn render_plan_sql(p: &UpgradePlan) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "-- glance-manage plan: {} -> {} on {}\n",
        if p.from_heads.is_empty() {
            "(empty)".to_string()
        } else {
            p.from_heads.join(", ")
        },
        p.final_heads.join(", "),
        p.dialect
    ));
    if !p.revisions.is_empty() {
        s.push_str(&format!("-- revisions: {}\n", p.revisions.join(", ")));
    }
    s.push_str(&plan::to_sql_script(&p.expand, p.dialect));
    for d in p.expand_data.iter().chain(p.migrate.iter()) {
        s.push_str(&format!(
            "-- phase: {}\n-- data migration {} ({})\n",
            d.phase, d.name, d.revision
        ));
        for st in &d.statements {
            s.push_str(st);
            s.push_str(";\n");
        }
    }
    s.push_str(&plan::to_sql_script(&p.contract, p.dialect));
    for l in &p.left_alone {
        s.push_str(&format!("-- left alone: {l}\n"));
    }
    for u in &p.unsupported {
        s.push_str(&format!("-- unsupported: {u}\n"));
    }
    s
}

pub async fn plan(ctx: &Context, version: Option<&str>) -> CmdResult {
    let target = match resolve_version(&ctx.revisions, version)? {
        Some(t) => t,
        None => default_target(&ctx.revisions)?,
    };
    let exists = !(ctx.url.dialect == Dialect::Sqlite
        && !ctx.url.is_memory()
        && !crate::config::sqlite_path(&ctx.url).exists());
    // One connection serves the introspection and the pending-row counts below.
    let mut conn = if exists {
        Some(connect(ctx, OpenMode::Existing).await?)
    } else {
        None
    };
    let live = if let Some(conn) = conn.as_mut() {
        let mut l = read(conn).await?;
        // A legacy database is planned from the revision `db sync` would adopt it at.
        if l.heads().is_empty()
            && l.has_legacy_table
            && let Some(v) = legacy_version(conn).await?
        {
            l.version_rows = Some(vec![legacy_revision(v)?.to_string()]);
        }
        l
    } else {
        Live {
            dialect: Dialect::Sqlite,
            raw: Default::default(),
            schema: Default::default(),
            version_rows: None,
            has_legacy_table: false,
            unsupported: vec![],
            queries: 0,
            has_rows: false,
        }
    };
    let mut p = engine::plan_upgrade(&ctx.revisions, &live, &target)?;
    // Data migrations of revisions already applied are only shown while rows still need them.
    if let Some(conn) = conn.as_mut()
        && !p.migrate.is_empty()
    {
        let applied = engine::applied_set(&ctx.revisions, &live.heads())?;
        let mut keep = Vec::new();
        for step in std::mem::take(&mut p.migrate) {
            let owed = !applied.contains(&step.revision)
                || pending_rows(conn, std::slice::from_ref(&step)).await? > 0;
            if owed {
                keep.push(step);
            }
        }
        p.migrate = keep;
    }
    if let Some(conn) = conn {
        conn.close().await;
    }
    if ctx.json {
        let j = PlanJson {
            dialect: p.dialect,
            target: &p.target,
            from: &p.from_heads,
            to: &p.final_heads,
            revisions: &p.revisions,
            steps: plan_steps_json(&p),
            left_alone: &p.left_alone,
            unsupported: &p.unsupported,
        };
        out(&serde_json::to_string_pretty(&j).expect("serializable"));
    } else if p.is_empty() {
        out("-- nothing to do: the database is at the target revision");
    } else {
        out_raw(&render_plan_sql(&p));
    }
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// db drift

#[derive(Serialize)]
struct DriftJson<'a> {
    drift: bool,
    heads: &'a [String],
    changes: &'a [String],
    repair: Vec<&'a str>,
    unsupported: &'a [String],
    diff: String,
}

pub async fn drift(ctx: &Context) -> CmdResult {
    let mut conn = Conn::connect(&ctx.url, OpenMode::Existing)
        .await
        .map_err(|e| Failure {
            report: Report::new(e),
            code: 2,
        })?;
    let live = engine::read_live(&mut conn).await.map_err(|e| Failure {
        report: Report::new(e),
        code: 2,
    })?;
    conn.close().await;
    if live.version_rows.as_ref().is_none_or(Vec::is_empty) && !live.schema.tables.is_empty() {
        return Err(Failure {
            report: Report::new(Message {
                message: "the database has tables but no version rows, so there is no revision to compare with".into(),
                help: Some("place it under control with `glance-manage db version_control VERSION`, or run `db sync`".into()),
            }),
            code: 2,
        });
    }
    let d = engine::drift(&ctx.revisions, &live).map_err(|e| Failure {
        report: Report::new(e),
        code: 2,
    })?;
    let has_drift = !d.changes.is_empty() || !d.unsupported.is_empty();
    let unified = similar::TextDiff::from_lines(&d.expected_toml, &d.live_toml)
        .unified_diff()
        .context_radius(3)
        .header("expected (revision snapshot)", "live (introspected)")
        .to_string();
    if ctx.json {
        let repair: Vec<&str> = d
            .repair
            .iter()
            .flat_map(|s| s.statements.iter().map(String::as_str))
            .collect();
        let j = DriftJson {
            drift: has_drift,
            heads: &d.heads,
            changes: &d.changes,
            repair,
            unsupported: &d.unsupported,
            diff: unified,
        };
        out(&serde_json::to_string_pretty(&j).expect("serializable"));
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
        for u in &d.unsupported {
            out(&format!("  - unsupported: {u}"));
        }
        out("");
        out_raw(&colorize_diff(&unified, ctx.color));
        if !d.repair.is_empty() {
            out("");
            out("-- DDL that would repair it:");
            out_raw(&plan::to_sql_script(&d.repair, live.dialect));
        }
    }
    Ok(if has_drift { 1 } else { 0 })
}

fn colorize_diff(text: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    text.lines()
        .map(|l| {
            if l.starts_with("+++") || l.starts_with("---") {
                format!("\x1b[1m{l}\x1b[0m\n")
            } else if l.starts_with('+') {
                format!("\x1b[32m{l}\x1b[0m\n")
            } else if l.starts_with('-') {
                format!("\x1b[31m{l}\x1b[0m\n")
            } else if l.starts_with("@@") {
                format!("\x1b[36m{l}\x1b[0m\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
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
        out(&serde_json::to_string_pretty(&entries).expect("serializable"));
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

// ---------------------------------------------------------------------------------------------
// Running upgrades

/// Messages Glance prints.
mod msg {
    pub const UP_TO_DATE_SYNC: &str = "Database is up to date. No migrations needed.";
    pub const EXPANSION_UP_TO_DATE: &str = "Database expansion is up to date. No expansion needed.";
    pub const MIGRATION_UP_TO_DATE: &str = "Database migration is up to date. No migration needed.";
    pub const SYNCED: &str = "Database is synced successfully.";
    pub const NO_EXPAND_HEAD: &str =
        "Database expansion failed. Couldn't find head revision of expand branch.";
    pub const NO_CONTRACT_HEAD: &str =
        "Database contraction failed. Couldn't find head revision of contract branch.";
    pub const MIGRATE_BEFORE_EXPAND: &str = "Data migration did not run. Data migration cannot be run before database expansion. Run database expansion first using \"glance-manage db expand\"";
    pub const CONTRACT_BEFORE_EXPAND: &str = "Database contraction did not run. Database contraction cannot be run before database expansion. Run database expansion first using \"glance-manage db expand\"";
    pub const CONTRACT_BEFORE_MIGRATE: &str = "Database contraction did not run. Database contraction cannot be run before data migration is complete. Run data migration using \"glance-manage db migrate\".";
    pub const NOT_UNDER_ALEMBIC: &str =
        "Database is currently not under Alembic's migration control.";
}

fn upgraded_line(target: Option<&str>, heads: &[String]) -> String {
    match target {
        Some(t) => format!(
            "Upgraded database to: {t}, current revision(s): {}",
            heads.join(", ")
        ),
        None => format!(
            "Upgraded database, current revision(s): {}",
            heads.join(", ")
        ),
    }
}

/// The version in the legacy `migrate_version` table (None for Glance's empty placeholder).
async fn legacy_version(conn: &mut Conn) -> Result<Option<i64>, Failure> {
    Ok(crate::exec::version_table::legacy_version(conn).await?)
}

/// Maps a legacy sqlalchemy-migrate version to the revision Glance stamped for it.
fn legacy_revision(v: i64) -> Result<&'static str, Failure> {
    match v {
        42 => Ok("liberty"),
        43 => Ok("mitaka01"),
        44 => Ok("mitaka02"),
        45 => Ok("ocata_contract01"),
        1..=41 => {
            out(&format!("Legacy head:  {v}"));
            Err(fail(
                "The current database version is not supported any more. Please upgrade to Liberty release first.",
                None,
            ))
        }
        _ => Err(fail(
            "Unable to place database under Alembic's migration control. Unknown database state, can't proceed further.",
            Some(
                "the migrate_version table holds a version this tool does not know (expected 42-45)",
            ),
        )),
    }
}

/// Checks that the live schema is the schema of `revision`, tolerating what legacy databases and
/// stamping may legitimately differ in: constraint and index names and extra indexes. Returns
/// the drift text when tables or columns differ.
fn schema_matches(
    revs: &RevisionSet,
    live: &Live,
    revision: &str,
    strict: bool,
) -> Result<(), String> {
    let expected = engine::expected(revs, &revs.closure(revision), live.dialect);
    let d = crate::diff::diff(&live.schema, &expected);
    let serious: Vec<String> = d
        .changes
        .iter()
        .filter(|c| {
            strict
                || matches!(
                    c,
                    crate::diff::Change::CreateTable(_)
                        | crate::diff::Change::DropTable(_)
                        | crate::diff::Change::AddColumn { .. }
                        | crate::diff::Change::DropColumn { .. }
                        | crate::diff::Change::AlterColumn { .. }
                        | crate::diff::Change::RenameTable { .. }
                        | crate::diff::Change::RenameColumn { .. }
                )
        })
        .map(|c| format!("  - {c}"))
        .collect();
    if serious.is_empty() {
        Ok(())
    } else {
        Err(serious.join("\n"))
    }
}

/// Rewrites Glance's retired monolithic ids and adopts a legacy (sqlalchemy-migrate) database.
/// Returns the live state with version rows set.
async fn prepare_versions(
    ctx: &Context,
    session: &mut Session<'_>,
    live: Live,
) -> Result<Live, Failure> {
    let mut live = live;
    let heads = live.heads();
    let renamed: Vec<String> = heads
        .iter()
        .map(|h| engine::current_id(h).to_string())
        .collect();
    if renamed != heads {
        session.write_heads(&heads, &renamed).await?;
        live.version_rows = Some(renamed);
        return Ok(live);
    }
    if !heads.is_empty() || !live.has_legacy_table {
        return Ok(live);
    }
    let v = legacy_version(session.conn).await?;
    let Some(v) = v else {
        // Glance's old tooling created an empty migrate_version (version 0) on fresh databases.
        return Ok(live);
    };
    let rev = legacy_revision(v)?;
    out(msg::NOT_UNDER_ALEMBIC);
    if let Err(drift) = schema_matches(&ctx.revisions, &live, rev, false) {
        return Err(fail(
            format!(
                "the legacy database (migrate_version {v}) does not have the schema of revision {rev}; nothing was changed:\n{drift}"
            ),
            Some(
                "repair the schema by hand, or stamp it with `db version_control VERSION --force` if you are sure",
            ),
        ));
    }
    out(&format!(
        "Placing database under Alembic's migration control at revision: {rev}"
    ));
    session.write_heads(&[], &[rev.to_string()]).await?;
    live.version_rows = Some(vec![rev.to_string()]);
    Ok(live)
}

/// Rows still waiting for a data migration among `steps` (steps without a `pending` query
/// count as nothing pending).
async fn pending_rows(conn: &mut Conn, steps: &[engine::DataStep]) -> Result<i64, Failure> {
    let mut total = 0;
    for s in steps {
        if let Some(q) = &s.pending {
            let n = conn.query_i64(q).await.map_err(|e| {
                DbError::statement(
                    &format!("pending-row check of data migration {} failed", s.name),
                    e,
                )
            })?;
            total += n.unwrap_or(0);
        }
    }
    Ok(total)
}

async fn run_data(session: &mut Session<'_>, steps: &[engine::DataStep]) -> Result<u64, Failure> {
    let mut rows = 0;
    for s in steps {
        if let Some(q) = &s.pending {
            let n = session.conn.query_i64(q).await.map_err(|e| {
                DbError::statement(
                    &format!("pending-row check of data migration {} failed", s.name),
                    e,
                )
            })?;
            if n.unwrap_or(0) == 0 {
                continue;
            }
        }
        for st in &s.statements {
            rows += session.run_statement(st).await?;
        }
    }
    Ok(rows)
}

async fn run_steps(session: &mut Session<'_>, steps: &[plan::Step]) -> Result<(), Failure> {
    Ok(session.run_statements(&plan::statements(steps)).await?)
}

/// Runs DDL steps and moves the version rows, in one transaction where the backend allows.
async fn run_phase(
    session: &mut Session<'_>,
    steps: &[plan::Step],
    data: &[engine::DataStep],
    old: &[String],
    new: &[String],
) -> Result<u64, Failure> {
    session.begin_phase().await?;
    run_steps(session, steps).await?;
    let rows = run_data(session, data).await?;
    if old != new {
        session.write_heads(old, new).await?;
    }
    session.commit_phase().await?;
    Ok(rows)
}

fn downgrade_check(
    applied: &BTreeSet<String>,
    heads: &[String],
    target: &str,
) -> Result<(), Failure> {
    if applied.contains(target) && !heads.iter().any(|h| h == target) {
        return Err(fail(
            format!(
                "Downgrades are not supported: the database is at {}, which is past {target}. Nothing was changed.",
                heads.join(", ")
            ),
            Some(
                "the way back to an older schema is to restore the database from a backup taken before the upgrade",
            ),
        ));
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action<'a> {
    Sync {
        target: Option<&'a str>,
        current: Option<&'a str>,
    },
    Upgrade {
        target: Option<&'a str>,
    },
    Expand,
    Migrate,
    Contract,
    VersionControl {
        version: &'a str,
        force: bool,
    },
}

async fn locked(ctx: &Context, action: Action<'_>) -> CmdResult {
    let mut conn = connect(ctx, OpenMode::Create).await?;
    let mut session = Session::begin(&mut conn, &ctx.url, ctx.lock_timeout).await?;
    let result = perform(ctx, &mut session, action).await;
    match result {
        Ok(code) => {
            session.finish().await?;
            conn.close().await;
            Ok(code)
        }
        Err(e) => {
            session.abort().await;
            conn.close().await;
            Err(e)
        }
    }
}

async fn perform(ctx: &Context, session: &mut Session<'_>, action: Action<'_>) -> CmdResult {
    let revs = &ctx.revisions;
    let live = engine::read_live(session.conn).await?;
    if let Action::VersionControl { version, force } = action {
        return stamp(ctx, session, live, version, force).await;
    }
    if let Action::Sync {
        current: Some(cur), ..
    } = action
    {
        let cur = resolve_version(revs, Some(cur))?.unwrap_or_else(|| cur.to_string());
        if live.heads().is_empty() {
            stamp(ctx, session, live.clone(), &cur, false).await?;
        }
        let live = engine::read_live(session.conn).await?;
        return perform_upgrade(ctx, session, live, action).await;
    }
    let live = prepare_versions(ctx, session, live).await?;
    perform_upgrade(ctx, session, live, action).await
}

async fn stamp(
    ctx: &Context,
    session: &mut Session<'_>,
    live: Live,
    version: &str,
    force: bool,
) -> CmdResult {
    let revs = &ctx.revisions;
    let version = resolve_version(revs, Some(version))?.unwrap_or_else(|| "liberty".to_string());
    if !force && let Err(drift) = schema_matches(revs, &live, &version, true) {
        return Err(fail(
            format!(
                "the live schema does not match revision {version}; nothing was stamped:\n{drift}"
            ),
            Some("stamp anyway with --force if you know the schema is right"),
        ));
    }
    let old = live.heads();
    session.begin_phase().await?;
    session
        .write_heads(&old, std::slice::from_ref(&version))
        .await?;
    session.commit_phase().await?;
    out(&format!(
        "Placed database under migration control at revision: {version}"
    ));
    Ok(0)
}

async fn perform_upgrade(
    ctx: &Context,
    session: &mut Session<'_>,
    live: Live,
    action: Action<'_>,
) -> CmdResult {
    let revs = &ctx.revisions;
    let e_head = head_of(revs, Branch::Expand);
    let c_head = head_of(revs, Branch::Contract);
    let heads = live.heads();
    let applied = engine::applied_set(revs, &heads)?;
    let has = |r: &Option<String>| r.as_ref().is_some_and(|r| applied.contains(r));

    match action {
        Action::Expand => {
            let Some(e) = e_head.clone() else {
                return Err(fail(msg::NO_EXPAND_HEAD, None));
            };
            if has(&c_head) {
                out(msg::UP_TO_DATE_SYNC);
                return Ok(0);
            }
            if applied.contains(&e) {
                out(msg::EXPANSION_UP_TO_DATE);
                return Ok(0);
            }
            let p = engine::plan_upgrade(revs, &live, &e)?;
            run_phase(session, &p.expand, &p.expand_data, &heads, &p.expand_heads).await?;
            out(&upgraded_line(Some(&e), &p.expand_heads));
            Ok(0)
        }
        Action::Migrate => {
            if has(&c_head) {
                out(msg::UP_TO_DATE_SYNC);
                return Ok(0);
            }
            if !has(&e_head) {
                return Err(fail(msg::MIGRATE_BEFORE_EXPAND, None));
            }
            let active = engine::active_migrations(revs, &applied, live.dialect);
            if pending_rows(session.conn, &active).await? > 0 {
                session.begin_phase().await?;
                let rows = run_data(session, &active).await?;
                session.commit_phase().await?;
                out(&format!("Migrated {rows} rows"));
            } else {
                out(msg::MIGRATION_UP_TO_DATE);
            }
            Ok(0)
        }
        Action::Contract => {
            let Some(c) = c_head.clone() else {
                return Err(fail(msg::NO_CONTRACT_HEAD, None));
            };
            if applied.contains(&c) {
                out(msg::UP_TO_DATE_SYNC);
                return Ok(0);
            }
            if !has(&e_head) {
                return Err(fail(msg::CONTRACT_BEFORE_EXPAND, None));
            }
            let active = engine::active_migrations(revs, &applied, live.dialect);
            if pending_rows(session.conn, &active).await? > 0 {
                return Err(fail(msg::CONTRACT_BEFORE_MIGRATE, None));
            }
            let p = engine::plan_upgrade(revs, &live, &c)?;
            // Data steps that contract revisions carry (e.g. dropping Glance's Ocata triggers)
            // run before their DDL.
            let contract_data: Vec<engine::DataStep> = p
                .migrate
                .iter()
                .filter(|d| {
                    revs.get(&d.revision)
                        .is_some_and(|s| s.meta.branch == Some(Branch::Contract))
                })
                .cloned()
                .collect();
            run_phase(session, &p.expand, &contract_data, &heads, &p.expand_heads).await?;
            run_phase(session, &p.contract, &[], &p.expand_heads, &p.final_heads).await?;
            out(&upgraded_line(Some(&c), &p.final_heads));
            Ok(0)
        }
        Action::Sync { target, .. } | Action::Upgrade { target } => {
            let is_sync = matches!(action, Action::Sync { .. });
            let explicit = resolve_version(revs, target)?;
            let target_name = match &explicit {
                Some(t) => t.clone(),
                None => default_target(revs)?,
            };
            downgrade_check(&applied, &heads, &target_name)?;
            if is_sync && explicit.is_none() && applied.contains(&target_name) {
                out(msg::UP_TO_DATE_SYNC);
                return Ok(0);
            }
            let p = engine::plan_upgrade(revs, &live, &target_name)?;
            for l in &p.left_alone {
                note(&format!("note: left alone: {l}"));
            }
            let glance_flow = is_sync && explicit.is_none();
            // What an upgrade prints once the target is reached.
            let final_lines = |heads: &[String]| {
                let named = is_sync || explicit.is_some();
                out(&upgraded_line(named.then_some(target_name.as_str()), heads));
                if is_sync {
                    out(msg::SYNCED);
                }
            };
            if p.fresh {
                // One pass straight to the target; the version rows still move through the
                // expand head first, as Glance's do.
                session.begin_phase().await?;
                run_steps(session, &p.expand).await?;
                let mid = e_head
                    .clone()
                    .filter(|e| revs.closure(&target_name).contains(e) && glance_flow);
                if let Some(e) = &mid {
                    session.write_heads(&[], std::slice::from_ref(e)).await?;
                    out(&upgraded_line(Some(e), std::slice::from_ref(e)));
                    out(msg::MIGRATION_UP_TO_DATE);
                    session
                        .write_heads(std::slice::from_ref(e), &p.final_heads)
                        .await?;
                } else {
                    session.write_heads(&[], &p.final_heads).await?;
                }
                session.commit_phase().await?;
                final_lines(&p.final_heads);
                return Ok(0);
            }
            // expand
            let expanded_before = e_head.as_ref().is_some_and(|e| applied.contains(e));
            run_phase(session, &p.expand, &p.expand_data, &heads, &p.expand_heads).await?;
            if glance_flow {
                if expanded_before {
                    out(msg::EXPANSION_UP_TO_DATE);
                } else if let Some(e) = &e_head {
                    out(&upgraded_line(Some(e), &p.expand_heads));
                }
            }
            // migrate
            session.begin_phase().await?;
            let rows = run_data(session, &p.migrate).await?;
            session.commit_phase().await?;
            if glance_flow {
                if rows > 0 {
                    out(&format!("Migrated {rows} rows"));
                } else {
                    out(msg::MIGRATION_UP_TO_DATE);
                }
            } else if rows > 0 {
                out(&format!("Migrated {rows} rows"));
            }
            let left = pending_rows(session.conn, &p.migrate).await?;
            if left > 0 && !p.contract.is_empty() {
                return Err(fail(
                    format!(
                        "{left} row(s) still need a data migration after it ran; the contract phase was not run"
                    ),
                    Some(
                        "inspect the rows the data migration's `pending` query returns, fix them, and run the command again",
                    ),
                ));
            }
            // contract
            run_phase(session, &p.contract, &[], &p.expand_heads, &p.final_heads).await?;
            final_lines(&p.final_heads);
            Ok(0)
        }
        Action::VersionControl { .. } => unreachable!("handled in perform"),
    }
}

pub async fn sync(ctx: &Context, version: Option<&str>, current: Option<&str>) -> CmdResult {
    // Bad version arguments fail before anything is opened (or a SQLite file created).
    resolve_version(&ctx.revisions, version)?;
    resolve_version(&ctx.revisions, current)?;
    locked(
        ctx,
        Action::Sync {
            target: version,
            current,
        },
    )
    .await
}

pub async fn upgrade(ctx: &Context, version: Option<&str>) -> CmdResult {
    resolve_version(&ctx.revisions, version)?;
    locked(ctx, Action::Upgrade { target: version }).await
}

pub async fn expand(ctx: &Context) -> CmdResult {
    locked(ctx, Action::Expand).await
}

pub async fn migrate(ctx: &Context) -> CmdResult {
    locked(ctx, Action::Migrate).await
}

pub async fn contract(ctx: &Context) -> CmdResult {
    locked(ctx, Action::Contract).await
}

pub async fn version_control(ctx: &Context, version: Option<&str>, force: bool) -> CmdResult {
    locked(
        ctx,
        Action::VersionControl {
            version: version.unwrap_or("liberty"),
            force,
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// db check

pub async fn check(ctx: &Context) -> CmdResult {
    let revs = &ctx.revisions;
    let e_head = head_of(revs, Branch::Expand);
    let c_head = head_of(revs, Branch::Contract);
    let exists = !(ctx.url.dialect == Dialect::Sqlite
        && !ctx.url.is_memory()
        && !crate::config::sqlite_path(&ctx.url).exists());
    let (heads, dialect, mut conn) = if exists {
        let mut conn = connect(ctx, OpenMode::Existing).await?;
        let heads = read_version_rows(&mut conn).await?.unwrap_or_default();
        let d = conn.dialect();
        (heads, d, Some(conn))
    } else {
        (vec![], Dialect::Sqlite, None)
    };
    // Unknown (newer) revisions: like Glance, the expand step is what is missing.
    let known: Vec<String> = heads
        .iter()
        .map(|h| engine::current_id(h).to_string())
        .filter(|h| revs.contains(h))
        .collect();
    let applied = revs.applied_from_heads(known.iter().map(String::as_str));
    let code = if c_head.as_ref().is_some_and(|c| applied.contains(c)) {
        out("Database is up to date. No upgrades needed.");
        check_code::UP_TO_DATE
    } else if e_head.as_ref().is_none_or(|e| !applied.contains(e)) {
        out(
            "Your database is not up to date. Your first step is to run `glance-manage db expand`.",
        );
        check_code::EXPAND
    } else {
        let active = engine::active_migrations(revs, &applied, dialect);
        let pending = match conn.as_mut() {
            Some(c) => pending_rows(c, &active).await?,
            None => 0,
        };
        if pending > 0 {
            out(
                "Your database is not up to date. Your next step is to run `glance-manage db migrate`.",
            );
            check_code::MIGRATE
        } else {
            out(
                "Your database is not up to date. Your next step is to run `glance-manage db contract`.",
            );
            check_code::CONTRACT
        }
    };
    if let Some(c) = conn {
        c.close().await;
    }
    Ok(code)
}

// ---------------------------------------------------------------------------------------------
// revision new

#[derive(Debug, clap::Args)]
pub struct RevisionNewArgs {
    /// Name of the new revision (Glance style: `2025_1_expand01`).
    pub name: String,
    /// Parent revision(s); default: the head of --branch, or the only head.
    #[arg(long = "parent")]
    pub parents: Vec<String>,
    /// Revisions that must be applied first without being parents (a contract's expand).
    #[arg(long = "depends-on")]
    pub depends_on: Vec<String>,
    #[arg(long, value_parser = ["expand", "contract"])]
    pub branch: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// The working schema directory.
    #[arg(long = "schema-dir", default_value = "schema")]
    pub schema_dir: std::path::PathBuf,
}

pub fn revision_new(g: &crate::cli::GlobalArgs, args: &RevisionNewArgs) -> CmdResult {
    use crate::snapshot::{self as snap, FileKind, RevisionMeta};
    let dir = g
        .revisions
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("revisions"));
    if !snap::is_revision_name(&args.name) {
        return Err(fail(
            format!("invalid revision name `{}`", args.name),
            Some("use letters, digits and underscores"),
        ));
    }
    let target = dir.join(format!("{}.toml", args.name));
    if target.exists() {
        return Err(fail(
            format!("{} already exists", target.display()),
            Some("choose a new name"),
        ));
    }
    // Merge every file of the working schema.
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&args.schema_dir)
        .map_err(|e| {
            fail(
                format!("cannot read {}: {e}", args.schema_dir.display()),
                None,
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(fail(
            format!("no *.toml files in {}", args.schema_dir.display()),
            None,
        ));
    }
    let mut schema = crate::model::Schema::default();
    let mut data = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| fail(format!("cannot read {}: {e}", f.display()), None))?;
        let s = snap::parse_str(&f.display().to_string(), &text, FileKind::WorkingSchema)?;
        for (k, v) in s.schema.enums {
            schema.enums.insert(k, v);
        }
        for (k, v) in s.schema.tables {
            if schema.tables.contains_key(&k) {
                return Err(fail(
                    format!(
                        "table `{k}` is defined in more than one file of {}",
                        args.schema_dir.display()
                    ),
                    None,
                ));
            }
            schema.tables.insert(k, v);
        }
        data.extend(s.data_migrations);
    }
    let existing = if dir.exists() {
        Some(RevisionSet::from_dir(&dir)?)
    } else {
        None
    };
    let branch = args.branch.as_deref().map(|b| {
        if b == "expand" {
            Branch::Expand
        } else {
            Branch::Contract
        }
    });
    let parents = if !args.parents.is_empty() {
        args.parents.clone()
    } else if let Some(set) = &existing {
        match branch.and_then(|b| set.branch_head(b)) {
            Some(h) => vec![h.to_string()],
            None => match set.heads().as_slice() {
                [one] => vec![one.to_string()],
                many => {
                    return Err(fail(
                        format!(
                            "the history has several heads ({}); say which with --parent or --branch",
                            many.join(", ")
                        ),
                        None,
                    ));
                }
            },
        }
    } else {
        vec![]
    };
    let meta = RevisionMeta {
        name: args.name.clone(),
        parents: parents.clone(),
        depends_on: args.depends_on.clone(),
        branch,
        description: args.description.clone(),
    };
    let text = snap::snapshot_to_toml(&meta, &data, &schema);
    // Validate the whole history with the new file before writing anything.
    let mut sources: Vec<(String, String)> = Vec::new();
    if dir.exists() {
        for e in std::fs::read_dir(&dir)
            .map_err(|e| fail(format!("cannot read {}: {e}", dir.display()), None))?
        {
            let p = e.map_err(|e| fail(e.to_string(), None))?.path();
            if p.extension().is_some_and(|x| x == "toml") {
                let t = std::fs::read_to_string(&p)
                    .map_err(|e| fail(format!("cannot read {}: {e}", p.display()), None))?;
                sources.push((p.display().to_string(), t));
            }
        }
    }
    sources.push((target.display().to_string(), text.clone()));
    RevisionSet::from_sources(&dir.display().to_string(), sources)?;
    std::fs::create_dir_all(&dir)
        .map_err(|e| fail(format!("cannot create {}: {e}", dir.display()), None))?;
    std::fs::write(&target, text)
        .map_err(|e| fail(format!("cannot write {}: {e}", target.display()), None))?;
    out(&format!(
        "Created {} (parents: {})",
        target.display(),
        if parents.is_empty() {
            "none".to_string()
        } else {
            parents.join(", ")
        }
    ));
    Ok(0)
}
