//! One dedicated database connection per run, over sqlx, for all three backends.
//!
//! Why one connection and not a pool: advisory locks, SQLite PRAGMAs and SQLite schema
//! freshness are per connection (`../shared/crates.md` §5), and a migration must see its own
//! uncommitted DDL.

use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::types::chrono::{NaiveDate, NaiveDateTime};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};

use super::galera::{self, Galera};
use crate::config::{DatabaseOptions, DbUrl, sqlite_path};
use crate::schema::model::Dialect;

/// A database error, already stripped of anything secret.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
pub struct DbError {
    pub message: String,
    #[help]
    pub help: Option<String>,
    /// The SQLSTATE / driver code, when the server gave one.
    pub code: Option<String>,
    pub kind: DbErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// Could not connect or authenticate.
    Connect,
    /// A statement failed.
    Statement,
    /// A foreign key would be violated.
    ForeignKey,
    /// The database is read-only or locked.
    Busy,
}

impl DbError {
    fn from_sqlx(e: sqlx::Error, url: &DbUrl, context: &str) -> DbError {
        let mut err = DbError::statement(context, e);
        err.message = redact(&err.message, url);
        err
    }

    /// Wraps a failed statement when no URL is at hand (catalog queries): same classification
    /// as [`stmt_error`], without password redaction, which needs the URL. Catalog errors never
    /// echo connection parameters.
    pub fn statement(context: &str, e: sqlx::Error) -> DbError {
        let (kind, code, detail) = match &e {
            sqlx::Error::Database(d) => {
                // MySQL's error number says more than its SQLSTATE (1213 and 1205 share
                // classes with unrelated errors), so it is the code kept for MySQL.
                let code = match d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                    Some(m) => Some(m.number().to_string()),
                    None => d.code().map(|c| c.to_string()),
                };
                let kind = if d.is_foreign_key_violation() {
                    DbErrorKind::ForeignKey
                } else if matches!(code.as_deref(), Some("5") | Some("8") | Some("517")) {
                    DbErrorKind::Busy
                } else {
                    DbErrorKind::Statement
                };
                (kind, code, d.message().to_string())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::Configuration(_) => (DbErrorKind::Connect, None, e.to_string()),
            _ => (DbErrorKind::Statement, None, e.to_string()),
        };
        let help = code
            .as_deref()
            .and_then(|c| super::galera::galera_help(c, &detail));
        DbError {
            message: format!("{context}: {detail}"),
            help,
            code,
            kind,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> DbError {
        self.help = Some(help.into());
        self
    }
}

/// Removes the password (raw and percent-encoded forms) from a message.
pub fn redact(message: &str, url: &DbUrl) -> String {
    match &url.password {
        Some(p) if !p.is_empty() => message.replace(p.as_str(), "***"),
        _ => message.to_string(),
    }
}

/// How a command opens the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Commands that change the schema: a missing SQLite file is created.
    Create,
    /// Commands that only read (`version`, `drift`, `plan`): nothing is created.
    Existing,
}

pub enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    /// With what the connection found out about a Galera cluster behind it.
    Mysql(MySqlConnection, Option<Box<Galera>>),
}

/// A cell of a result row, decoded without knowing the column type in advance.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::Text(s) => s.trim().parse().ok(),
            Value::Float(f) => Some(*f as i64),
            Value::Null => None,
        }
    }
    /// Text form of any non-null value.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Text(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

pub type Rows = Vec<Vec<Value>>;

/// A value bound to a statement parameter.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Text(&'a str),
    Int(i64),
}

impl Conn {
    pub async fn connect(url: &DbUrl, mode: OpenMode) -> Result<Conn, DbError> {
        Self::connect_with(url, mode, &DatabaseOptions::default()).await
    }

