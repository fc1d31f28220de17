//! The migration lock: one run at a time per database. A [`Locker`] is the seam where a backend
//! (or a cluster: Galera needs a lock every node sees) decides how "one at a time" is enforced.
//!
//! - PostgreSQL: a session advisory lock keyed by the database name, waited for under
//!   `lock_timeout`; the holder's backend pid is named on time-out.
//! - MySQL/MariaDB: `GET_LOCK` keyed by the database name; the holder's connection id is named.
//! - SQLite: the database's write lock, taken with `BEGIN IMMEDIATE` for the whole run (so the
//!   lock is also the run's one transaction), with foreign keys off around it so table rebuilds
//!   cannot cascade.
//!
//! - Galera: none of the above is cluster-wide (`GET_LOCK` is node-local), so a lease row in a
//!   small table every node sees ([`super::lease`]).
//!
//! A wait of zero (`--lock-timeout 0`) means one attempt on every backend: fail at once when
//! another run holds the lock. Lock names and timeouts are bound as parameters.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::connection::{Conn, DbError, DbErrorKind, Param, redact, stmt_error};
use crate::config::DbUrl;
use crate::schema::model::Dialect;

/// A boxed future, so lockers can live behind `dyn Locker`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Takes and releases the migration lock on a connection.
pub trait Locker: Send {
    /// Takes the lock, waiting up to `wait`; a time-out is a [`DbErrorKind::Busy`] error that
    /// names the holder where the backend can tell.
    fn acquire<'a>(
        &'a mut self,
        conn: &'a mut Conn,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(), DbError>>;
    /// Releases the lock (best effort: the connection closing releases it too). Called after
    /// the run's transaction, if any, was committed or rolled back.
    fn release<'a>(&'a mut self, conn: &'a mut Conn) -> BoxFuture<'a, ()>;
    /// Whether holding the lock means the run's write transaction is open (SQLite).
    fn opens_transaction(&self) -> bool {
        false
    }
    /// Why the lock was lost while held, if it was (a Galera lease another run took over
    /// after its heartbeat failed): the run must stop before its next statement.
    fn lost(&self) -> Option<DbError> {
        None
    }
}

/// The name of the migration lock of the database `url` names.
pub fn lock_key(url: &DbUrl) -> String {
    format!("glance-manage:{}", url.database)
}

/// The lock for the database `url` names, by backend (a Galera node needs
/// [`super::lease::Lease`] instead: `Session::begin` decides).
pub fn locker_for(url: &DbUrl) -> Box<dyn Locker> {
    let key = lock_key(url);
    match url.dialect {
        Dialect::Postgres => Box::new(AdvisoryLock {
            url: url.clone(),
            key,
            held: false,
        }),
        Dialect::Mysql => Box::new(NamedLock {
            url: url.clone(),
            key,
            held: false,
        }),
        Dialect::Sqlite => Box::new(SqliteWriteLock {
            url: url.clone(),
            fk_off: false,
        }),
    }
}

/// PostgreSQL: `pg_advisory_lock(hashtext(key))`.
struct AdvisoryLock {
    url: DbUrl,
    key: String,
    held: bool,
}

impl Locker for AdvisoryLock {
    fn acquire<'a>(
        &'a mut self,
        conn: &'a mut Conn,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(), DbError>> {
        Box::pin(async move {
            let key = Param::Text(&self.key);
            // `lock_timeout = 0` would wait forever: no wait is one try.
            let failure = if wait.is_zero() {
                let got = conn
                    .query_with("SELECT pg_try_advisory_lock(hashtext($1))", &[key])
                    .await
                    .map_err(|e| DbError::statement("cannot take the migration lock", e))?
                    .first()
                    .and_then(|r| r.first())
                    .and_then(|v| v.as_i64());
                (got != Some(1)).then(|| "pg_try_advisory_lock: held".to_string())
            } else {
                let set = format!("SET lock_timeout = '{}ms'", wait.as_millis());
                plain(conn, &self.url, &set).await?;
                let r = conn
                    .execute_with("SELECT pg_advisory_lock(hashtext($1))", &[key])
                    .await;
                plain(conn, &self.url, "SET lock_timeout = 0").await?;
                r.err().map(|e| e.to_string())
            };
            if let Some(e) = failure {
                let holder = conn
                    .query_with(
                        "SELECT a.pid, a.application_name, a.client_addr::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                         WHERE l.locktype = 'advisory' AND l.granted AND l.objid = hashtext($1)::oid",
                        &[key],
                    )
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
                return Err(lock_error(&self.url, wait, holder, &e));
            }
            self.held = true;
            Ok(())
        })
    }

    fn release<'a>(&'a mut self, conn: &'a mut Conn) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if self.held {
                let _ = conn
                    .execute_with(
                        "SELECT pg_advisory_unlock(hashtext($1))",
                        &[Param::Text(&self.key)],
                    )
                    .await;
                self.held = false;
            }
        })
    }
}

