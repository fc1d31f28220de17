//! The hazard table checked against the servers themselves, so it is measured, not assumed.
//!
//! PostgreSQL: for each step kind, a second connection holds an open transaction that has read
//! (or written) the locked table, and the step runs with a short `lock_timeout` inside a
//! transaction that is rolled back: it must block on the reader exactly when the table says
//! `exclusive`, and on the writer exactly when it says `shared` or `exclusive`.
//!
//! MariaDB: every `ALTER TABLE` waits for open transactions (metadata lock), so a held
//! transaction cannot tell the levels apart; the server's own verdict can. Each statement runs
//! with the claimed `ALGORITHM=… LOCK=…` appended (the server must accept it), and with the next
//! stricter algorithm or lock (the server must refuse). Steps with no algorithm (CREATE/DROP
//! TABLE, triggers) are checked with a held writer and `lock_wait_timeout`.

mod common;

use common::TestDb;
use common::ops::{self, kind};
use glance_manage::exec::Conn;
use glance_manage::plan::hazard::{Algorithm, Lock, hazard};
use glance_manage::plan::{Op, render_op};
use glance_manage::schema::model::Dialect;

/// The step kinds each server is checked on (PostgreSQL plans no table options or rebuilds;
/// MariaDB has no enum types).
fn pg_ops() -> Vec<Op> {
    let mut v = common_ops();
    v.extend([ops::create_enum(), ops::add_enum_values(), ops::drop_enum()]);
    v.push(ops::create_trigger_for(Dialect::Postgres));
    v
}

fn maria_ops() -> Vec<Op> {
    let mut v = common_ops();
    v.push(ops::table_options());
    v.push(ops::create_trigger_for(Dialect::Mysql));
    v
}

fn common_ops() -> Vec<Op> {
    vec![
        ops::create_table_plain(),
        ops::create_table_with_fk(),
        ops::drop_table(),
        ops::rename_table(),
        ops::add_column_nullable(),
        ops::add_column_not_null_no_default(),
        ops::drop_column(),
        ops::rename_column(),
        ops::alter_default(),
        ops::alter_set_not_null(),
        ops::alter_widen(),
        ops::alter_int_to_bigint(),
        ops::set_primary_key(),
        ops::add_index(),
        ops::add_unique_index(),
        ops::drop_index(),
        ops::add_unique(),
        ops::drop_unique(),
        ops::add_check(),
        ops::drop_check(),
        ops::add_foreign_key(),
        ops::drop_foreign_key(),
        ops::drop_trigger(),
    ]
}

const PG_SETUP: &str = r#"
CREATE TYPE hz_mood AS ENUM ('ok', 'sad');
CREATE TABLE hz_parent (id integer PRIMARY KEY, name varchar(36), n integer NOT NULL DEFAULT 0,
  CONSTRAINT hz_parent_n_uq UNIQUE (n), CONSTRAINT hz_parent_n_pos CHECK (n >= 0));
CREATE INDEX hz_parent_n_idx ON hz_parent (n);
CREATE TABLE hz_child (id integer PRIMARY KEY, parent_id integer, note varchar(10),
  CONSTRAINT hz_child_old_fk FOREIGN KEY (parent_id) REFERENCES hz_parent (id));
CREATE FUNCTION hz_parent_old_trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER hz_parent_old_trg BEFORE UPDATE ON hz_parent FOR EACH ROW EXECUTE FUNCTION hz_parent_old_trg();
INSERT INTO hz_parent VALUES (1, 'a', 1), (2, 'b', 2);
INSERT INTO hz_child VALUES (1, 1, 'x'), (2, 2, 'y');
"#;

/// An open transaction's hold on `table`: a read, or a write that changes nothing.
fn hold(table: &str, write: bool) -> String {
    if write {
        format!("UPDATE {table} SET id = id WHERE id < 0")
    } else {
        format!("SELECT COUNT(*) FROM {table}")
    }
}

fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.to_string())
}