    /// [`Conn::connect`] with the `[database]` options that change the session
    /// (`mysql_wsrep_sync_wait`).
    pub async fn connect_with(
        url: &DbUrl,
        mode: OpenMode,
        options: &DatabaseOptions,
    ) -> Result<Conn, DbError> {
        let ctx = format!("cannot connect to {url}");
        match url.dialect {
            Dialect::Sqlite => {
                let mut opts = if url.is_memory() {
                    SqliteConnectOptions::new().in_memory(true)
                } else {
                    let path = sqlite_path(url);
                    if mode == OpenMode::Existing && !path.exists() {
                        return Err(DbError {
                            message: format!("{ctx}: the file {} does not exist", path.display()),
                            help: Some(
                                "run `glance-manage db sync` to create it, or check --database-url"
                                    .into(),
                            ),
                            code: None,
                            kind: DbErrorKind::Connect,
                        });
                    }
                    SqliteConnectOptions::new()
                        .filename(path)
                        .create_if_missing(mode == OpenMode::Create)
                };
                // Glance runs SQLite with foreign keys on (oslo.db sqlite_fk=True).
                opts = opts
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30));
                let opts = opts.disable_statement_logging();
                opts.connect()
                    .await
                    .map(Conn::Sqlite)
                    .map_err(|e| DbError::from_sqlx(e, url, &ctx))
            }
            Dialect::Postgres => {
                let mut opts = PgConnectOptions::new_without_pgpass().database(&url.database);
                if let Some(h) = url.host.as_deref().or(url.query_param("host")) {
                    opts = opts.host(h);
                } else {
                    opts = opts.host("localhost");
                }
                if let Some(p) = url.port {
                    opts = opts.port(p);
                }
                if let Some(u) = &url.username {
                    opts = opts.username(u);
                }
                if let Some(p) = &url.password {
                    opts = opts.password(p);
                }
                let opts = opts
                    .application_name("glance-manage")
                    .disable_statement_logging();
                connect_timeout(opts.connect(), url, &ctx)
                    .await
                    .map(Conn::Postgres)
            }
            Dialect::Mysql => {
                let mut opts = MySqlConnectOptions::new().database(&url.database);
                if let Some(sock) = url.query_param("unix_socket") {
                    opts = opts.socket(sock);
                } else {
                    opts = opts.host(url.host.as_deref().unwrap_or("localhost"));
                }
                if let Some(p) = url.port {
                    opts = opts.port(p);
                }
                if let Some(u) = &url.username {
                    opts = opts.username(u);
                }
                if let Some(p) = &url.password {
                    opts = opts.password(p);
                }
                // oslo.db runs MySQL sessions in strict mode (TRADITIONAL); so do we.
                let opts = opts.charset("utf8mb4").disable_statement_logging();
                let mut conn = connect_timeout(opts.connect(), url, &ctx).await?;
                sqlx::raw_sql("SET SESSION sql_mode = 'TRADITIONAL'")
                    .execute(&mut conn)
                    .await
                    .map_err(|e| DbError::from_sqlx(e, url, &ctx))?;
                let galera = galera::detect(&mut conn, options.mysql_wsrep_sync_wait)
                    .await
                    .map_err(|e| DbError::from_sqlx(e, url, &ctx))?;
                if let Some(g) = &galera
                    && !g.ready
                {
                    return Err(DbError {
                        message: format!(
                            "{ctx}: the Galera node is not ready (wsrep_ready=OFF, state {})",
                            g.node_state
                        ),
                        help: galera::galera_help("1047", ""),
                        code: Some("1047".into()),
                        kind: DbErrorKind::Connect,
                    });
                }
                Ok(Conn::Mysql(conn, galera.map(Box::new)))
            }
        }
    }

    /// The Galera cluster behind a MySQL connection, if any.
    pub fn galera(&self) -> Option<&Galera> {
        match self {
            Conn::Mysql(_, g) => g.as_deref(),
            _ => None,
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
            Conn::Mysql(..) => Dialect::Mysql,
        }
    }

    /// Runs one or more statements; returns the rows affected.
    pub async fn execute(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_string());
        Ok(match self {
            Conn::Sqlite(c) => sqlx::raw_sql(sql).execute(c).await?.rows_affected(),
            Conn::Postgres(c) => sqlx::raw_sql(sql).execute(c).await?.rows_affected(),
            Conn::Mysql(c, _) => sqlx::raw_sql(sql).execute(c).await?.rows_affected(),
        })
    }

    /// Runs a query and decodes every cell.
    pub async fn query(&mut self, sql: &str) -> Result<Rows, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_string());
        Ok(match self {
            Conn::Sqlite(c) => sqlx::query(sql)
                .fetch_all(c)
                .await?
                .iter()
                .map(decode_sqlite)
                .collect(),
            Conn::Postgres(c) => sqlx::query(sql)
                .fetch_all(c)
                .await?
                .iter()
                .map(decode_pg)
                .collect(),
            Conn::Mysql(c, _) => sqlx::query(sql)
                .fetch_all(c)
                .await?
                .iter()
                .map(decode_mysql)
                .collect(),
        })
    }

    /// Runs a query and streams its rows, keeping only the count and the last row (decoded):
    /// memory stays flat however many rows come back (a purge batch's `RETURNING` keys).
    pub async fn query_count_last(
        &mut self,
        sql: &str,
    ) -> Result<(u64, Option<Vec<Value>>), sqlx::Error> {
        use futures_util::TryStreamExt;
        let sql = AssertSqlSafe(sql.to_string());
        macro_rules! stream {
            ($c:expr, $decode:expr) => {{
                let mut rows = sqlx::query(sql).fetch($c);
                let (mut n, mut last) = (0u64, None);
                while let Some(row) = rows.try_next().await? {
                    n += 1;
                    last = Some(row);
                }
                (n, last.as_ref().map($decode))
            }};
        }
        Ok(match self {
            Conn::Sqlite(c) => stream!(c, decode_sqlite),
            Conn::Postgres(c) => stream!(c, decode_pg),
            Conn::Mysql(c, _) => stream!(c, decode_mysql),
        })
    }

    /// Runs a query with values bound as parameters (placeholders from [`Conn::placeholder`]),
    /// never spliced into the SQL text.
    pub async fn query_with(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Rows, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_string());
        macro_rules! bound {
            ($c:expr, $decode:expr) => {{
                let mut q = sqlx::query(sql);
                for p in params {
                    q = match p {
                        Param::Text(s) => q.bind(s.to_string()),
                        Param::Int(i) => q.bind(*i),
                    };
                }
                q.fetch_all($c).await?.iter().map($decode).collect()
            }};
        }
        Ok(match self {
            Conn::Sqlite(c) => bound!(c, decode_sqlite),
            Conn::Postgres(c) => bound!(c, decode_pg),
            Conn::Mysql(c, _) => bound!(c, decode_mysql),
        })
    }

    /// Runs one statement with values bound as parameters; returns the rows affected.
    pub async fn execute_with(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<u64, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_string());
        macro_rules! bound {
            ($c:expr) => {{
                let mut q = sqlx::query(sql);
                for p in params {
                    q = match p {
                        Param::Text(s) => q.bind(s.to_string()),
                        Param::Int(i) => q.bind(*i),
                    };
                }
                q.execute($c).await?.rows_affected()
            }};
        }
        Ok(match self {
            Conn::Sqlite(c) => bound!(c),
            Conn::Postgres(c) => bound!(c),
            Conn::Mysql(c, _) => bound!(c),
        })
    }

    /// The `n`-th (1-based) parameter placeholder of this backend: `$n` on PostgreSQL, `?`
    /// elsewhere.
    pub fn placeholder(&self, n: usize) -> String {
        match self {
            Conn::Postgres(_) => format!("${n}"),
            _ => "?".to_string(),
        }
    }

    /// Opens a read-only transaction whose reads all see one snapshot (PostgreSQL: REPEATABLE
    /// READ, whose catalog reads are MVCC too; MySQL: a consistent InnoDB snapshot, which on
    /// Galera first waits for the cluster under `wsrep_sync_wait`). SQLite reads need none: its
    /// run already holds the write transaction. Returns whether one was opened; the caller
    /// must not be inside a transaction.
    pub async fn begin_snapshot(&mut self) -> Result<bool, sqlx::Error> {
        let sql = match self {
            Conn::Sqlite(_) => return Ok(false),
            Conn::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            Conn::Mysql(..) => "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        };
        self.execute(sql).await.map(|_| true)
    }

    /// Ends what [`Conn::begin_snapshot`] opened.
    pub async fn end_snapshot(&mut self, opened: bool) {
        if opened {
            let _ = self.execute("COMMIT").await;
        }
    }

    /// The first column of the first row as an integer (COUNT(*) and friends).
    pub async fn query_i64(&mut self, sql: &str) -> Result<Option<i64>, sqlx::Error> {
        let rows = self.query(sql).await?;
        Ok(rows.first().and_then(|r| r.first()).and_then(Value::as_i64))
    }

    pub async fn close(self) {
        let _ = match self {
            Conn::Sqlite(c) => c.close().await,
            Conn::Postgres(c) => c.close().await,
            Conn::Mysql(c, _) => c.close().await,
        };
    }
}

