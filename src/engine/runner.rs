//! The upgrade runner: the expand → migrate → contract state machine behind `db sync`,
//! `db upgrade`, `db expand`, `db migrate`, `db contract` and `db version_control`, including
//! Glance's version-table bookkeeping (retired ids renamed, legacy `migrate_version` databases
//! adopted, stamping).
//!
//! It runs on a [`Session`] (lock, transactions, version rows) and reports through events: a
//! [`Milestone`] wherever Glance tells the operator something (the CLI prints Glance's exact
//! line for it), plus finer events (phase started, step applied with its duration, data
//! migrated, version rows written) for progress and JSON output. A command Glance refuses ends
//! in a typed [`Refusal`]; the CLI words it.

use std::time::{Duration, Instant};

use super::data_run;
use super::drift::schema_matches;
use super::events::retried;
pub use super::events::{Event, Milestone};
use super::refusal::{Refusal, legacy_revision};
use super::rolling::pending_rows;
use super::target::{Target, current_id};
use super::upgrade::DataStep;
use super::{
    EngineError, Live, active_migrations, applied_set, plan_upgrade_to, read_live_reporting,
};
use crate::config::DbUrl;
use crate::exec::connection::{Conn, DbError};
use crate::exec::{Session, version_table};
use crate::observe::Observer;
use crate::plan::hazard::Lock;
use crate::plan::{Phase, PlannedStep};
use crate::revisions::RevisionSet;
use crate::snapshot::Branch;

/// What to run, with its arguments already resolved against the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `db sync [V] [CURRENT]`: the whole upgrade. With `stamp_first`, an unversioned database
    /// is first placed under control at that revision (Glance's legacy two-argument form).
    Sync {
        target: Target,
        stamp_first: Option<String>,
    },
    /// `db upgrade [V]`: the whole upgrade, Glance's `upgrade` wording.
    Upgrade { target: Target },
    /// `db expand`: the expand phase up to the expand head.
    Expand,
    /// `db migrate`: the pending data migrations.
    Migrate,
    /// `db contract`: the contract phase up to the contract head.
    Contract,
    /// `db version_control V`: record V without changing the schema (checked unless `force`).
    Stamp { revision: String, force: bool },
}

/// Why a run stopped.
#[derive(Debug)]
pub enum RunError {
    Refused(Refusal),
    Engine(EngineError),
}

impl From<EngineError> for RunError {
    fn from(e: EngineError) -> Self {
        RunError::Engine(e)
    }
}

impl From<DbError> for RunError {
    fn from(e: DbError) -> Self {
        RunError::Engine(EngineError::Db(e))
    }
}

impl From<Refusal> for RunError {
    fn from(r: Refusal) -> Self {
        RunError::Refused(r)
    }
}

/// What an operator allows a run to do to the live database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// `--max-lock`: refuse, before running anything, a plan with a step whose lock is
    /// stronger (see [`crate::plan::hazard`]).
    pub max_lock: Option<Lock>,
    /// `--online`: run each step in the form that lets writers carry on
    /// ([`crate::plan::online`]); refuse, before running anything, a plan with a step that has
    /// none.
    pub online: bool,
    /// `--verify`: rehearse the plan on a scratch copy of the live schema first
    /// ([`super::verify`]).
    pub verify: bool,
}

/// Takes the migration lock on `conn`, runs `command`, and commits (or rolls back what can be
/// rolled back) and releases the lock.
pub async fn run_locked(
    conn: &mut Conn,
    url: &DbUrl,
    lock_timeout: Duration,
    revs: &RevisionSet,
    command: &Command,
    obs: &mut dyn Observer<Event>,
) -> Result<(), RunError> {
    run_locked_with(
        conn,
        url,
        lock_timeout,
        revs,
        command,
        Policy::default(),
        obs,
    )
    .await
}

/// [`run_locked`] under `policy`.
pub async fn run_locked_with(
    conn: &mut Conn,
    url: &DbUrl,
    lock_timeout: Duration,
    revs: &RevisionSet,
    command: &Command,
    policy: Policy,
    obs: &mut dyn Observer<Event>,
) -> Result<(), RunError> {
    let mut session = Session::begin(conn, url, lock_timeout).await?;
    let result = Runner {
        session: &mut session,
        revs,
        obs,
        policy,
        url,
    }
    .run(command)
    .await;
    match result {
        Ok(()) => Ok(session.finish().await?),
        Err(e) => {
            session.abort().await;
            Err(e)
        }
    }
}

/// One run of a command on a session.
pub struct Runner<'r, 's> {
    pub session: &'r mut Session<'s>,
    pub revs: &'r RevisionSet,
    pub obs: &'r mut dyn Observer<Event>,
    pub policy: Policy,
    /// The live database's URL (`--verify` makes its scratch database next to it).
    pub url: &'r DbUrl,
}