/// Whether `statements` wait on a transaction holding `table` (read or write) on PostgreSQL.
/// The statements run in a transaction that is rolled back: the schema stays as set up.
async fn pg_blocks(
    holder: &mut Conn,
    runner: &mut Conn,
    table: &str,
    write: bool,
    statements: &[String],
) -> bool {
    holder.execute("BEGIN").await.unwrap();
    holder.execute(&hold(table, write)).await.unwrap();
    runner.execute("BEGIN").await.unwrap();
    runner
        .execute("SET LOCAL lock_timeout = '300ms'")
        .await
        .unwrap();
    let mut blocked = false;
    for st in statements {
        match runner.execute(st).await {
            Ok(_) => {}
            // lock_not_available: the statement waited for the holder.
            Err(e) if sqlstate(&e).as_deref() == Some("55P03") => {
                blocked = true;
                break;
            }
            Err(e) => panic!("statement failed for another reason: {e}\n{st}"),
        }
    }
    runner.execute("ROLLBACK").await.unwrap();
    holder.execute("ROLLBACK").await.unwrap();
    blocked
}

#[tokio::test]
async fn postgres_locks_match_the_table() {
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    db.exec(PG_SETUP).await;
    let mut holder = db.conn().await;
    let mut runner = db.conn().await;
    let mut wrong = Vec::new();
    let mut probes = 0;
    for op in pg_ops() {
        let h = hazard(Dialect::Postgres, &op);
        let statements = render_op(Dialect::Postgres, &op);
        // A step that locks no existing table must not wait on either of them.
        let tables = if h.locked.is_empty() {
            vec!["hz_parent".to_string(), "hz_child".to_string()]
        } else {
            h.locked.clone()
        };
        for t in &tables {
            let on_reader = pg_blocks(&mut holder, &mut runner, t, false, &statements).await;
            let on_writer = pg_blocks(&mut holder, &mut runner, t, true, &statements).await;
            probes += 2;
            let want_reader = h.lock == Lock::Exclusive;
            let want_writer = h.lock >= Lock::Shared;
            if on_reader != want_reader || on_writer != want_writer {
                wrong.push(format!(
                    "{} on {t}: claimed {} ({}), measured: blocks reader {on_reader}, writer {on_writer}",
                    kind(&op),
                    h.lock,
                    h.lock_name
                ));
            }
        }
    }
    holder.close().await;
    runner.close().await;
    assert!(probes >= 2 * pg_ops().len());
    assert!(
        wrong.is_empty(),
        "PostgreSQL disagrees with the hazard table:\n{}",
        wrong.join("\n")
    );
}

const MARIA_SETUP: &str = "
DROP TABLE IF EXISTS hz_new, hz_lone, hz_kid, hz_child, hz_parent;
CREATE TABLE hz_parent (id INT PRIMARY KEY, name VARCHAR(36) NULL, n INT NOT NULL DEFAULT 0,
  UNIQUE KEY hz_parent_n_uq (n), KEY hz_parent_n_idx (n), CONSTRAINT hz_parent_n_pos CHECK (n >= 0))
  ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE hz_child (id INT PRIMARY KEY, parent_id INT NULL, note VARCHAR(10) NULL,
  CONSTRAINT hz_child_old_fk FOREIGN KEY (parent_id) REFERENCES hz_parent (id))
  ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TRIGGER hz_parent_old_trg BEFORE UPDATE ON hz_parent FOR EACH ROW SET NEW.n = NEW.n;
INSERT INTO hz_parent VALUES (1, 'a', 1), (2, 'b', 2);
INSERT INTO hz_child VALUES (1, 1, 'x'), (2, 2, 'y');
";

/// `statement` with an ALGORITHM and LOCK clause.
fn with_clause(statement: &str, alg: &str, lock: &str) -> String {
    // MariaDB's DROP INDEX takes no clauses: its ALTER TABLE form does.
    if let Some(rest) = statement.strip_prefix("DROP INDEX ") {
        let (index, table) = rest.split_once(" ON ").expect("DROP INDEX i ON t");
        return format!("ALTER TABLE {table} DROP INDEX {index}, ALGORITHM={alg}, LOCK={lock}");
    }
    if statement.starts_with("ALTER TABLE") {
        format!("{statement}, ALGORITHM={alg}, LOCK={lock}")
    } else {
        // CREATE INDEX / DROP INDEX take the clauses without commas.
        format!("{statement} ALGORITHM={alg} LOCK={lock}")
    }
}

fn stricter_algorithm(a: Algorithm) -> Option<Algorithm> {
    match a {
        Algorithm::Instant => None,
        Algorithm::Nocopy => Some(Algorithm::Instant),
        Algorithm::Inplace => Some(Algorithm::Nocopy),
        Algorithm::Copy => Some(Algorithm::Inplace),
    }
}

