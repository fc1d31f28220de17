//! What the operator allows a run to do to the live database, enforced by the runner before
//! and while it changes anything: `--max-lock` and `--online` (checked against the hazard of
//! every step, [`crate::plan::hazard`], [`crate::plan::online`]), `--verify` (a rehearsal on a
//! scratch copy, [`super::verify`]), and the repair of what an interrupted `CREATE INDEX
//! CONCURRENTLY` leaves behind.

use std::time::Instant;

use super::Live;
use super::refusal::Refusal;
use super::runner::{Event, RunError, Runner};
use crate::exec::connection::DbError;
use crate::plan::hazard;
use crate::plan::online::{self, OnlineForm};
use crate::plan::{self, Phase, PlannedStep};

impl Runner<'_, '_> {
    /// Refuses `steps` when one takes a stronger lock than the policy allows, or (`--online`)
    /// has no form that lets writers carry on: before anything of the plan has run.
    pub(super) fn check_policy<'p>(
        &self,
        steps: impl IntoIterator<Item = &'p PlannedStep> + Clone,
    ) -> Result<(), Refusal> {
        let dialect = self.session.dialect();
        if self.policy.online {
            let refused: Vec<String> = steps
                .clone()
                .into_iter()
                .filter_map(|s| match online::online(dialect, &s.op) {
                    OnlineForm::Refused { statement, reason } => Some(format!(
                        "{}: {}: `{statement}`: {reason}",
                        s.phase, s.summary
                    )),
                    _ => None,
                })
                .collect();
            if !refused.is_empty() {
                return Err(Refusal::NotOnline {
                    dialect,
                    steps: refused,
                });
            }
        }
        let Some(max) = self.policy.max_lock else {
            return Ok(());
        };
        let over = if self.policy.online {
            steps
                .into_iter()
                .map(|s| (s, online::online_hazard(dialect, &s.op)))
                .filter(|(_, h)| h.lock > max)
                .collect::<Vec<_>>()
        } else {
            hazard::over_limit(dialect, steps, max)
        };
        if over.is_empty() {
            return Ok(());
        }
        Err(Refusal::LockPolicy {
            max,
            steps: over
                .iter()
                .map(|(s, h)| hazard::describe_lock(s, h))
                .collect(),
        })
    }

    /// `--verify`: `steps` rehearsed on a scratch copy of `live`'s schema must reach
    /// `final_heads`; otherwise the run is refused before it changes anything.
    pub(super) async fn verify_plan<'p>(
        &mut self,
        live: &Live,
        steps: impl IntoIterator<Item = &'p PlannedStep>,
        final_heads: &[String],
    ) -> Result<(), RunError> {
        if !self.policy.verify {
            return Ok(());
        }
        let steps: Vec<&PlannedStep> = steps.into_iter().collect();
        super::verify::verify(
            self.session.conn,
            self.url,
            self.revs,
            live,
            &steps,
            final_heads,
            self.policy.online,
        )
        .await
        .map_err(|v| RunError::Refused(Refusal::Verify(v)))
    }

    /// MariaDB statements with `ALGORITHM=…, LOCK=NONE`: a server that cannot keep that promise
    /// refuses the statement, and the error says which one.
    pub(super) async fn run_online(&mut self, statements: &[String]) -> Result<(), DbError> {
        for st in statements {
            if let Err(mut e) = self.session.run_statement(st).await {
                if e.code.as_deref() == Some("0A000") {
                    e.message = format!(
                        "the server cannot run this step without a lock (--online): {st}\n{}",
                        e.message
                    );
                    e.help = Some(
                        "the steps before it are applied; run without --online in a maintenance window, or change the step".into(),
                    );
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// PostgreSQL: drops the invalid indexes an interrupted `CREATE INDEX CONCURRENTLY` left
    /// (only of names the history declares), so that the plan builds them again.
    pub(super) async fn drop_invalid_indexes(&mut self) -> Result<(), DbError> {
        if self.session.dialect() != crate::schema::model::Dialect::Postgres {
            return Ok(());
        }
        let rows = self
            .session
            .conn
            .query(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE NOT i.indisvalid AND n.nspname = current_schema() ORDER BY 1",
            )
            .await
            .map_err(|e| DbError::statement("cannot look for invalid indexes", e))?;
        let invalid: Vec<String> = rows.iter().filter_map(|r| r[0].text()).collect();
        if invalid.is_empty() {
            return Ok(());
        }
        let all = self.revs.applied_from_heads(self.revs.heads());
        let declared = self
            .revs
            .expected_schema(&all, crate::schema::model::Dialect::Postgres);
        for name in invalid {
            let ours = declared
                .tables
                .values()
                .any(|t| t.indexes.iter().any(|i| i.name == name));
            if !ours {
                continue;
            }
            let started = Instant::now();
            let st = format!(
                "DROP INDEX CONCURRENTLY IF EXISTS {}",
                crate::sql::quote(crate::schema::model::Dialect::Postgres, &name)
            );
            self.session.run_statement(&st).await?;
            self.obs.on(&Event::StepApplied {
                phase: Phase::Expand,
                summary: format!(
                    "drop invalid index {name} (left by an interrupted CREATE INDEX CONCURRENTLY; planned again)"
                ),
                statements: 1,
                elapsed: started.elapsed(),
            });
        }
        Ok(())
    }

    /// Runs one step (`--online`: in its online form; a PostgreSQL `CONCURRENTLY`/`VALIDATE`
    /// form between two transactions of the phase) and returns the statements run.
    pub(super) async fn run_step(
        &mut self,
        dialect: crate::schema::model::Dialect,
        step: &PlannedStep,
    ) -> Result<Vec<String>, DbError> {
        Ok(match self.policy.online {
            true => match online::online(dialect, &step.op) {
                OnlineForm::Rewritten {
                    statements,
                    outside_transaction: true,
                    ..
                } => {
                    self.session.commit_phase().await?;
                    self.session.run_statements(&statements).await?;
                    self.session.begin_phase().await?;
                    statements
                }
                OnlineForm::Rewritten { statements, .. } => {
                    self.run_online(&statements).await?;
                    statements
                }
                _ => {
                    let st = plan::render_op(dialect, &step.op);
                    self.session.run_statements(&st).await?;
                    st
                }
            },
            false => {
                let st = plan::render_op(dialect, &step.op);
                self.session.run_statements(&st).await?;
                st
            }
        })
    }
}