impl Runner<'_, '_> {
    fn say(&mut self, m: Milestone) {
        self.obs.on(&Event::Milestone(m));
    }

    /// Runs `command` inside the session (the caller finishes or aborts it).
    /// The live state, read in one snapshot under the lock; retries reported.
    async fn read(&mut self) -> Result<Live, DbError> {
        let mut retries = vec![];
        let live = read_live_reporting(self.session.conn, &mut |r| retries.push(r.clone())).await;
        for r in retries {
            self.obs.on(&retried(r));
        }
        live
    }

    pub async fn run(&mut self, command: &Command) -> Result<(), RunError> {
        self.drop_invalid_indexes().await?;
        let live = self.read().await?;
        match command {
            Command::Stamp { revision, force } => self.stamp(&live, revision, *force).await,
            Command::Sync {
                stamp_first: Some(current),
                ..
            } => {
                if live.heads().is_empty() {
                    self.stamp(&live, current, false).await?;
                }
                let live = self.read().await?;
                self.upgrade(live, command).await
            }
            _ => {
                let live = self.prepare_versions(live).await?;
                self.upgrade(live, command).await
            }
        }
    }

    /// Rewrites Glance's retired monolithic ids and adopts a legacy (sqlalchemy-migrate)
    /// database. Returns the live state with version rows set.
    async fn prepare_versions(&mut self, mut live: Live) -> Result<Live, RunError> {
        let heads = live.heads();
        let renamed: Vec<String> = heads.iter().map(|h| current_id(h).to_string()).collect();
        if renamed != heads {
            self.write_heads(&heads, &renamed).await?;
            live.version_rows = Some(renamed);
            return Ok(live);
        }
        if !heads.is_empty() || !live.has_legacy_table {
            return Ok(live);
        }
        // Glance's old tooling created an empty migrate_version (version 0) on fresh databases.
        let Some(version) = version_table::legacy_version(self.session.conn).await? else {
            return Ok(live);
        };
        let revision = legacy_revision(version)?;
        self.say(Milestone::NotUnderAlembic);
        if let Err(drift) = schema_matches(self.revs, &live, revision, false) {
            return Err(Refusal::LegacyMismatch {
                version,
                revision: revision.to_string(),
                drift,
            }
            .into());
        }
        self.say(Milestone::PlacingUnderControl {
            revision: revision.to_string(),
        });
        self.write_heads(&[], &[revision.to_string()]).await?;
        live.version_rows = Some(vec![revision.to_string()]);
        Ok(live)
    }

    async fn stamp(&mut self, live: &Live, revision: &str, force: bool) -> Result<(), RunError> {
        if !force && let Err(drift) = schema_matches(self.revs, live, revision, true) {
            return Err(Refusal::StampMismatch {
                revision: revision.to_string(),
                drift,
            }
            .into());
        }
        self.session.begin_phase().await?;
        self.write_heads(&live.heads(), &[revision.to_string()])
            .await?;
        self.session.commit_phase().await?;
        self.say(Milestone::PlacedUnderControl {
            revision: revision.to_string(),
        });
        Ok(())
    }

    async fn write_heads(&mut self, from: &[String], to: &[String]) -> Result<(), DbError> {
        let result = self.session.write_heads(from, to).await;
        self.report_retries();
        result?;
        self.obs.on(&Event::VersionsWritten {
            from: from.to_vec(),
            to: to.to_vec(),
        });
        Ok(())
    }

    /// Renders each step for the session's backend and runs it (`--online`: in its online
    /// form; a PostgreSQL `CONCURRENTLY`/`VALIDATE` form between two transactions of the phase).
    async fn run_steps(&mut self, steps: &[PlannedStep]) -> Result<(), DbError> {
        let dialect = self.session.dialect();
        for step in steps {
            let started = Instant::now();
            let result = self.run_step(dialect, step).await;
            self.report_retries();
            let statements = result?;
            self.obs.on(&Event::StepApplied {
                phase: step.phase,
                summary: step.summary.clone(),
                statements: statements.len(),
                elapsed: started.elapsed(),
            });
        }
        Ok(())
    }

    /// Runs the data steps that still have rows to migrate; returns the rows changed.
    async fn run_data(&mut self, steps: &[DataStep]) -> Result<u64, DbError> {
        data_run::run_data(self.session, self.revs, steps, self.obs).await
    }

    /// Reports the session's retries.
    fn report_retries(&mut self) {
        for r in self.session.take_retries() {
            self.obs.on(&retried(r));
        }
    }

