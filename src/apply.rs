//! The executor: runs planned steps on one connection, under a migration lock, inside
//! transactions where the backend has transactional DDL, and keeps Glance's version table.
//!
//! - PostgreSQL: session advisory lock; each phase is one transaction (DDL + version rows).
//! - SQLite: the whole run is one `BEGIN IMMEDIATE` transaction (the write lock is the
//!   migration lock), with foreign keys off around it so table rebuilds cannot cascade, and
//!   `PRAGMA foreign_key_check` before COMMIT.
//! - MySQL/MariaDB: `GET_LOCK` keyed by database name; DDL commits implicitly, so a run killed
//!   half-way is repaired by the next run, which re-introspects and finishes the plan.

use std::time::Duration;

use crate::config::DbUrl;
use crate::db::{Conn, DbError, DbErrorKind};
use crate::engine::VERSION_TABLE;
use crate::model::Dialect;
use crate::plan::Step;
use crate::render::{literal, quote};

/// Environment variable that makes the executor stop (as if killed) after the k-th statement.
/// Used by the crash-convergence tests.
pub const FAIL_AFTER_ENV: &str = "GLANCE_MANAGE_FAIL_AFTER";

/// A running migration session: the connection, the lock, and the open transaction.
pub struct Session<'a> {
    pub conn: &'a mut Conn,
    url: DbUrl,
    dialect: Dialect,
    locked: bool,
    in_tx: bool,
    /// Statements executed so far in this run.
    pub executed: usize,
    fail_after: Option<usize>,
    /// SQLite: foreign keys were switched off for the run.
    fk_off: bool,
}

fn lock_key(url: &DbUrl) -> String {
    format!("glance-manage:{}", url.database)
}

impl<'a> Session<'a> {
    /// Takes the migration lock, waiting up to `wait`. On SQLite this also opens the run's
    /// single write transaction.
    pub async fn begin(
        conn: &'a mut Conn,
        url: &DbUrl,
        wait: Duration,
    ) -> Result<Session<'a>, DbError> {
        let dialect = conn.dialect();
        let fail_after = std::env::var(FAIL_AFTER_ENV)
            .ok()
            .and_then(|v| v.parse().ok());
        let mut s = Session {
            conn,
            url: url.clone(),
            dialect,
            locked: false,
            in_tx: false,
            executed: 0,
            fail_after,
            fk_off: false,
        };
        match dialect {
            Dialect::Postgres => {
                let key = lock_key(url);
                let secs = wait.as_millis();
                s.exec(&format!("SET lock_timeout = '{secs}ms'")).await?;
                let sql = format!(
                    "SELECT pg_advisory_lock(hashtext({}))",
                    literal(dialect, &key)
                );
                if let Err(e) = s.conn.execute(&sql).await {
                    let holder = s
                        .conn
                        .query(&format!(
                            "SELECT a.pid, a.application_name, a.client_addr::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                             WHERE l.locktype = 'advisory' AND l.granted AND l.objid = hashtext({})::oid",
                            literal(dialect, &key)
                        ))
                        .await
                        .ok()
                        .and_then(|rows| rows.first().cloned())
                        .map(|r| {
                            format!(
                                "backend pid {} ({})",
                                r.first().and_then(|v| v.text()).unwrap_or_default(),
                                r.get(1).and_then(|v| v.text()).unwrap_or_default()
                            )
                        });
                    return Err(lock_error(url, wait, holder, &e.to_string()));
                }
                s.exec("SET lock_timeout = 0").await?;
                s.locked = true;
            }
            Dialect::Mysql => {
                let key = lock_key(url);
                let got = s
                    .conn
                    .query_i64(&format!(
                        "SELECT GET_LOCK({}, {})",
                        literal(dialect, &key),
                        wait.as_secs().max(1)
                    ))
                    .await
                    .map_err(|e| DbError::statement("cannot take the migration lock", e))?;
                if got != Some(1) {
                    let holder = s
                        .conn
                        .query_i64(&format!("SELECT IS_USED_LOCK({})", literal(dialect, &key)))
                        .await
                        .ok()
                        .flatten()
                        .map(|id| format!("connection id {id}"));
                    return Err(lock_error(url, wait, holder, "GET_LOCK timed out"));
                }
                s.locked = true;
            }
            Dialect::Sqlite => {
                // Foreign keys off for the run (a no-op inside a transaction, so before BEGIN);
                // checked with foreign_key_check before COMMIT.
                s.exec("PRAGMA foreign_keys = OFF").await?;
                s.fk_off = true;
                let busy = format!("PRAGMA busy_timeout = {}", wait.as_millis());
                s.exec(&busy).await?;
                if let Err(e) = s.conn.execute("BEGIN IMMEDIATE").await {
                    let err = DbError::statement("cannot lock the database", e);
                    let _ = s.conn.execute("PRAGMA foreign_keys = ON").await;
                    return Err(if err.kind == DbErrorKind::Busy {
                        lock_error(url, wait, None, &err.message)
                    } else {
                        err.with_help("check that the database file and its directory are writable")
                    });
                }
                s.in_tx = true;
                s.locked = true;
            }
        }
        Ok(s)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn exec(&mut self, sql: &str) -> Result<u64, DbError> {
        self.conn.execute(sql).await.map_err(|e| {
            crate::db::stmt_error(
                e,
                &self.url,
                &format!("statement failed: {}", one_line(sql)),
            )
        })
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
        let n = self.exec(sql).await?;
        self.executed += 1;
        Ok(n)
    }

