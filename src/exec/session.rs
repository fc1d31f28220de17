//! A migration session: one connection, the migration lock ([`super::lock`]), transactions
//! where the backend has transactional DDL, and the version rows ([`super::version_table`]).
//!
//! - PostgreSQL: each phase is one transaction (DDL + version rows).
//! - SQLite: the whole run is one `BEGIN IMMEDIATE` transaction (the lock), with
//!   `PRAGMA foreign_key_check` before COMMIT.
//! - MySQL/MariaDB: DDL commits implicitly, so a run killed half-way is repaired by the next
//!   run, which re-introspects and finishes the plan. Each statement is its own transaction,
//!   so one that fails with a deadlock or a Galera certification conflict is run again
//!   ([`super::retry`]); the retries are kept in the session (`Session::retries`) for the caller to report.
//! - Galera: the lock is a lease row ([`super::lease`]) and schema changes run under TOI
//!   (the session's `wsrep_OSU_method` is set to TOI, or the run is refused).

use std::time::Duration;

use super::connection::{Conn, DbError, DbErrorKind, stmt_error};
use super::lease::Lease;
use super::lock::{Locker, lock_key, locker_for};
use super::retry::{Retried, RetryPolicy};
use super::version_table;
use crate::config::DbUrl;
use crate::schema::model::Dialect;

/// Environment variable that makes the executor stop (as if killed) after the k-th statement.
/// Read only by the `glance-manage-fault` binary, which exists only with the test-only
/// `fault-injection` feature: left in an operator's environment it must not stop a real
/// `db sync` half-way.
pub const FAIL_AFTER_ENV: &str = "GLANCE_MANAGE_FAIL_AFTER";

/// The kill point set by [`inject_fail_after`]; absent from builds without the feature.
#[cfg(feature = "fault-injection")]
static FAIL_AFTER: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Makes every later session of this process stop before statement `k + 1` (crash tests).
#[cfg(feature = "fault-injection")]
pub fn inject_fail_after(k: usize) {
    let _ = FAIL_AFTER.set(k);
}

fn injected_fail_after() -> Option<usize> {
    #[cfg(feature = "fault-injection")]
    return FAIL_AFTER.get().copied();
    #[cfg(not(feature = "fault-injection"))]
    None
}

/// A running migration session: the connection, the lock, and the open transaction.
pub struct Session<'a> {
    pub conn: &'a mut Conn,
    url: DbUrl,
    dialect: Dialect,
    lock: Box<dyn Locker>,
    in_tx: bool,
    /// Statements executed so far in this run.
    pub executed: usize,
    fail_after: Option<usize>,
    /// Retries since the caller last took them ([`Session::take_retries`]).
    retries: Vec<Retried>,
    pub retry: RetryPolicy,
}

