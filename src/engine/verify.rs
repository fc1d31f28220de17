//! `--verify`: the plan rehearsed on a scratch copy of the live *schema* (no rows) before the
//! live database is touched. The scratch is SQLite in memory, or a temporary database on the
//! same PostgreSQL/MariaDB server (the user must be allowed to create one; otherwise a clear
//! refusal). The live schema is built there from its introspection, checked to be the live
//! schema again, the plan's DDL is applied (in the form the run will use), and the result is
//! compared with the target revision's snapshot exactly as `db drift` would. Anything short of
//! that is a refusal with the difference, and the live database is left as it was.

use super::{Live, drift, read_live};
use crate::config::DbUrl;
use crate::diff;
use crate::exec::connection::{Conn, DbError, OpenMode};
use crate::plan::{self, PlannedStep};
use crate::revisions::RevisionSet;
use crate::schema::model::{Dialect, Schema};
use crate::sql::quote;

/// Why a plan did not pass verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyFailure {
    /// No scratch database could be made.
    NoScratch { reason: String },
    /// The live schema could not be reproduced in the scratch database.
    NotReproduced { changes: Vec<String> },
    /// A step failed on the scratch copy.
    StepFailed { step: String, error: String },
    /// The scratch copy after the plan differs from the target.
    NotConverged { changes: Vec<String> },
}

impl std::fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[String]| v.iter().map(|c| format!("\n  - {c}")).collect::<String>();
        match self {
            VerifyFailure::NoScratch { reason } => {
                write!(
                    f,
                    "--verify needs a scratch database and none could be created: {reason}"
                )
            }
            VerifyFailure::NotReproduced { changes } => write!(
                f,
                "--verify: the live schema could not be reproduced in a scratch database:{}",
                list(changes)
            ),
            VerifyFailure::StepFailed { step, error } => write!(
                f,
                "--verify: the plan failed on a scratch copy of the live schema at `{step}`: {error}"
            ),
            VerifyFailure::NotConverged { changes } => write!(
                f,
                "--verify: on a scratch copy of the live schema the plan does not reach the target; still different:{}",
                list(changes)
            ),
        }
    }
}

/// Rehearses `steps` (in order; `online`: their `--online` forms) on a scratch copy of
/// `live`'s schema and requires the result to match the revisions `final_heads`. `conn` is the
/// live connection (used only to create and drop a server scratch database, outside any
/// transaction).
pub async fn verify(
    conn: &mut Conn,
    url: &DbUrl,
    revs: &RevisionSet,
    live: &Live,
    steps: &[&PlannedStep],
    final_heads: &[String],
    online: bool,
) -> Result<(), VerifyFailure> {
    let dialect = live.dialect;
    let (scratch_url, scratch_name) = create_scratch(conn, url).await?;
    let result = rehearse(&scratch_url, revs, live, steps, final_heads, online).await;
    if let Some(name) = scratch_name {
        // Best effort: a scratch left behind is named gm_verify_* and holds no rows.
        let drop = match dialect {
            Dialect::Postgres => format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote(dialect, &name)
            ),
            _ => format!("DROP DATABASE IF EXISTS {}", quote(dialect, &name)),
        };
        let _ = conn.execute(&drop).await;
    }
    result
}