    pub async fn run_steps(&mut self, steps: &[Step]) -> Result<(), DbError> {
        for step in steps {
            for st in &step.statements {
                self.run_statement(st).await?;
            }
        }
        Ok(())
    }

    /// Replaces the version rows with `heads` (creating Glance's version table if needed).
    pub async fn write_heads(&mut self, old: &[String], heads: &[String]) -> Result<(), DbError> {
        let d = self.dialect;
        let t = quote(d, VERSION_TABLE);
        let mysql = d == Dialect::Mysql;
        if mysql {
            // Keep the version update atomic even though DDL is not.
            self.exec("START TRANSACTION").await?;
        }
        self.exec(&format!(
            "CREATE TABLE IF NOT EXISTS {t} (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        ))
        .await?;
        for h in old.iter().filter(|h| !heads.contains(h)) {
            self.exec(&format!(
                "DELETE FROM {t} WHERE version_num = {}",
                literal(d, h)
            ))
            .await?;
        }
        for h in heads.iter().filter(|h| !old.contains(h)) {
            self.exec(&format!(
                "INSERT INTO {t} (version_num) VALUES ({})",
                literal(d, h)
            ))
            .await?;
        }
        if mysql {
            self.exec("COMMIT").await?;
        }
        Ok(())
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
                self.release().await;
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
        self.release().await;
        Ok(())
    }

    /// Rolls back what can be rolled back and releases the lock (after a failure).
    pub async fn abort(mut self) {
        if self.in_tx {
            let _ = self.conn.execute("ROLLBACK").await;
            self.in_tx = false;
        }
        self.release().await;
    }

    async fn release(&mut self) {
        if self.fk_off {
            let _ = self.conn.execute("PRAGMA foreign_keys = ON").await;
            self.fk_off = false;
        }
        if !self.locked {
            return;
        }
        let key = lock_key(&self.url);
        let _ = match self.dialect {
            Dialect::Postgres => {
                self.conn
                    .execute(&format!(
                        "SELECT pg_advisory_unlock(hashtext({}))",
                        literal(self.dialect, &key)
                    ))
                    .await
            }
            Dialect::Mysql => {
                self.conn
                    .execute(&format!(
                        "SELECT RELEASE_LOCK({})",
                        literal(self.dialect, &key)
                    ))
                    .await
            }
            Dialect::Sqlite => Ok(0),
        };
        self.locked = false;
    }
}

fn lock_error(url: &DbUrl, wait: Duration, holder: Option<String>, detail: &str) -> DbError {
    let who = holder
        .map(|h| format!(" (held by {h})"))
        .unwrap_or_default();
    DbError {
        message: format!(
            "another glance-manage run is migrating {url}{who}; gave up after waiting {} s",
            wait.as_secs()
        ),
        help: Some(format!(
            "wait for it to finish and run the command again, or raise --lock-timeout ({})",
            crate::db::redact(detail, url)
        )),
        code: None,
        kind: DbErrorKind::Busy,
    }
}

fn one_line(sql: &str) -> String {
    let s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.len() > 160 {
        format!("{}…", &s[..s.floor_char_boundary(160)])
    } else {
        s
    }
}