    /// Runs DDL steps and data steps of one phase and moves the version rows, in one
    /// transaction where the backend allows.
    async fn run_phase(
        &mut self,
        phase: Phase,
        steps: &[PlannedStep],
        data: &[DataStep],
        from: &[String],
        to: &[String],
    ) -> Result<u64, DbError> {
        self.obs.on(&Event::PhaseStarted { phase });
        self.session.begin_phase().await?;
        self.run_steps(steps).await?;
        let rows = self.run_data(data).await?;
        if from != to {
            self.write_heads(from, to).await?;
        }
        self.session.commit_phase().await?;
        Ok(rows)
    }

    async fn upgrade(&mut self, live: Live, command: &Command) -> Result<(), RunError> {
        let revs = self.revs;
        // Every head of each branch: two expand heads (two lines of work, merged or not) are
        // both the expand phase's work.
        let e_heads: Vec<String> = revs
            .branch_heads(Branch::Expand)
            .into_iter()
            .map(str::to_string)
            .collect();
        let c_heads: Vec<String> = revs
            .branch_heads(Branch::Contract)
            .into_iter()
            .map(str::to_string)
            .collect();
        let heads = live.heads();
        let applied = applied_set(revs, &heads)?;
        let has = |rs: &[String]| !rs.is_empty() && rs.iter().all(|r| applied.contains(r));
        let label = |rs: &[String]| rs.join(", ");

        match command {
            Command::Expand => {
                if e_heads.is_empty() {
                    return Err(Refusal::NoExpandHead.into());
                }
                if has(&c_heads) && has(&e_heads) {
                    self.say(Milestone::UpToDate);
                    return Ok(());
                }
                if has(&e_heads) {
                    self.say(Milestone::ExpansionUpToDate);
                    return Ok(());
                }
                let p = plan_upgrade_to(revs, &live, &e_heads)?;
                self.check_policy(&p.expand)?;
                self.verify_plan(&live, &p.expand, &p.expand_heads).await?;
                self.run_phase(
                    Phase::Expand,
                    &p.expand,
                    &p.expand_data,
                    &heads,
                    &p.expand_heads,
                )
                .await?;
                self.say(Milestone::Upgraded {
                    revision: Some(label(&e_heads)),
                    heads: p.expand_heads,
                });
                Ok(())
            }
            Command::Migrate => {
                if has(&c_heads) && has(&e_heads) {
                    self.say(Milestone::UpToDate);
                    return Ok(());
                }
                if !has(&e_heads) {
                    return Err(Refusal::MigrateBeforeExpand.into());
                }
                let active = active_migrations(revs, &applied, live.dialect);
                if pending_rows(self.session.conn, &active).await? > 0 {
                    self.obs.on(&Event::PhaseStarted {
                        phase: Phase::Migrate,
                    });
                    // One transaction on PostgreSQL (a stop rolls the phase back whole, as the
                    // crash tests pin); on MySQL each batch commits on its own.
                    self.session.begin_phase().await?;
                    let rows = self.run_data(&active).await?;
                    self.session.commit_phase().await?;
                    self.say(Milestone::Migrated { rows });
                } else {
                    self.say(Milestone::MigrationUpToDate);
                }
                Ok(())
            }
            Command::Contract => {
                if c_heads.is_empty() {
                    return Err(Refusal::NoContractHead.into());
                }
                if has(&c_heads) && has(&e_heads) {
                    self.say(Milestone::UpToDate);
                    return Ok(());
                }
                if !has(&e_heads) {
                    return Err(Refusal::ContractBeforeExpand.into());
                }
                let active = active_migrations(revs, &applied, live.dialect);
                if pending_rows(self.session.conn, &active).await? > 0 {
                    return Err(Refusal::ContractBeforeMigrate.into());
                }
                let p = plan_upgrade_to(revs, &live, &c_heads)?;
                self.check_policy(p.expand.iter().chain(&p.contract))?;
                self.verify_plan(&live, p.expand.iter().chain(&p.contract), &p.final_heads)
                    .await?;
                // Data steps that contract revisions carry run before their DDL.
                let contract_data: Vec<DataStep> = p
                    .migrate
                    .iter()
                    .filter(|d| {
                        revs.meta(&d.revision)
                            .is_some_and(|m| m.branch == Some(Branch::Contract))
                    })
                    .cloned()
                    .collect();
                self.run_phase(
                    Phase::Expand,
                    &p.expand,
                    &contract_data,
                    &heads,
                    &p.expand_heads,
                )
                .await?;
                self.run_phase(
                    Phase::Contract,
                    &p.contract,
                    &[],
                    &p.expand_heads,
                    &p.final_heads,
                )
                .await?;
                self.say(Milestone::Upgraded {
                    revision: Some(label(&c_heads)),
                    heads: p.final_heads,
                });
                Ok(())
            }
            Command::Sync { target, .. } | Command::Upgrade { target } => {
                let is_sync = matches!(command, Command::Sync { .. });
                self.full_upgrade(live, target, is_sync, e_heads).await
            }
            Command::Stamp { .. } => unreachable!("stamping is handled in run"),
        }
    }

