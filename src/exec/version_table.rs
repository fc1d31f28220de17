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
pub fn is_bookkeeping(table: &str) -> bool {
    table == ALEMBIC_VERSION || table == MIGRATE_VERSION
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

/// Replaces the rows `old` with `new` (creating the table if needed). On MySQL, where DDL
/// commits implicitly, the row changes are still one transaction of their own.
pub async fn write(
    conn: &mut Conn,
    url: &DbUrl,
    old: &[String],
    new: &[String],
) -> Result<(), DbError> {
    let d = conn.dialect();
    let t = quote(d, ALEMBIC_VERSION);
    let p = conn.placeholder(1);
    let failed = |sql: &str| format!("statement failed: {sql}");
    let run = async |conn: &mut Conn, sql: &str, value: Option<&str>| -> Result<(), DbError> {
        let result = match value {
            Some(v) => conn.execute_with(sql, &[Param::Text(v)]).await,
            // Statements without a value run as plain text (MySQL cannot prepare every one).
            None => conn.execute(sql).await,
        };
        result
            .map(|_| ())
            .map_err(|e| stmt_error(e, url, &failed(sql)))
    };
    let mysql = d == Dialect::Mysql;
    if mysql {
        run(conn, "START TRANSACTION", None).await?;
    }
    run(
        conn,
        &format!(
            "CREATE TABLE IF NOT EXISTS {t} (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        ),
        None,
    )
    .await?;
    for h in old.iter().filter(|h| !new.contains(h)) {
        run(
            conn,
            &format!("DELETE FROM {t} WHERE version_num = {p}"),
            Some(h),
        )
        .await?;
    }
    for h in new.iter().filter(|h| !old.contains(h)) {
        run(
            conn,
            &format!("INSERT INTO {t} (version_num) VALUES ({p})"),
            Some(h),
        )
        .await?;
    }
    if mysql {
        run(conn, "COMMIT", None).await?;
    }
    Ok(())
}