async fn connect_timeout<C>(
    fut: impl std::future::Future<Output = Result<C, sqlx::Error>>,
    url: &DbUrl,
    ctx: &str,
) -> Result<C, DbError> {
    let secs = std::env::var("GLANCE_MANAGE_CONNECT_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(r) => r.map_err(|e| {
            let mut err = DbError::from_sqlx(e, url, ctx);
            err.kind = DbErrorKind::Connect;
            err.help =
                Some("check the host, port, user, password and database name in the URL".into());
            err
        }),
        Err(_) => Err(DbError {
            message: format!("{ctx}: no answer within {secs} s"),
            help: Some("check that the server is running and reachable".into()),
            code: None,
            kind: DbErrorKind::Connect,
        }),
    }
}

macro_rules! try_cell {
    ($row:expr, $i:expr, $( $t:ty => $conv:expr ),+ $(,)?) => {{
        $(
            if let Ok(v) = $row.try_get::<Option<$t>, _>($i) {
                return match v { None => Value::Null, Some(x) => $conv(x) };
            }
        )+
        // Types sqlx has no mapping for (PostgreSQL enums, MySQL SET, ...) arrive as text.
        match $row.try_get_unchecked::<Option<String>, _>($i) {
            Ok(Some(s)) => Value::Text(s),
            _ => Value::Null,
        }
    }};
}