    /// `db sync` / `db upgrade`: every phase up to `target`.
    async fn full_upgrade(
        &mut self,
        live: Live,
        target: &Target,
        is_sync: bool,
        e_heads: Vec<String>,
    ) -> Result<(), RunError> {
        let revs = self.revs;
        let heads = live.heads();
        let applied = applied_set(revs, &heads)?;
        let label = target.label(revs);
        let name = label.as_str();
        if let Some(past) = target
            .revisions
            .iter()
            .find(|t| applied.contains(*t) && !heads.contains(*t))
        {
            return Err(Refusal::Downgrade {
                heads,
                target: past.clone(),
            }
            .into());
        }
        let reached = target.revisions.iter().all(|t| applied.contains(t));
        // The expand heads this upgrade applies (Glance names the expand head it reaches).
        let closure: std::collections::BTreeSet<String> = target
            .revisions
            .iter()
            .flat_map(|t| revs.closure(t))
            .collect();
        let e_reached: Vec<String> = e_heads
            .iter()
            .filter(|e| closure.contains(*e))
            .cloned()
            .collect();
        let e_head = (!e_reached.is_empty()).then(|| e_reached.join(", "));
        // Glance's own flow: `db sync` without a version reports each phase.
        let glance_flow = is_sync && !target.explicit;
        // `db sync` (with or without a version) at its target has nothing to do and says so;
        // `db upgrade V` keeps Glance's "Upgraded database to: V" line.
        if is_sync && reached {
            self.say(Milestone::UpToDate);
            return Ok(());
        }
        let p = plan_upgrade_to(revs, &live, &target.revisions)?;
        self.check_policy(p.expand.iter().chain(&p.contract))?;
        self.verify_plan(&live, p.expand.iter().chain(&p.contract), &p.final_heads)
            .await?;
        for l in &p.left_alone {
            self.obs.on(&Event::LeftAlone { object: l.clone() });
        }
        // What an upgrade reports once the target is reached.
        let named = is_sync || target.explicit;
        let finished = |runner: &mut Self, heads: &[String]| {
            runner.say(Milestone::Upgraded {
                revision: named.then(|| name.to_string()),
                heads: heads.to_vec(),
            });
            if is_sync {
                runner.say(Milestone::Synced);
            }
        };
        if p.fresh {
            // One pass straight to the target; the version rows still move through the
            // expand head first, as Glance's do.
            self.obs.on(&Event::PhaseStarted {
                phase: Phase::Expand,
            });
            self.session.begin_phase().await?;
            self.run_steps(&p.expand).await?;
            let mid = e_head.clone().filter(|_| glance_flow);
            if let Some(e) = &mid {
                self.write_heads(&[], &e_reached).await?;
                self.say(Milestone::Upgraded {
                    revision: Some(e.clone()),
                    heads: e_reached.clone(),
                });
                self.say(Milestone::MigrationUpToDate);
                self.write_heads(&e_reached, &p.final_heads).await?;
            } else {
                self.write_heads(&[], &p.final_heads).await?;
            }
            self.session.commit_phase().await?;
            finished(self, &p.final_heads);
            return Ok(());
        }
        // expand
        let expanded_before =
            !e_reached.is_empty() && e_reached.iter().all(|e| applied.contains(e));
        self.run_phase(
            Phase::Expand,
            &p.expand,
            &p.expand_data,
            &heads,
            &p.expand_heads,
        )
        .await?;
        if glance_flow {
            if expanded_before {
                self.say(Milestone::ExpansionUpToDate);
            } else if let Some(e) = &e_head {
                self.say(Milestone::Upgraded {
                    revision: Some(e.clone()),
                    heads: p.expand_heads.clone(),
                });
            }
        }
        // migrate
        self.obs.on(&Event::PhaseStarted {
            phase: Phase::Migrate,
        });
        self.session.begin_phase().await?;
        let rows = self.run_data(&p.migrate).await?;
        self.session.commit_phase().await?;
        if rows > 0 {
            self.say(Milestone::Migrated { rows });
        } else if glance_flow {
            self.say(Milestone::MigrationUpToDate);
        }
        let left = pending_rows(self.session.conn, &p.migrate).await?;
        if left > 0 && !p.contract.is_empty() {
            return Err(Refusal::DataLeft { rows: left }.into());
        }
        // contract
        self.run_phase(
            Phase::Contract,
            &p.contract,
            &[],
            &p.expand_heads,
            &p.final_heads,
        )
        .await?;
        finished(self, &p.final_heads);
        Ok(())
    }
}
