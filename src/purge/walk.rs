//! The batched walk of one step: each batch starts after the previous batch's last key (no
//! OFFSET, no rescan), is one short transaction, and is sized by time ([`Sizer`]). The statement
//! per backend ([`Form`]) is benches/PURGE-DESIGN.md §4.2's; a failed batch is retried with
//! backoff when the server says to (deadlock, lock wait, busy) and shrunk when it was too large
//! for a Galera write set.

use std::time::{Duration, Instant};

use crate::exec::connection::{Conn, DbError, DbErrorKind, Value};
use crate::exec::retry::{self, RetryPolicy};
use crate::observe::Observer;
use crate::schema::model::Dialect;

use super::graph::Step;
use super::report::{Event, StepReport};
use super::sizer::{Sizer, galera_cap};
use super::sql::{Key, Span, Sql};

/// Retries of one batch after deadlocks, lock-wait timeouts or a busy database.
const MAX_RETRIES: u32 = 8;
/// First back-off; doubles per retry up to [`MAX_WAIT`], with ±50 % jitter so two purges that
/// collided do not collide again.
const FIRST_WAIT: Duration = Duration::from_millis(50);
const MAX_WAIT: Duration = Duration::from_secs(5);

/// How a backend runs one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// PostgreSQL: `WITH c AS (SELECT ctid, pk … LIMIT n), d AS (DELETE … ctid = ANY(ARRAY(…)))`.
    Postgres,
    /// MariaDB: `DELETE … ORDER BY pk LIMIT n RETURNING pk`.
    MariaDb,
    /// SQLite: batch-end SELECT and range DELETE inside one `BEGIN IMMEDIATE … COMMIT`.
    SqliteTx,
    /// MySQL without RETURNING, or a self-referencing MariaDB table: the batch-end SELECT, then
    /// the DELETE joined on the batch, each in autocommit.
    Pair,
}

impl Form {
    pub fn of(dialect: Dialect, mariadb: bool, step: &Step) -> Form {
        match dialect {
            Dialect::Postgres => Form::Postgres,
            Dialect::Sqlite => Form::SqliteTx,
            Dialect::Mysql if mariadb && !step.self_referencing => Form::MariaDb,
            Dialect::Mysql => Form::Pair,
        }
    }
}

/// The server's error number (MySQL/MariaDB) or code (SQLSTATE, SQLite's result code).
fn error_code(e: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(d) = e else {
        return None;
    };
    if let Some(m) = d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return Some(m.number().to_string());
    }
    d.code().map(|c| c.to_string())
}

/// Deadlock, serialization failure, lock-wait timeout ([`retry::is_transient`]), PostgreSQL's
/// `lock_timeout` (55P03: a row the batch must delete is held by another transaction; see
/// [`PG_LOCK_TIMEOUT`]) or SQLite busy / locked: the batch was rolled back and is worth running
/// again.
fn retryable(code: &str) -> bool {
    retry::is_transient(code) || matches!(code, "55P03" | "5" | "6" | "517")
}

/// How long a PostgreSQL purge batch waits for a row another transaction holds before it gives
/// up and is retried: InnoDB's default `innodb_lock_wait_timeout`, so both servers bound a
/// stuck batch alike (the server default, 0, would wait forever).
pub const PG_LOCK_TIMEOUT: &str = "SET lock_timeout = '50s'";

/// Galera refused the write set as too large ([`retry::is_write_set_limit`]).
fn write_set_too_large(e: &sqlx::Error, code: &str) -> bool {
    match e {
        sqlx::Error::Database(d) => retry::is_write_set_limit(code, d.message()),
        _ => false,
    }
}

/// Sets up a connection for purge batches: on PostgreSQL a bounded wait for held rows
/// ([`PG_LOCK_TIMEOUT`]).
pub async fn prepare_session(conn: &mut Conn) -> Result<(), DbError> {
    if conn.dialect() == Dialect::Postgres {
        conn.execute(PG_LOCK_TIMEOUT)
            .await
            .map_err(|e| DbError::statement("setting the purge's lock_timeout", e))?;
    }
    Ok(())
}

