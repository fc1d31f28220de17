//! Glance's version tables, and the only code that reads or writes them: Alembic's
//! `alembic_version` (one row per applied head) and the pre-Ocata sqlalchemy-migrate
//! `migrate_version` (read only, to adopt a legacy database). Table names are quoted and
//! version strings are bound as parameters, never spliced into SQL.

use super::connection::{Conn, DbError, Param, stmt_error};
use crate::config::DbUrl;
use crate::schema::model::Dialect;
use crate::sql::quote;

/// Glance's version table (Alembic's).
pub const ALEMBIC_VERSION: &str = "alembic_version";
/// The pre-Ocata sqlalchemy-migrate version table.
pub const MIGRATE_VERSION: &str = "migrate_version";

/// Tables the engine keeps for itself: never part of a schema comparison.
/// The Galera lease table ([`super::lease`]) is one of them: the tool's own, never drift,
/// never dropped, never purged.
pub fn is_bookkeeping(table: &str) -> bool {
    table == ALEMBIC_VERSION || table == MIGRATE_VERSION || table == super::lease::LOCK_TABLE
}

/// Whether `table` exists in the current database/schema (one catalog query).
pub async fn exists(conn: &mut Conn, table: &str) -> Result<bool, DbError> {
    let p = conn.placeholder(1);
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            format!("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = {p}")
        }
        Dialect::Postgres => format!(
            "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = {p}"
        ),
        Dialect::Mysql => format!(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {p}"
        ),
    };
    let rows = conn
        .query_with(&sql, &[Param::Text(table)])
        .await
        .map_err(|e| DbError::statement("cannot read the catalog", e))?;
    let n = rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_i64());
    Ok(n.unwrap_or(0) > 0)
}

/// The rows of `alembic_version` (the caller knows the table exists).
pub async fn rows(conn: &mut Conn) -> Result<Vec<String>, DbError> {
    let sql = format!(
        "SELECT version_num FROM {}",
        quote(conn.dialect(), ALEMBIC_VERSION)
    );
    let rows = conn
        .query(&sql)
        .await
        .map_err(|e| DbError::statement("cannot read the version table", e))?;
    Ok(rows
        .iter()
        .filter_map(|r| r.first().and_then(|v| v.text()))
        .collect())
}

/// The rows of `alembic_version`, or None when the table does not exist. Cheap: no
/// introspection.
pub async fn read(conn: &mut Conn) -> Result<Option<Vec<String>>, DbError> {
    if !exists(conn, ALEMBIC_VERSION).await? {
        return Ok(None);
    }
    rows(conn).await.map(Some)
}

/// The version in the legacy `migrate_version` table; None for Glance's empty placeholder
/// (version 0, created by old tooling on fresh databases).
pub async fn legacy_version(conn: &mut Conn) -> Result<Option<i64>, DbError> {
    let sql = format!(
        "SELECT MAX(version) FROM {}",
        quote(conn.dialect(), MIGRATE_VERSION)
    );
    let v = conn
        .query_i64(&sql)
        .await
        .map_err(|e| DbError::statement("cannot read the legacy migrate_version table", e))?;
    Ok(v.filter(|v| *v > 0))
}

/// Replaces the rows `old` with `new` (creating the table if needed) so that no other
/// session ever sees the table without a row in between:
///
/// - the table is created first, outside any transaction (on MySQL `CREATE TABLE` commits
///   implicitly: created inside, it would end the transaction before the row changes);
/// - one head replacing another is a single compare-and-swap `UPDATE … WHERE version_num =
///   old` (atomic on its own, and it fails loudly if the row is not what this run read);
/// - anything else (several heads) is DELETE + INSERT inside one transaction: the session's
///   (`in_tx`: a PostgreSQL phase or the SQLite run) or one opened here.
pub async fn write(
    conn: &mut Conn,
    url: &DbUrl,
    old: &[String],
    new: &[String],
    in_tx: bool,
) -> Result<(), DbError> {
    let d = conn.dialect();
    let t = quote(d, ALEMBIC_VERSION);
    let p = |n| conn.placeholder(n);
    let (p1, p2) = (p(1), p(2));
    let failed = |sql: &str| format!("statement failed: {sql}");
    let run = async |conn: &mut Conn, sql: &str, values: &[&str]| -> Result<u64, DbError> {
        let params: Vec<Param> = values.iter().map(|v| Param::Text(v)).collect();
        let result = if params.is_empty() {
            // Statements without a value run as plain text (MySQL cannot prepare every one).
            conn.execute(sql).await
        } else {
            conn.execute_with(sql, &params).await
        };
        result.map_err(|e| stmt_error(e, url, &failed(sql)))
    };
    run(
        conn,
        &format!(
            "CREATE TABLE IF NOT EXISTS {t} (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        ),
        &[],
    )
    .await?;
    let removed: Vec<&String> = old.iter().filter(|h| !new.contains(h)).collect();
    let added: Vec<&String> = new.iter().filter(|h| !old.contains(h)).collect();
    let changed = |h: &str| {
        DbError {
        message: format!(
            "the version row {h} changed while this run held the migration lock; nothing was recorded"
        ),
        help: Some("another tool wrote the version table: check `glance-manage db version` and run the command again".into()),
        code: None,
        kind: super::connection::DbErrorKind::Statement,
    }
    };
    if let ([from], [to]) = (removed.as_slice(), added.as_slice()) {
        let sql = format!("UPDATE {t} SET version_num = {p1} WHERE version_num = {p2}");
        if run(conn, &sql, &[to, from]).await? != 1 {
            return Err(changed(from));
        }
        return Ok(());
    }
    if removed.is_empty() && added.is_empty() {
        return Ok(());
    }
    let own_tx = !in_tx;
    if own_tx {
        let begin = if d == Dialect::Mysql {
            "START TRANSACTION"
        } else {
            "BEGIN"
        };
        run(conn, begin, &[]).await?;
    }
    let body = async |conn: &mut Conn| -> Result<(), DbError> {
        for h in &removed {
            let sql = format!("DELETE FROM {t} WHERE version_num = {p1}");
            if run(conn, &sql, &[h]).await? != 1 {
                return Err(changed(h));
            }
        }
        for h in &added {
            run(
                conn,
                &format!("INSERT INTO {t} (version_num) VALUES ({p1})"),
                &[h],
            )
            .await?;
        }
        Ok(())
    };
    match body(conn).await {
        Ok(()) if own_tx => run(conn, "COMMIT", &[]).await.map(|_| ()),
        Ok(()) => Ok(()),
        Err(e) => {
            if own_tx {
                let _ = conn.execute("ROLLBACK").await;
            }
            Err(e)
        }
    }
}