fn decode_cell_sqlite(row: &SqliteRow, i: usize) -> Value {
    try_cell!(row, i,
        i64 => Value::Int,
        f64 => Value::Float,
        String => Value::Text,
        Vec<u8> => |b: Vec<u8>| Value::Text(String::from_utf8_lossy(&b).into_owned()),
    )
}

fn decode_cell_pg(row: &PgRow, i: usize) -> Value {
    try_cell!(row, i,
        NaiveDateTime => |t: NaiveDateTime| Value::Text(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
        NaiveDate => |d: NaiveDate| Value::Text(d.to_string()),
        String => Value::Text,
        i64 => Value::Int,
        i32 => |x: i32| Value::Int(x.into()),
        i16 => |x: i16| Value::Int(x.into()),
        bool => Value::Bool,
        f64 => Value::Float,
        f32 => |x: f32| Value::Float(x.into()),
        Vec<String> => |v: Vec<String>| Value::Text(v.join("\u{1f}")),
        Vec<u8> => |b: Vec<u8>| Value::Text(String::from_utf8_lossy(&b).into_owned()),
    )
}

fn decode_cell_mysql(row: &MySqlRow, i: usize) -> Value {
    try_cell!(row, i,
        NaiveDateTime => |t: NaiveDateTime| Value::Text(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
        NaiveDate => |d: NaiveDate| Value::Text(d.to_string()),
        String => Value::Text,
        i64 => Value::Int,
        u64 => |x: u64| Value::Int(x as i64),
        i32 => |x: i32| Value::Int(x.into()),
        u32 => |x: u32| Value::Int(x.into()),
        i8 => |x: i8| Value::Int(x.into()),
        bool => Value::Bool,
        f64 => Value::Float,
        Vec<u8> => |b: Vec<u8>| Value::Text(String::from_utf8_lossy(&b).into_owned()),
    )
}

fn decode_sqlite(row: &SqliteRow) -> Vec<Value> {
    (0..row.columns().len())
        .map(|i| decode_cell_sqlite(row, i))
        .collect()
}
fn decode_pg(row: &PgRow) -> Vec<Value> {
    (0..row.columns().len())
        .map(|i| decode_cell_pg(row, i))
        .collect()
}
fn decode_mysql(row: &MySqlRow) -> Vec<Value> {
    (0..row.columns().len())
        .map(|i| decode_cell_mysql(row, i))
        .collect()
}

/// Wraps a sqlx error from a statement into a [`DbError`] with the URL's secrets removed.
pub fn stmt_error(e: sqlx::Error, url: &DbUrl, context: &str) -> DbError {
    DbError::from_sqlx(e, url, context)
}