/// Backoff before retry `attempt` (1-based): the executor's exponential, capped, jittered
/// pause ([`RetryPolicy::delay`]).
pub fn backoff(attempt: u32) -> Duration {
    RetryPolicy {
        max_retries: MAX_RETRIES,
        base: FIRST_WAIT,
        cap: MAX_WAIT,
        ..RetryPolicy::default()
    }
    .delay(attempt)
}

/// Galera's write-set limits, read once per run on MySQL/MariaDB: `(max_ws_rows, max_ws_size)`,
/// `None` when neither is set below its default. Applied even while `wsrep_on` is OFF (a node
/// that joins a cluster later, or a standalone server with the limits set): never exceeding
/// them costs nothing there.
pub async fn write_set_limits(conn: &mut Conn) -> Result<Option<(u64, u64)>, DbError> {
    let rows = conn
        .query(
            "SHOW VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_max_ws_rows', 'wsrep_max_ws_size')",
        )
        .await
        .map_err(|e| DbError::statement("reading the Galera write-set limits", e))?;
    let get = |name: &str| {
        rows.iter()
            .find(|r| r.first().and_then(Value::text).as_deref() == Some(name))
            .and_then(|r| r.get(1))
            .and_then(Value::as_i64)
            .map(|v| v.max(0) as u64)
    };
    let ws_rows = get("wsrep_max_ws_rows").unwrap_or(0);
    // 2 GiB − 1 is the default and the maximum: no limit worth sizing by.
    let ws_size = get("wsrep_max_ws_size")
        .filter(|&s| s < 2_147_483_647)
        .unwrap_or(0);
    Ok((ws_rows > 0 || ws_size > 0).then_some((ws_rows, ws_size)))
}

/// The step's cap under the write-set limits, from the table's average row length.
pub async fn galera_step_cap(
    conn: &mut Conn,
    table: &str,
    limits: (u64, u64),
) -> Result<Option<u64>, DbError> {
    let sql = format!(
        "SELECT AVG_ROW_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
        crate::sql::literal(Dialect::Mysql, table)
    );
    let bytes = conn
        .query_i64(&sql)
        .await
        .map_err(|e| DbError::statement(&format!("reading the row length of table {table}"), e))?
        .unwrap_or(0)
        .max(0) as u64;
    Ok(galera_cap(limits.0, limits.1, bytes))
}

/// What a batch takes: the next rows of the walk, or the first of a window's keys.
#[derive(Clone, Copy)]
enum Target<'k> {
    Range {
        window: Option<&'k Key>,
        after: Option<&'k Key>,
    },
    Keys(&'k [Key]),
}

/// What one batch did.
struct Batch {
    /// Rows deleted.
    deleted: u64,
    /// Candidates the batch covered (deleted + kept by the guard; PostgreSQL/MariaDB count
    /// deletable rows only).
    covered: u64,
    /// The batch's last key; `None`: nothing after the previous key, the pass is done.
    last: Option<Key>,
}

/// The keys one walk covers: the whole table (the default), or one part of a step split
/// across connections (an owned [`Span`]).
#[derive(Debug, Clone, Default)]
pub struct Part {
    pub after: Option<Key>,
    pub until: Option<Key>,
}

impl Part {
    /// The span of a batch that starts after `cursor` (the part's own start when `None`).
    fn span<'k>(&'k self, cursor: Option<&'k Key>) -> Span<'k> {
        Span {
            after: cursor.or(self.after.as_ref()),
            until: self.until.as_ref(),
        }
    }
}

pub struct Walker<'a, 'c> {
    pub conn: &'c mut Conn,
    pub sql: &'a Sql<'a>,
    pub form: Form,
    pub part: Part,
}

impl Walker<'_, '_> {
    fn key(&self, row: &[Value], numeric: &[bool]) -> Key {
        row.iter()
            .zip(numeric)
            .map(|(v, n)| super::sql::sql_value(self.sql.dialect, v, *n))
            .collect()
    }