fn lock_clause(l: Lock) -> &'static str {
    match l {
        Lock::None => "NONE",
        Lock::Shared => "SHARED",
        Lock::Exclusive => "EXCLUSIVE",
    }
}

fn weaker_lock(l: Lock) -> Option<Lock> {
    match l {
        Lock::None => None,
        Lock::Shared => Some(Lock::None),
        Lock::Exclusive => Some(Lock::Shared),
    }
}

/// MariaDB's "not supported" errors for an ALGORITHM or LOCK it cannot do.
fn refused(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .is_some_and(|m| matches!(m.number(), 1845 | 1846))
}

#[tokio::test]
async fn mariadb_algorithms_and_locks_match_the_table() {
    let Some(db) = TestDb::create(Dialect::Mysql).await else {
        return;
    };
    let mut conn = db.conn().await;
    let mut holder = db.conn().await;
    let mut wrong = Vec::new();
    let mut checked = 0;
    for op in maria_ops() {
        let h = hazard(Dialect::Mysql, &op);
        let statements = render_op(Dialect::Mysql, &op);
        let name = kind(&op);
        match h.algorithm {
            Some(alg) => {
                for st in &statements {
                    // The claim: accepted.
                    conn.execute(MARIA_SETUP).await.expect("set-up");
                    let claimed = with_clause(st, alg.as_str(), lock_clause(h.lock));
                    if let Err(e) = conn.execute(&claimed).await {
                        wrong.push(format!(
                            "{name}: server refused the claimed form: {e}\n  {claimed}"
                        ));
                    }
                    // Anything stricter: refused.
                    if let Some(s) = stricter_algorithm(alg) {
                        conn.execute(MARIA_SETUP).await.expect("set-up");
                        let sql = with_clause(st, s.as_str(), lock_clause(h.lock));
                        match conn.execute(&sql).await {
                            Err(e) if refused(&e) => {}
                            other => wrong.push(format!(
                                "{name}: ALGORITHM={} was not refused ({other:?}); the table says {}",
                                s.as_str(),
                                alg.as_str()
                            )),
                        }
                    }
                    if let Some(l) = weaker_lock(h.lock) {
                        conn.execute(MARIA_SETUP).await.expect("set-up");
                        let sql = with_clause(st, alg.as_str(), lock_clause(l));
                        match conn.execute(&sql).await {
                            Err(e) if refused(&e) => {}
                            other => wrong.push(format!(
                                "{name}: LOCK={} was not refused ({other:?}); the table says {}",
                                lock_clause(l),
                                h.lock_name
                            )),
                        }
                    }
                    checked += 1;
                }
            }
            None => {
                // No ALGORITHM clause: a transaction holding a write on the table decides.
                conn.execute(MARIA_SETUP).await.expect("set-up");
                let table = h
                    .locked
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "hz_parent".into());
                holder.execute("START TRANSACTION").await.unwrap();
                holder.execute(&hold(&table, true)).await.unwrap();
                conn.execute("SET SESSION lock_wait_timeout = 1")
                    .await
                    .unwrap();
                let mut blocked = false;
                for st in &statements {
                    match conn.execute(st).await {
                        Ok(_) => {}
                        Err(e)
                            if e.as_database_error()
                                .and_then(|d| {
                                    d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                                })
                                .is_some_and(|m| m.number() == 1205) =>
                        {
                            blocked = true;
                            break;
                        }
                        Err(e) => panic!("{name}: {e}\n{st}"),
                    }
                }
                holder.execute("ROLLBACK").await.unwrap();
                conn.execute("SET SESSION lock_wait_timeout = DEFAULT")
                    .await
                    .unwrap();
                if blocked != (h.lock != Lock::None) {
                    wrong.push(format!(
                        "{name} on {table}: claimed {} ({}), measured: blocks a writer {blocked}",
                        h.lock, h.lock_name
                    ));
                }
                checked += 1;
            }
        }
    }
    conn.close().await;
    holder.close().await;
    assert!(checked >= maria_ops().len());
    assert!(
        wrong.is_empty(),
        "MariaDB disagrees with the hazard table:\n{}",
        wrong.join("\n")
    );
}
