//! The migration lock on a Galera cluster: a lease row every node sees.
//!
//! `GET_LOCK` is node-local under Galera (a session on node 2 gets a lock node 1 holds), so the
//! lock is a row in [`LOCK_TABLE`], replicated like any other:
//!
//! - the table is created with `CREATE TABLE IF NOT EXISTS` under TOI (ordered cluster-wide);
//! - a run takes the lease by INSERTing the row, or by UPDATEing a row whose lease has expired
//!   (the holder died without releasing it). Two nodes racing for the same row: Galera
//!   certifies one write set and aborts the other (1213), which counts as "held";
//! - while held, a heartbeat on a second connection pushes the expiry forward every third of
//!   the lease, so a long ALTER does not let the lease lapse; a heartbeat that finds the row
//!   gone or taken marks the lease lost, and the run stops before its next statement;
//! - release deletes the row if it is still ours.
//!
//! The lease lasts [`DEFAULT_LEASE`] (`GLANCE_MANAGE_LEASE_SECONDS` changes it): a run killed
//! with its lease held blocks others for at most that long. The row names the holder (host,
//! pid, since when), so a run that gives up says who it waited for. Expiry uses the server's
//! clock (`UTC_TIMESTAMP`), so client clocks do not matter; the nodes' clocks should agree
//! within a fraction of the lease (NTP).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::connection::{Conn, DbError, DbErrorKind, OpenMode, Param};
use super::lock::{BoxFuture, Locker, lock_error, plain};
use crate::config::DbUrl;

/// The lease table (excluded from schema comparison: see `version_table::is_bookkeeping`).
pub const LOCK_TABLE: &str = "glance_manage_lock";
/// How long a lease lasts without a heartbeat.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Environment variable with the lease length in seconds.
pub const LEASE_ENV: &str = "GLANCE_MANAGE_LEASE_SECONDS";

const CREATE: &str = "CREATE TABLE IF NOT EXISTS glance_manage_lock (\
    name VARCHAR(128) NOT NULL, \
    holder VARCHAR(128) NOT NULL, \
    host VARCHAR(255) NOT NULL, \
    pid BIGINT NOT NULL, \
    acquired_at DATETIME NOT NULL, \
    expires_at DATETIME NOT NULL, \
    CONSTRAINT glance_manage_lock_pk PRIMARY KEY (name)\
) ENGINE=InnoDB";

pub struct Lease {
    url: DbUrl,
    key: String,
    /// This run's token: host, pid and a clock reading.
    token: String,
    host: String,
    lease: Duration,
    held: bool,
    lost: Arc<AtomicBool>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// The lease length: [`LEASE_ENV`] if it is a positive number of seconds, else the default.
pub fn lease_length() -> Duration {
    std::env::var(LEASE_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LEASE)
}

/// What a failed attempt found.
enum Attempt {
    Taken,
    /// Someone else holds it (their description, when the row could be read).
    Held(Option<String>),
}

impl Lease {
    pub fn new(url: &DbUrl, key: String) -> Lease {
        let host = hostname();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Lease {
            url: url.clone(),
            token: format!("{host}:{}:{nanos}", std::process::id()),
            key,
            host,
            lease: lease_length(),
            held: false,
            lost: Arc::new(AtomicBool::new(false)),
            heartbeat: None,
            stop: None,
        }
    }

    async fn attempt(&self, conn: &mut Conn) -> Result<Attempt, DbError> {
        let secs = self.lease.as_secs() as i64;
        let pid = i64::from(std::process::id());
        let insert = conn
            .execute_with(
                "INSERT INTO glance_manage_lock (name, holder, host, pid, acquired_at, expires_at) \
                 VALUES (?, ?, ?, ?, UTC_TIMESTAMP(), UTC_TIMESTAMP() + INTERVAL ? SECOND)",
                &[
                    Param::Text(&self.key),
                    Param::Text(&self.token),
                    Param::Text(&self.host),
                    Param::Int(pid),
                    Param::Int(secs),
                ],
            )
            .await
            .map_err(|e| DbError::statement("cannot take the migration lease", e));
        match insert {
            Ok(_) => return Ok(Attempt::Taken),
            // 1062: the row exists; 1213: another node's insert won certification.
            Err(e) if matches!(e.code.as_deref(), Some("1062") | Some("1213")) => {}
            Err(e) => return Err(e),
        }
        // Take over an expired lease (its holder died without releasing it).
        let takeover = conn
            .execute_with(
                "UPDATE glance_manage_lock SET holder = ?, host = ?, pid = ?, \
                 acquired_at = UTC_TIMESTAMP(), expires_at = UTC_TIMESTAMP() + INTERVAL ? SECOND \
                 WHERE name = ? AND expires_at < UTC_TIMESTAMP()",
                &[
                    Param::Text(&self.token),
                    Param::Text(&self.host),
                    Param::Int(pid),
                    Param::Int(secs),
                    Param::Text(&self.key),
                ],
            )
            .await
            .map_err(|e| DbError::statement("cannot take over the migration lease", e));
        match takeover {
            Ok(1) => return Ok(Attempt::Taken),
            Ok(_) => {}
            Err(e) if e.code.as_deref() == Some("1213") => {}
            Err(e) => return Err(e),
        }
        Ok(Attempt::Held(self.holder(conn).await))
    }