    async fn batch(
        &mut self,
        step: &Step,
        target: Target<'_>,
        n: u64,
    ) -> Result<Batch, sqlx::Error> {
        // The part's bounds by value: `pair` below borrows the walker mutably.
        let part = self.part.clone();
        let (window, span) = match target {
            Target::Range { window, after } => (window, part.span(after)),
            Target::Keys(keys) => {
                let keys = &keys[..keys.len().min(n as usize)];
                let deleted = self.conn.execute(&self.sql.delete_keys(step, keys)).await?;
                return Ok(Batch {
                    deleted,
                    covered: keys.len() as u64,
                    last: Some(Vec::new()),
                });
            }
        };
        match self.form {
            Form::Postgres => {
                let rows = self
                    .conn
                    .query(&self.sql.pg_batch(step, window, span, n))
                    .await?;
                Ok(match rows.first() {
                    None => Batch {
                        deleted: 0,
                        covered: 0,
                        last: None,
                    },
                    Some(r) => Batch {
                        deleted: r[0].as_i64().unwrap_or(0).max(0) as u64,
                        covered: r[1].as_i64().unwrap_or(0).max(0) as u64,
                        last: Some(self.key(&r[2..], &step.pk_numeric)),
                    },
                })
            }
            Form::MariaDb => {
                let sql = self
                    .sql
                    .mariadb_batch(step, window, span, n)
                    .unwrap_or_default();
                // RETURNING lists the rows in the DELETE's ORDER BY: the last is the largest
                // key in the server's own collation. Streamed: only that one is kept.
                let (deleted, last) = self.conn.query_count_last(&sql).await?;
                let last = last.map(|r| self.key(&r, &step.pk_numeric));
                Ok(Batch {
                    deleted,
                    covered: deleted,
                    last,
                })
            }
            Form::SqliteTx => {
                self.conn.execute("BEGIN IMMEDIATE").await?;
                let r = self.pair(step, window, span, n).await;
                let end = match r {
                    Ok(b) => self.conn.execute("COMMIT").await.map(|_| b),
                    Err(e) => Err(e),
                };
                if end.is_err() {
                    let _ = self.conn.execute("ROLLBACK").await;
                }
                end
            }
            Form::Pair => self.pair(step, window, span, n).await,
        }
    }

    /// The batch-end SELECT, then the range DELETE.
    async fn pair(
        &mut self,
        step: &Step,
        window: Option<&Key>,
        span: Span<'_>,
        n: u64,
    ) -> Result<Batch, sqlx::Error> {
        let rows = self
            .conn
            .query(&self.sql.batch_end(step, window, span, n))
            .await?;
        let Some(row) = rows.first() else {
            return Ok(Batch {
                deleted: 0,
                covered: 0,
                last: None,
            });
        };
        let upto = self.key(row, &step.pk_numeric);
        let deleted = self
            .conn
            .execute(&self.sql.delete(step, window, span.after, &upto, n))
            .await?;
        Ok(Batch {
            deleted,
            covered: n,
            last: Some(upto),
        })
    }