/// MySQL/MariaDB: `GET_LOCK(key, seconds)`.
struct NamedLock {
    url: DbUrl,
    key: String,
    held: bool,
}

impl Locker for NamedLock {
    fn acquire<'a>(
        &'a mut self,
        conn: &'a mut Conn,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(), DbError>> {
        Box::pin(async move {
            // GET_LOCK(name, 0) is one try.
            let secs = wait.as_secs() as i64;
            let got = conn
                .query_with(
                    "SELECT GET_LOCK(?, ?)",
                    &[Param::Text(&self.key), Param::Int(secs)],
                )
                .await
                .map_err(|e| DbError::statement("cannot take the migration lock", e))?
                .first()
                .and_then(|r| r.first())
                .and_then(|v| v.as_i64());
            if got != Some(1) {
                let holder = conn
                    .query_with(
                        "SELECT l.id, p.USER, p.HOST FROM (SELECT IS_USED_LOCK(?) AS id) l \
                         LEFT JOIN information_schema.PROCESSLIST p ON p.ID = l.id",
                        &[Param::Text(&self.key)],
                    )
                    .await
                    .ok()
                    .and_then(|rows| rows.first().cloned())
                    .and_then(|r| {
                        let id = r.first().and_then(|v| v.as_i64())?;
                        let user = r.get(1).and_then(|v| v.text());
                        let host = r.get(2).and_then(|v| v.text());
                        Some(match (user, host) {
                            (Some(u), Some(h)) => format!("connection id {id}, {u}@{h}"),
                            _ => format!("connection id {id}"),
                        })
                    });
                return Err(lock_error(&self.url, wait, holder, "GET_LOCK timed out"));
            }
            self.held = true;
            Ok(())
        })
    }

    fn release<'a>(&'a mut self, conn: &'a mut Conn) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if self.held {
                let _ = conn
                    .execute_with("SELECT RELEASE_LOCK(?)", &[Param::Text(&self.key)])
                    .await;
                self.held = false;
            }
        })
    }
}

/// SQLite: the write lock of `BEGIN IMMEDIATE`, held for the whole run.
struct SqliteWriteLock {
    url: DbUrl,
    /// Foreign keys were switched off for the run.
    fk_off: bool,
}

impl Locker for SqliteWriteLock {
    fn acquire<'a>(
        &'a mut self,
        conn: &'a mut Conn,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(), DbError>> {
        Box::pin(async move {
            // Foreign keys off for the run (a no-op inside a transaction, so before BEGIN);
            // checked with foreign_key_check before COMMIT.
            plain(conn, &self.url, "PRAGMA foreign_keys = OFF").await?;
            self.fk_off = true;
            let busy = format!("PRAGMA busy_timeout = {}", wait.as_millis());
            plain(conn, &self.url, &busy).await?;
            if let Err(e) = conn.execute("BEGIN IMMEDIATE").await {
                let err = DbError::statement("cannot lock the database", e);
                let _ = conn.execute("PRAGMA foreign_keys = ON").await;
                self.fk_off = false;
                return Err(if err.kind == DbErrorKind::Busy {
                    lock_error(&self.url, wait, None, &err.message)
                } else {
                    err.with_help("check that the database file and its directory are writable")
                });
            }
            Ok(())
        })
    }

    fn release<'a>(&'a mut self, conn: &'a mut Conn) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if self.fk_off {
                let _ = conn.execute("PRAGMA foreign_keys = ON").await;
                self.fk_off = false;
            }
        })
    }

    fn opens_transaction(&self) -> bool {
        true
    }
}

/// Runs a statement without parameters; a failure names the statement.
pub(super) async fn plain(conn: &mut Conn, url: &DbUrl, sql: &str) -> Result<(), DbError> {
    conn.execute(sql)
        .await
        .map(|_| ())
        .map_err(|e| stmt_error(e, url, &format!("statement failed: {sql}")))
}

pub(super) fn lock_error(
    url: &DbUrl,
    wait: Duration,
    holder: Option<String>,
    detail: &str,
) -> DbError {
    let who = holder
        .map(|h| format!(" (held by {h})"))
        .unwrap_or_default();
    let waited = if wait.is_zero() {
        "not waiting (--lock-timeout 0)".to_string()
    } else {
        format!("gave up after waiting {} s", wait.as_secs())
    };
    DbError {
        message: format!("another glance-manage run is migrating {url}{who}; {waited}"),
        help: Some(format!(
            "wait for it to finish and run the command again, or raise --lock-timeout ({})",
            redact(detail, url)
        )),
        code: None,
        kind: DbErrorKind::Busy,
    }
}
