//! Transient errors and how to live with them.
//!
//! - Deadlocks and Galera certification failures (MySQL 1213, PostgreSQL 40001/40P01) and lock
//!   wait time-outs (MySQL 1205) are retried with exponential backoff and jitter, a bounded
//!   number of times within a bounded time; every retry is reported to the caller, which
//!   reports it through its observer. Reads are retried too: a Galera node can abort a SELECT
//!   that waits for causality (`wsrep_sync_wait`).
//! - A write set over Galera's limits (`wsrep_max_ws_rows`, `wsrep_max_ws_size`: MySQL 1180,
//!   or 1105 naming wsrep) is not retried as is: the batch executor halves its batch.
//! - A node outside the cluster's primary component (MySQL 1047) is explained, never retried:
//!   another node must be used.
//!
//! Only statements that are their own transaction (autocommit) are retried statement by
//! statement: inside an open transaction a deadlock has already rolled back the earlier work.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::connection::{DbError, DbErrorKind};

/// How often and how long to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// No retry starts after this much time since the first attempt.
    pub max_elapsed: Duration,
    /// The first backoff; doubled each retry, up to `cap`, then jittered.
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 10,
            max_elapsed: Duration::from_secs(120),
            base: Duration::from_millis(50),
            cap: Duration::from_secs(5),
        }
    }
}

/// A retry that happened: what was retried, why, and after how long a pause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retried {
    pub what: String,
    /// The server's error code (MySQL error number, PostgreSQL SQLSTATE).
    pub code: String,
    /// 1 for the first retry.
    pub attempt: u32,
    pub delay: Duration,
}

/// Error classes that change what the caller does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Deadlock, certification failure, lock wait time-out: run it again.
    Transient,
    /// The write set exceeded Galera's limit: make it smaller.
    WriteSetLimit,
    /// The Galera node is not in the primary component.
    NodeNotReady,
    Other,
}

pub fn classify(e: &DbError) -> Class {
    let code = e.code.as_deref().unwrap_or("");
    let msg = e.message.to_ascii_lowercase();
    match code {
        _ if is_transient(code) => Class::Transient,
        _ if is_write_set_limit(code, &msg) => Class::WriteSetLimit,
        "1047" => Class::NodeNotReady,
        _ if e.kind == DbErrorKind::Statement && msg.contains("deadlock found") => Class::Transient,
        _ => Class::Other,
    }
}

/// Deadlock, serialization failure or certification conflict, lock wait time-out (MySQL error
/// number or PostgreSQL SQLSTATE): the statement's transaction was rolled back and is worth
/// running again.
pub fn is_transient(code: &str) -> bool {
    matches!(code, "1213" | "1205" | "40001" | "40P01")
}

/// Galera refused the write set as too large: 1180 ("Message too long" during COMMIT, over
/// `wsrep_max_ws_rows`) or 1105, MariaDB's generic number, whose message names the write set
/// ("Maximum writeset size exceeded", over `wsrep_max_ws_size`).
pub fn is_write_set_limit(code: &str, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    match code {
        "1180" => m.contains("wsrep") || m.contains("ws_") || m.contains("too long"),
        "1105" => {
            m.contains("wsrep")
                || m.contains("max_ws")
                || m.contains("write set")
                || m.contains("writeset")
        }
        _ => false,
    }
}

/// A cheap pseudo-random number for jitter (no cryptographic use), seeded per call from the
/// clock and the process id so that racing processes do not retry in lock-step.
fn jitter_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos ^ ((std::process::id() as u64) << 32) ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x % 10_000) as f64 / 10_000.0
}