    /// Walks the step's table (again, for a self-referencing one, until a pass deletes nothing),
    /// starting with `unguarded` (the step without its live-enforced guards, see
    /// [`super::step::unguarded`]) when given. Returns the step whose guards the walk ended
    /// with.
    pub async fn walk<'s>(
        &mut self,
        step: &'s Step,
        unguarded: Option<&'s Step>,
        window: Option<&Key>,
        sizer: &mut Sizer,
        sr: &mut StepReport,
        obs: &mut dyn Observer<Event>,
    ) -> Result<&'s Step, DbError> {
        let table = step.table.as_str();
        let mut current = unguarded.unwrap_or(step);
        loop {
            let mut after: Option<Key> = None;
            let mut pass_deleted = 0u64;
            loop {
                let n = sizer.next();
                let started = Instant::now();
                let target = Target::Range {
                    window,
                    after: after.as_ref(),
                };
                let b = match self
                    .batch_with_retries(current, target, n, sizer, sr, obs)
                    .await
                {
                    Err(e) if e.kind == DbErrorKind::ForeignKey && !std::ptr::eq(current, step) => {
                        // A row the guards left out is still referenced: the batch was rolled
                        // back whole; run it again, and the rest of the step, guarded.
                        current = step;
                        sr.guard_fallbacks += 1;
                        continue;
                    }
                    r => r?,
                };
                let secs = started.elapsed().as_secs_f64();
                let asked = b.1;
                let b = b.0;
                let Some(last) = b.last else { break };
                sr.batches += 1;
                sizer.record(asked, b.covered, secs);
                pass_deleted += b.deleted;
                sr.deleted += b.deleted;
                if b.deleted > 0 {
                    obs.on(&Event::Deleted {
                        table: table.to_string(),
                        rows: b.deleted,
                    });
                }
                after = Some(last);
                // A one-statement batch that found fewer candidates than it asked for had no
                // more rows to take: the pass is done.
                if matches!(self.form, Form::Postgres | Form::MariaDb) && b.covered < asked {
                    break;
                }
            }
            if !step.self_referencing || pass_deleted == 0 {
                break;
            }
        }
        sr.largest_batch = sizer.largest;
        sr.slowest_batch_seconds = sizer.slowest;
        Ok(current)
    }

    /// Deletes the rows of a capped step's window by their keys, in batches of the controller's
    /// size.
    pub async fn delete_keys(
        &mut self,
        step: &Step,
        keys: &[Key],
        sizer: &mut Sizer,
        sr: &mut StepReport,
        obs: &mut dyn Observer<Event>,
    ) -> Result<(), DbError> {
        let mut done = 0;
        while done < keys.len() {
            let started = Instant::now();
            let target = Target::Keys(&keys[done..]);
            let (b, asked) = self
                .batch_with_retries(step, target, sizer.next(), sizer, sr, obs)
                .await?;
            sizer.record(asked, b.covered, started.elapsed().as_secs_f64());
            done += b.covered as usize;
            sr.batches += 1;
            sr.deleted += b.deleted;
            if b.deleted > 0 {
                obs.on(&Event::Deleted {
                    table: step.table.clone(),
                    rows: b.deleted,
                });
            }
        }
        sr.largest_batch = sizer.largest;
        sr.slowest_batch_seconds = sizer.slowest;
        Ok(())
    }

    /// One batch, retried after transient errors; returns it with the size it finally asked.
    #[allow(clippy::too_many_arguments)]
    async fn batch_with_retries(
        &mut self,
        step: &Step,
        target: Target<'_>,
        mut n: u64,
        sizer: &mut Sizer,
        sr: &mut StepReport,
        obs: &mut dyn Observer<Event>,
    ) -> Result<(Batch, u64), DbError> {
        let table = step.table.as_str();
        let mut attempt = 0u32;
        loop {
            let e = match self.batch(step, target, n).await {
                Ok(b) => return Ok((b, n)),
                Err(e) => e,
            };
            let code = error_code(&e).unwrap_or_default();
            if write_set_too_large(&e, &code) && n > 1 {
                sizer.halve(n);
                n = sizer.next();
                sr.batch_cap = Some(sizer.cap());
                obs.on(&Event::BatchShrunk {
                    table: table.to_string(),
                    code,
                    rows: n,
                });
                continue;
            }
            if retryable(&code) && attempt < MAX_RETRIES {
                attempt += 1;
                sr.retries += 1;
                let wait = backoff(attempt);
                obs.on(&Event::Retried {
                    table: table.to_string(),
                    code,
                    attempt,
                    wait_ms: wait.as_millis() as u64,
                });
                tokio::time::sleep(wait).await;
                continue;
            }
            return Err(DbError::statement(
                &format!("deleting from table {table}"),
                e,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        for attempt in 1..=10u32 {
            let base = FIRST_WAIT.saturating_mul(1 << (attempt - 1)).min(MAX_WAIT);
            let w = backoff(attempt);
            assert!(w >= base / 2 && w <= base.mul_f64(1.5), "{attempt}: {w:?}");
        }
        assert!(backoff(40) <= MAX_WAIT.mul_f64(1.5));
    }

    #[test]
    fn which_errors_are_retried() {
        for c in ["1213", "1205", "40001", "40P01", "55P03", "5", "517"] {
            assert!(retryable(c), "{c}");
        }
        for c in ["1180", "1105", "23000", "", "1062"] {
            assert!(!retryable(c), "{c}");
        }
    }
}