impl<'a> Session<'a> {
    /// Takes the migration lock, waiting up to `wait`. On SQLite this also opens the run's
    /// single write transaction.
    pub async fn begin(
        conn: &'a mut Conn,
        url: &DbUrl,
        wait: Duration,
    ) -> Result<Session<'a>, DbError> {
        // GET_LOCK is node-local on Galera: a lease row every node sees instead.
        let lock: Box<dyn Locker> = if conn.galera().is_some() {
            Box::new(Lease::new(url, lock_key(url)))
        } else {
            locker_for(url)
        };
        Self::begin_with(conn, url, wait, lock).await
    }

    /// [`Session::begin`] with a given lock (a cluster-wide one, say).
    pub async fn begin_with(
        conn: &'a mut Conn,
        url: &DbUrl,
        wait: Duration,
        mut lock: Box<dyn Locker>,
    ) -> Result<Session<'a>, DbError> {
        let dialect = conn.dialect();
        let fail_after = injected_fail_after();
        require_toi(conn, url).await?;
        lock.acquire(conn, wait).await?;
        let in_tx = lock.opens_transaction();
        Ok(Session {
            conn,
            url: url.clone(),
            dialect,
            lock,
            in_tx,
            executed: 0,
            fail_after,
            retries: vec![],
            retry: RetryPolicy::default(),
        })
    }

    /// The retries since the last call, oldest first.
    pub fn take_retries(&mut self) -> Vec<Retried> {
        std::mem::take(&mut self.retries)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn exec(&mut self, sql: &str) -> Result<u64, DbError> {
        if let Some(e) = self.lock.lost() {
            return Err(e);
        }
        let url = &self.url;
        let conn = &mut *self.conn;
        let mut run = async || {
            conn.execute(sql)
                .await
                .map_err(|e| stmt_error(e, url, &format!("statement failed: {}", one_line(sql))))
        };
        if self.in_tx {
            return run().await;
        }
        // Autocommit (MySQL, PostgreSQL outside a phase): a statement that lost a deadlock or
        // a certification conflict changed nothing.
        let retries = &mut self.retries;
        self.retry
            .run(&one_line(sql), &mut |r| retries.push(r.clone()), run)
            .await
    }

    /// A query on the session's connection, retried like a statement.
    pub async fn query(
        &mut self,
        sql: &str,
        params: &[super::connection::Param<'_>],
        context: &str,
    ) -> Result<super::connection::Rows, DbError> {
        if let Some(e) = self.lock.lost() {
            return Err(e);
        }
        let conn = &mut *self.conn;
        let mut run = async || {
            conn.query_with(sql, params)
                .await
                .map_err(|e| DbError::statement(context, e))
        };
        if self.dialect == Dialect::Postgres && self.in_tx {
            return run().await;
        }
        let retries = &mut self.retries;
        self.retry
            .run(context, &mut |r| retries.push(r.clone()), run)
            .await
    }

    /// Runs a statement with bound values, counted and retried like [`Session::run_statement`].
    pub async fn run_with(
        &mut self,
        sql: &str,
        params: &[super::connection::Param<'_>],
    ) -> Result<u64, DbError> {
        self.check_fail_after()?;
        if let Some(e) = self.lock.lost() {
            return Err(e);
        }
        let url = &self.url;
        let conn = &mut *self.conn;
        let mut run = async || {
            conn.execute_with(sql, params)
                .await
                .map_err(|e| stmt_error(e, url, &format!("statement failed: {}", one_line(sql))))
        };
        let n = if self.in_tx {
            run().await?
        } else {
            let retries = &mut self.retries;
            self.retry
                .run(&one_line(sql), &mut |r| retries.push(r.clone()), run)
                .await?
        };
        self.executed += 1;
        Ok(n)
    }

    /// Whether the session is inside a transaction it opened (a phase on PostgreSQL, the run on
    /// SQLite).
    pub fn in_transaction(&self) -> bool {
        self.in_tx
    }

    /// The Galera cluster behind the session's connection, if any.
    pub fn galera(&self) -> Option<&super::galera::Galera> {
        self.conn.galera()
    }

    /// Opens a transaction for one phase (PostgreSQL; SQLite already has the run's one).
    pub async fn begin_phase(&mut self) -> Result<(), DbError> {
        if self.dialect == Dialect::Postgres && !self.in_tx {
            self.exec("BEGIN").await?;
            self.in_tx = true;
        }
        Ok(())
    }

    /// Commits the phase (PostgreSQL). SQLite commits once at [`Session::finish`].
    pub async fn commit_phase(&mut self) -> Result<(), DbError> {
        if self.dialect == Dialect::Postgres && self.in_tx {
            self.exec("COMMIT").await?;
            self.in_tx = false;
        }
        Ok(())
    }

    /// Runs one statement, counting it for fault injection.
    pub async fn run_statement(&mut self, sql: &str) -> Result<u64, DbError> {
        self.check_fail_after()?;
        let n = self.exec(sql).await?;
        self.executed += 1;
        Ok(n)
    }

    fn check_fail_after(&self) -> Result<(), DbError> {
        if let Some(k) = self.fail_after
            && self.executed >= k
        {
            return Err(DbError {
                message: format!(
                    "stopped before statement {} ({FAIL_AFTER_ENV}={k})",
                    self.executed + 1
                ),
                help: None,
                code: None,
                kind: DbErrorKind::Statement,
            });
        }
        Ok(())
    }

    /// Runs statements in order.
    pub async fn run_statements(&mut self, statements: &[String]) -> Result<(), DbError> {
        for st in statements {
            self.run_statement(st).await?;
        }
        Ok(())
    }

    /// A count query (`pending` of a data migration) on the session's connection.
    pub async fn count(&mut self, sql: &str, context: &str) -> Result<i64, DbError> {
        self.conn
            .query_i64(sql)
            .await
            .map(|n| n.unwrap_or(0))
            .map_err(|e| DbError::statement(context, e))
    }

    /// Replaces the version rows `old` with `heads` (creating Glance's version table if needed).
    pub async fn write_heads(&mut self, old: &[String], heads: &[String]) -> Result<(), DbError> {
        if let Some(e) = self.lock.lost() {
            return Err(e);
        }
        if self.in_tx {
            return version_table::write(self.conn, &self.url, old, heads, true).await;
        }
        // MySQL: its own transaction, run again whole if certification aborts it.
        let (conn, url) = (&mut *self.conn, &self.url);
        let retries = &mut self.retries;
        self.retry
            .run(
                "writing the version rows",
                &mut |r| retries.push(r.clone()),
                async || version_table::write(conn, url, old, heads, false).await,
            )
            .await
    }

    /// Commits and releases the lock.
    pub async fn finish(mut self) -> Result<(), DbError> {
        if self.dialect == Dialect::Sqlite && self.in_tx {
            let bad = self
                .conn
                .query("PRAGMA foreign_key_check")
                .await
                .map_err(|e| DbError::statement("foreign key check failed", e))?;
            if !bad.is_empty() {
                let tables: Vec<String> = bad
                    .iter()
                    .filter_map(|r| r.first().and_then(|v| v.text()))
                    .collect();
                let _ = self.conn.execute("ROLLBACK").await;
                self.in_tx = false;
                self.lock.release(self.conn).await;
                return Err(DbError {
                    message: format!(
                        "the migration would leave rows whose foreign keys point nowhere (tables: {}); nothing was changed",
                        tables.join(", ")
                    ),
                    help: Some("fix or delete those rows, then run the command again".into()),
                    code: None,
                    kind: DbErrorKind::ForeignKey,
                });
            }
        }
        if self.in_tx {
            self.exec("COMMIT").await?;
            self.in_tx = false;
        }
        self.lock.release(self.conn).await;
        Ok(())
    }

    /// Rolls back what can be rolled back and releases the lock (after a failure).
    pub async fn abort(mut self) {
        if self.in_tx {
            let _ = self.conn.execute("ROLLBACK").await;
            self.in_tx = false;
        }
        self.lock.release(self.conn).await;
    }
}

/// On Galera, schema changes must replicate in total order (TOI): under RSU a DDL statement
/// stays on this node while the version rows replicate, and the other nodes leave the cluster
/// when they fail to apply what follows.
async fn require_toi(conn: &mut Conn, url: &DbUrl) -> Result<(), DbError> {
    let Some(g) = conn.galera() else {
        return Ok(());
    };
    if g.osu_method.eq_ignore_ascii_case("TOI") {
        return Ok(());
    }
    let method = g.osu_method.clone();
    conn.execute("SET SESSION wsrep_OSU_method = 'TOI'")
        .await
        .map_err(|e| {
            let mut err = stmt_error(
                e,
                url,
                &format!(
                    "refusing to change the schema on this Galera cluster: the session's \
                     wsrep_OSU_method is {method} and cannot be set to TOI"
                ),
            );
            err.help = Some(
                "schema changes must replicate in total order (TOI): under RSU they stay on one \
                 node and the other nodes leave the cluster; set wsrep_OSU_method = TOI, or grant \
                 the tool's user the right to set it for its session"
                    .into(),
            );
            err
        })?;
    Ok(())
}

fn one_line(sql: &str) -> String {
    let s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > 160 {
        format!("{}…", &s[..s.floor_char_boundary(160)])
    } else {
        s
    }
}