impl RetryPolicy {
    /// The pause before retry `attempt` (1-based): `base * 2^(attempt-1)` capped, then a random
    /// point between half of it and all of it.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.cap);
        exp.mul_f64(0.5 + 0.5 * jitter_fraction())
    }

    /// Runs `op` until it succeeds, fails with a non-transient error, or the retry budget is
    /// spent (the last error is returned, its help saying how often it was tried).
    /// `on_retry` hears about each retry before its pause.
    pub async fn run<T>(
        &self,
        what: &str,
        on_retry: &mut dyn FnMut(&Retried),
        mut op: impl AsyncFnMut() -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if classify(&e) == Class::Transient => {
                    attempt += 1;
                    let delay = self.delay(attempt);
                    if attempt > self.max_retries || started.elapsed() + delay > self.max_elapsed {
                        return Err(exhausted(e, attempt - 1, started.elapsed()));
                    }
                    on_retry(&Retried {
                        what: what.to_string(),
                        code: e.code.clone().unwrap_or_default(),
                        attempt,
                        delay,
                    });
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn exhausted(mut e: DbError, retries: u32, elapsed: Duration) -> DbError {
    let note = format!(
        "retried {retries} time(s) over {:.1} s (deadlock or Galera certification conflict with \
         other writers); run the command again when the database is quieter",
        elapsed.as_secs_f64()
    );
    e.help = Some(match e.help.take() {
        Some(h) => format!("{h}; {note}"),
        None => note,
    });
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str, message: &str) -> DbError {
        DbError {
            message: message.into(),
            help: None,
            code: Some(code.into()),
            kind: DbErrorKind::Statement,
        }
    }

    #[test]
    fn classes() {
        assert_eq!(
            classify(&err("1213", "Deadlock found when trying to get lock")),
            Class::Transient
        );
        assert_eq!(
            classify(&err("1205", "Lock wait timeout")),
            Class::Transient
        );
        assert_eq!(
            classify(&err("40P01", "deadlock detected")),
            Class::Transient
        );
        assert_eq!(
            classify(&err(
                "1180",
                "Got error 90 \"Message too long\" during COMMIT"
            )),
            Class::WriteSetLimit
        );
        assert_eq!(
            classify(&err("1105", "wsrep_max_ws_rows exceeded")),
            Class::WriteSetLimit
        );
        assert_eq!(
            classify(&err("1105", "Maximum writeset size exceeded")),
            Class::WriteSetLimit
        );
        assert_eq!(classify(&err("1105", "Unknown error")), Class::Other);
        assert_eq!(
            classify(&err("1047", "WSREP has not yet prepared node")),
            Class::NodeNotReady
        );
        assert_eq!(classify(&err("1062", "Duplicate entry")), Class::Other);
    }

    #[test]
    fn delays_grow_and_stay_bounded() {
        let p = RetryPolicy::default();
        for attempt in 1..=30 {
            let d = p.delay(attempt);
            assert!(d <= p.cap, "{attempt}: {d:?}");
            let exp = p.base.saturating_mul(1 << (attempt - 1).min(20)).min(p.cap);
            assert!(d >= exp / 2, "{attempt}: {d:?} < half of {exp:?}");
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_then_gives_up() {
        let p = RetryPolicy {
            max_retries: 3,
            max_elapsed: Duration::from_secs(10),
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
        };
        let mut seen = vec![];
        let mut calls = 0;
        let r: Result<(), DbError> = p
            .run("x", &mut |r| seen.push(r.attempt), async || {
                calls += 1;
                Err(err("1213", "Deadlock found"))
            })
            .await;
        let e = r.unwrap_err();
        assert_eq!(calls, 4);
        assert_eq!(seen, vec![1, 2, 3]);
        assert!(e.help.unwrap().contains("retried 3 time(s)"));

        let mut calls = 0;
        let r = p
            .run("y", &mut |_| {}, async || {
                calls += 1;
                if calls < 3 {
                    Err(err("1205", "Lock wait timeout exceeded"))
                } else {
                    Ok(calls)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 3);

        let mut calls = 0;
        let r: Result<(), DbError> = p
            .run("z", &mut |_| {}, async || {
                calls += 1;
                Err(err("1062", "Duplicate entry"))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls, 1, "a non-transient error is not retried");
    }
}