/// A scratch database: SQLite in memory, else a new database on the same server (its name is
/// returned so that it is dropped afterwards).
async fn create_scratch(
    conn: &mut Conn,
    url: &DbUrl,
) -> Result<(DbUrl, Option<String>), VerifyFailure> {
    let mut scratch = url.clone();
    if url.dialect == Dialect::Sqlite {
        scratch.database = ":memory:".into();
        scratch.query.clear();
        return Ok((scratch, None));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!("gm_verify_{}_{nanos}", std::process::id());
    let ddl = match url.dialect {
        Dialect::Mysql => {
            // The live database's defaults, so that tables without their own charset match.
            let rows = conn
                .query(
                    "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
                     FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()",
                )
                .await
                .map_err(|e| VerifyFailure::NoScratch {
                    reason: e.to_string(),
                })?;
            let (cs, coll) = rows
                .first()
                .map(|r| (r[0].text(), r[1].text()))
                .unwrap_or((None, None));
            let mut ddl = format!("CREATE DATABASE {}", quote(Dialect::Mysql, &name));
            if let (Some(cs), Some(coll)) = (cs, coll) {
                ddl.push_str(&format!(" CHARACTER SET {cs} COLLATE {coll}"));
            }
            ddl
        }
        _ => format!("CREATE DATABASE {}", quote(url.dialect, &name)),
    };
    conn.execute(&ddl)
        .await
        .map_err(|e| VerifyFailure::NoScratch {
            reason: format!(
                "{} (the database user needs the right to create a database; or run without --verify)",
                DbError::statement("CREATE DATABASE failed", e).message
            ),
        })?;
    scratch.database = name.clone();
    Ok((scratch, Some(name)))
}

async fn rehearse(
    scratch_url: &DbUrl,
    revs: &RevisionSet,
    live: &Live,
    steps: &[&PlannedStep],
    final_heads: &[String],
    online: bool,
) -> Result<(), VerifyFailure> {
    let dialect = live.dialect;
    let fail = |e: DbError| VerifyFailure::NoScratch { reason: e.message };
    let mut sc = Conn::connect(scratch_url, OpenMode::Create)
        .await
        .map_err(fail)?;
    let r =
        async {
            if dialect == Dialect::Sqlite {
                // As the executor does around a rebuild; the scratch holds no rows to check.
                sc.execute("PRAGMA foreign_keys = OFF")
                    .await
                    .map_err(|e| fail(DbError::statement("PRAGMA failed", e)))?;
            }
            // The live schema, from its introspection (real names kept).
            let changes = diff::diff(&Schema::default(), &live.raw).changes;
            let build = plan::plan(dialect, &Schema::default(), &Schema::default(), &changes)
                .map_err(|e| VerifyFailure::NotReproduced {
                    changes: vec![e.to_string()],
                })?;
            for s in &build {
                for st in plan::render_op(dialect, &s.op) {
                    sc.execute(&st)
                        .await
                        .map_err(|e| VerifyFailure::NotReproduced {
                            changes: vec![format!("{}: {e}", s.summary)],
                        })?;
                }
            }
            let copy = read_live(&mut sc).await.map_err(fail)?;
            let differs = diff::diff(&copy.schema, &live.schema).changes;
            if !differs.is_empty() {
                return Err(VerifyFailure::NotReproduced {
                    changes: differs.iter().map(|c| c.to_string()).collect(),
                });
            }
            // The plan, in the form the run will use.
            let to_run = sabotage(steps);
            for s in to_run {
                let statements = if online {
                    plan::online::statements(dialect, &s.op)
                } else {
                    plan::render_op(dialect, &s.op)
                };
                for st in statements {
                    sc.execute(&st)
                        .await
                        .map_err(|e| VerifyFailure::StepFailed {
                            step: s.summary.clone(),
                            error: e.to_string(),
                        })?;
                }
            }
            let mut after = read_live(&mut sc).await.map_err(fail)?;
            after.version_rows = Some(final_heads.to_vec());
            let d = drift(revs, &after).map_err(|e| VerifyFailure::NotConverged {
                changes: vec![e.to_string()],
            })?;
            if !d.changes.is_empty() {
                return Err(VerifyFailure::NotConverged { changes: d.changes });
            }
            Ok(())
        }
        .await;
    sc.close().await;
    r
}

/// Environment variable the test-only `glance-manage-fault` binary turns into
/// `inject_verify_sabotage` (feature `fault-injection`); the shipped binary never reads it.
pub const SABOTAGE_VERIFY_ENV: &str = "GLANCE_MANAGE_TEST_SABOTAGE_VERIFY";

#[cfg(feature = "fault-injection")]
static SABOTAGE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every later rehearsal of this process leave the plan's last step out, so that tests
/// can show a plan that does not converge being caught (feature `fault-injection` only).
#[cfg(feature = "fault-injection")]
pub fn inject_verify_sabotage() {
    SABOTAGE.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// The steps to rehearse: all of them, unless a test sabotaged the rehearsal.
fn sabotage<'a>(steps: &[&'a PlannedStep]) -> Vec<&'a PlannedStep> {
    #[cfg(feature = "fault-injection")]
    if SABOTAGE.load(std::sync::atomic::Ordering::SeqCst) {
        return steps[..steps.len().saturating_sub(1)].to_vec();
    }
    steps.to_vec()
}