    /// The current holder, as the operator would look for it.
    async fn holder(&self, conn: &mut Conn) -> Option<String> {
        let rows = conn
            .query_with(
                "SELECT host, pid, acquired_at, \
                 TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), expires_at) \
                 FROM glance_manage_lock WHERE name = ?",
                &[Param::Text(&self.key)],
            )
            .await
            .ok()?;
        let r = rows.first()?;
        let cell = |i: usize| r.get(i).and_then(|v| v.text()).unwrap_or_default();
        Some(format!(
            "glance-manage pid {} on {} since {} UTC, lease expiring in {} s, in table {LOCK_TABLE}",
            cell(1),
            cell(0),
            cell(2),
            cell(3)
        ))
    }

    /// A second connection renews the lease every third of its length until told to stop.
    async fn start_heartbeat(&mut self) -> Result<(), DbError> {
        let mut hb = Conn::connect(&self.url, OpenMode::Existing).await?;
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let lost = self.lost.clone();
        let (key, token) = (self.key.clone(), self.token.clone());
        let every = self.lease / 3;
        let secs = self.lease.as_secs() as i64;
        self.heartbeat = Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    _ = tokio::time::sleep(every) => {}
                }
                let renewed = hb
                    .execute_with(
                        "UPDATE glance_manage_lock SET expires_at = UTC_TIMESTAMP() + INTERVAL ? SECOND \
                         WHERE name = ? AND holder = ?",
                        &[Param::Int(secs), Param::Text(&key), Param::Text(&token)],
                    )
                    .await;
                match renewed {
                    Ok(1) => {}
                    // Nothing changed: the row is gone or another run's (the lease is lost), or
                    // the expiry was already this second's (the server counts changed rows).
                    Ok(_) => {
                        let ours = hb
                            .query_with(
                                "SELECT COUNT(*) FROM glance_manage_lock WHERE name = ? AND holder = ?",
                                &[Param::Text(&key), Param::Text(&token)],
                            )
                            .await
                            .ok()
                            .and_then(|r| r.first().and_then(|r| r.first()).and_then(|v| v.as_i64()));
                        if ours == Some(0) {
                            lost.store(true, Ordering::SeqCst);
                            break;
                        }
                    }
                    // A certification conflict or a lost connection: try again next beat;
                    // the lease outlives two missed beats.
                    Err(_) => {}
                }
            }
            hb.close().await;
        }));
        self.stop = Some(tx);
        Ok(())
    }
}

impl Locker for Lease {
    fn acquire<'a>(
        &'a mut self,
        conn: &'a mut Conn,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(), DbError>> {
        Box::pin(async move {
            plain(conn, &self.url, CREATE).await?;
            let deadline = Instant::now() + wait;
            loop {
                match self.attempt(conn).await? {
                    Attempt::Taken => break,
                    Attempt::Held(holder) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Err(lock_error(
                                &self.url,
                                wait,
                                holder,
                                "the Galera lease row is held",
                            ));
                        }
                        tokio::time::sleep(left.min(Duration::from_millis(500))).await;
                    }
                }
            }
            self.held = true;
            if let Err(e) = self.start_heartbeat().await {
                self.release(conn).await;
                return Err(e.with_help(
                    "a Galera run renews its lock from a second connection; check max_connections",
                ));
            }
            Ok(())
        })
    }

    fn release<'a>(&'a mut self, conn: &'a mut Conn) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            if let Some(h) = self.heartbeat.take() {
                let _ = h.await;
            }
            if self.held {
                let _ = conn
                    .execute_with(
                        "DELETE FROM glance_manage_lock WHERE name = ? AND holder = ?",
                        &[Param::Text(&self.key), Param::Text(&self.token)],
                    )
                    .await;
                self.held = false;
            }
        })
    }

    fn lost(&self) -> Option<DbError> {
        self.lost.load(Ordering::SeqCst).then(|| DbError {
            message: format!(
                "the migration lease on {} was lost (its heartbeat could not renew it and another \
                 run took it over); stopped before the next statement",
                self.url
            ),
            help: Some(format!(
                "run the command again once the other run has finished; raise {LEASE_ENV} if \
                 the cluster stalls for longer than the lease ({} s)",
                self.lease.as_secs()
            )),
            code: None,
            kind: DbErrorKind::Busy,
        })
    }
}
