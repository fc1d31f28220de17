//! Helpers shared by the integration tests: diagnostics rendering and throwaway databases on
//! the machine's real servers.
#![allow(dead_code)]

pub mod galera;
pub mod host;
pub mod liberty;
pub mod ops;
pub mod purge;
pub mod seed;

use std::sync::atomic::{AtomicU32, Ordering};

use glance_manage::config::DbUrl;
use glance_manage::exec::{Conn, OpenMode};
use glance_manage::schema::model::Dialect;
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};

/// Renders a diagnostic as the user would see it, without colour or Unicode, so tests can
/// assert on the message, the file, the label and the help.
pub fn render_diagnostic(d: &dyn Diagnostic) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(200)
        .render_report(&mut out, d)
        .expect("render");
    out
}

/// Server URLs; override with GM_TEST_PG_URL / GM_TEST_MYSQL_URL (admin URL, any database).
pub fn pg_admin_url() -> String {
    std::env::var("GM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into())
}
pub fn mysql_admin_url() -> String {
    std::env::var("GM_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A freshly created, uniquely named database, dropped when the value is dropped.
pub struct TestDb {
    pub dialect: Dialect,
    /// URL string for the CLI (`--database-url`).
    pub url: String,
    pub name: String,
    _dir: Option<tempfile::TempDir>,
}

/// Set to 1 to let tests whose server is down pass without running (never in CI).
pub const ALLOW_SKIP_ENV: &str = "GM_TEST_ALLOW_SKIP";

/// Whether a server test may skip, given `CI` and `GM_TEST_ALLOW_SKIP`: only outside CI and
/// only when asked for.
pub fn skip_allowed(ci: Option<&str>, allow: Option<&str>) -> bool {
    let ci = matches!(ci, Some("true" | "1"));
    !ci && allow == Some("1")
}

/// A server test cannot reach its server. A skipped test would report "ok", so this fails
/// unless `GM_TEST_ALLOW_SKIP=1` (outside CI); when skipping is allowed the `SKIP:` line is
/// written straight to stderr, which the test harness does not capture, so it is seen.
pub fn skip_or_fail(dialect: Dialect, admin: &DbUrl, error: &str) {
    skip_or_fail_because(
        &format!("{dialect} server unreachable at {admin}: {error}"),
        "start it (.ci/run does), point GM_TEST_PG_URL / GM_TEST_MYSQL_URL at one",
    );
}

/// [`skip_or_fail`] for any missing prerequisite: `why` it is missing, `fix` how to provide it.
pub fn skip_or_fail_because(why: &str, fix: &str) {
    let var = |k: &str| std::env::var(k).ok();
    if !skip_allowed(var("CI").as_deref(), var(ALLOW_SKIP_ENV).as_deref()) {
        panic!("{why}\n{fix}, or set {ALLOW_SKIP_ENV}=1 to skip the server tests outside CI");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP: {why} ({ALLOW_SKIP_ENV}=1)");
}

fn with_db(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    format!("{base}/{name}")
}

impl TestDb {
    /// Creates a database for `dialect`. Returns None (and says so on stderr) when the server
    /// cannot be reached outside CI; in CI that is a test failure.
    pub async fn create(dialect: Dialect) -> Option<TestDb> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nonce: u32 = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos())
            % 100_000;
        let name = format!("gm_t{}_{}_{}", std::process::id(), n, nonce);
        match dialect {
            Dialect::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let path = dir.path().join("glance.sqlite");
                Some(TestDb {
                    dialect,
                    url: format!("sqlite:///{}", path.display()),
                    name: path.display().to_string(),
                    _dir: Some(dir),
                })
            }
            Dialect::Postgres | Dialect::Mysql => {
                let admin = if dialect == Dialect::Postgres {
                    pg_admin_url()
                } else {
                    mysql_admin_url()
                };
                let url = DbUrl::parse(&admin).expect("admin url");
                let mut conn = match Conn::connect(&url, OpenMode::Existing).await {
                    Ok(c) => c,
                    Err(e) => {
                        skip_or_fail(dialect, &url, &e.to_string());
                        return None;
                    }
                };
                let ddl = if dialect == Dialect::Postgres {
                    format!("CREATE DATABASE \"{name}\"")
                } else {
                    format!("CREATE DATABASE `{name}`")
                };
                conn.execute(&ddl).await.expect("create test database");
                conn.close().await;
                Some(TestDb {
                    dialect,
                    url: with_db(&admin, &name),
                    name,
                    _dir: None,
                })
            }
        }
    }

    pub fn db_url(&self) -> DbUrl {
        DbUrl::parse(&self.url).unwrap()
    }

    pub async fn conn(&self) -> Conn {
        Conn::connect(&self.db_url(), OpenMode::Create)
            .await
            .expect("connect to test database")
    }

    /// Runs statements separated by `;` lines (test set-up).
    pub async fn exec(&self, sql: &str) {
        let mut c = self.conn().await;
        c.execute(sql)
            .await
            .unwrap_or_else(|e| panic!("set-up SQL failed: {e}\n{sql}"));
        c.close().await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.dialect == Dialect::Sqlite {
            return;
        }
        let (dialect, name) = (self.dialect, self.name.clone());
        // Drop from a separate thread with its own runtime: Drop cannot be async.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let admin = if dialect == Dialect::Postgres {
                    pg_admin_url()
                } else {
                    mysql_admin_url()
                };
                let Ok(mut conn) =
                    Conn::connect(&DbUrl::parse(&admin).unwrap(), OpenMode::Existing).await
                else {
                    return;
                };
                let ddl = if dialect == Dialect::Postgres {
                    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
                } else {
                    format!("DROP DATABASE IF EXISTS `{name}`")
                };
                let _ = conn.execute(&ddl).await;
                conn.close().await;
            })
        })
        .join();
    }
}

/// Runs `body` once per backend that is reachable.
#[macro_export]
macro_rules! for_each_backend {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                if let Some(db) =
                    common::TestDb::create(glance_manage::schema::model::Dialect::Sqlite).await
                {
                    ($body)(db).await;
                }
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(db) =
                    common::TestDb::create(glance_manage::schema::model::Dialect::Postgres).await
                {
                    ($body)(db).await;
                }
            }
            #[tokio::test]
            async fn mysql() {
                if let Some(db) =
                    common::TestDb::create(glance_manage::schema::model::Dialect::Mysql).await
                {
                    ($body)(db).await;
                }
            }
        }
    };
}

/// Output of one run of the built binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The verdict on `db sync`s run at once against one database: exactly one applied the plan
/// (its last line is Glance's "synced"), every other one found it up to date and said only that.
pub fn assert_one_sync_applied(runs: &[Run], ctx: &str) {
    const SYNCED: &str = "Database is synced successfully.";
    const UP_TO_DATE: &str = "Database is up to date. No migrations needed.\n";
    let synced = runs
        .iter()
        .filter(|r| r.lines().last() == Some(&SYNCED))
        .count();
    let up_to_date = runs.iter().filter(|r| r.stdout == UP_TO_DATE).count();
    assert_eq!(
        (synced, up_to_date),
        (1, runs.len() - 1),
        "{ctx}: {runs:#?}"
    );
}

impl Run {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    pub fn from_output(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// The built `glance-manage`, set up step by step; every test file runs the binary through
/// this. `NO_COLOR=1` unless [`Gm::with_color_env`].
///
/// ```ignore
/// let r = Gm::fault().url(&db.url).args(["db", "sync"]).env("GLANCE_MANAGE_FAIL_AFTER", "3").run();
/// ```
pub struct Gm {
    cmd: std::process::Command,
}

impl Default for Gm {
    fn default() -> Self {
        Gm::new()
    }
}

impl Gm {
    pub fn new() -> Gm {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_glance-manage"));
        cmd.env("NO_COLOR", "1");
        Gm { cmd }
    }

    /// The test-only `glance-manage-fault` (feature `fault-injection`, enabled for the tests
    /// by Cargo.toml's dev-dependency on this package): the same CLI, but it honours
    /// `GLANCE_MANAGE_FAIL_AFTER`. [`Gm::new`]'s binary, the one that ships, ignores it.
    pub fn fault() -> Gm {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_glance-manage-fault"));
        cmd.env("NO_COLOR", "1");
        Gm { cmd }
    }

    /// `--database-url URL` first.
    pub fn url(mut self, url: &str) -> Gm {
        self.cmd.arg("--database-url").arg(url);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Gm
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Gm {
        self.cmd.env(key, value);
        self
    }

    /// Colour decided by the binary, as for a user (no `NO_COLOR` forced).
    pub fn env_remove(mut self, key: impl AsRef<std::ffi::OsStr>) -> Gm {
        self.cmd.env_remove(key);
        self
    }

    pub fn with_color_env(mut self) -> Gm {
        self.cmd.env_remove("NO_COLOR");
        self
    }

    pub fn dir(mut self, dir: &std::path::Path) -> Gm {
        self.cmd.current_dir(dir);
        self
    }

    /// The underlying command, for what the builder does not cover.
    pub fn command(self) -> std::process::Command {
        self.cmd
    }

    /// Runs to the end and collects the output.
    pub fn run(mut self) -> Run {
        Run::from_output(self.cmd.output().expect("run glance-manage"))
    }

    /// Starts it with stdout and stderr piped (collect with `wait_with_output`).
    pub fn spawn(mut self) -> std::process::Child {
        self.cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start glance-manage")
    }
}

/// Runs `glance-manage --database-url URL <args>` with extra environment variables.
pub fn gm_env(url: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut g = Gm::new().url(url).args(args);
    for (k, v) in env {
        g = g.env(k, v);
    }
    g.run()
}

/// Runs the fault-injecting binary, stopped after `k` statements (`GLANCE_MANAGE_FAIL_AFTER`).
pub fn gm_fail_after(url: &str, args: &[&str], k: usize) -> Run {
    Gm::fault()
        .url(url)
        .args(args)
        .env("GLANCE_MANAGE_FAIL_AFTER", k.to_string())
        .run()
}

/// Runs `glance-manage --database-url URL <args>`.
pub fn gm(url: &str, args: &[&str]) -> Run {
    gm_env(url, args, &[])
}

/// Runs the binary with exactly these arguments (no URL added).
pub fn gm_raw(args: &[&str], dir: Option<&std::path::Path>) -> Run {
    let mut g = Gm::new().args(args);
    if let Some(d) = dir {
        g = g.dir(d);
    }
    g.run()
}

/// One test per backend for a function taking the [`Dialect`] first:
/// - `per_dialect!(f);` → `mod f { sqlite, postgres, mysql }`, each `f(Dialect::X).await`;
/// - `per_dialect!(name => f(a, b));` → each `f(Dialect::X, a, b).await`;
/// - `per_dialect!(servers: name => f(..));` → PostgreSQL and MariaDB only;
/// - `per_dialect!(sync: name => f(..));` → plain `#[test]`s of a function that is not async.
#[macro_export]
macro_rules! per_dialect {
    ($f:ident) => {
        $crate::per_dialect!($f => $f());
    };
    ($name:ident => $f:ident($($arg:expr),*)) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                $f(glance_manage::schema::model::Dialect::Sqlite $(, $arg)*).await;
            }
            #[tokio::test]
            async fn postgres() {
                $f(glance_manage::schema::model::Dialect::Postgres $(, $arg)*).await;
            }
            #[tokio::test]
            async fn mysql() {
                $f(glance_manage::schema::model::Dialect::Mysql $(, $arg)*).await;
            }
        }
    };
    (servers: $name:ident => $f:ident($($arg:expr),*)) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn postgres() {
                $f(glance_manage::schema::model::Dialect::Postgres $(, $arg)*).await;
            }
            #[tokio::test]
            async fn mysql() {
                $f(glance_manage::schema::model::Dialect::Mysql $(, $arg)*).await;
            }
        }
    };
    (sync: $name:ident => $f:ident($($arg:expr),*)) => {
        mod $name {
            use super::*;
            #[test]
            fn sqlite() {
                $f(glance_manage::schema::model::Dialect::Sqlite $(, $arg)*);
            }
            #[test]
            fn postgres() {
                $f(glance_manage::schema::model::Dialect::Postgres $(, $arg)*);
            }
            #[test]
            fn mysql() {
                $f(glance_manage::schema::model::Dialect::Mysql $(, $arg)*);
            }
        }
    };
}

/// Query rows with each cell as text ("NULL" for null), for assertions.
pub fn text_rows(rows: &[Vec<glance_manage::exec::connection::Value>]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|v| v.text().unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}

impl TestDb {
    /// Rows of a query, each cell as text ("NULL" for null), for assertions.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let mut c = self.conn().await;
        let rows = c
            .query(sql)
            .await
            .unwrap_or_else(|e| panic!("query failed: {e}\n{sql}"));
        c.close().await;
        text_rows(&rows)
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let mut c = self.conn().await;
        let n = c
            .query_i64(sql)
            .await
            .unwrap_or_else(|e| panic!("query failed: {e}\n{sql}"));
        c.close().await;
        n.unwrap_or(0)
    }

    /// Sorted rows of the version table.
    pub async fn version_rows(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .rows("SELECT version_num FROM alembic_version")
            .await
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        v.sort();
        v
    }

    /// Number of tables in the database (to show that nothing was created).
    pub async fn table_count(&self) -> i64 {
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
            Dialect::Postgres => {
                "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()"
            }
            Dialect::Mysql => {
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
            }
        };
        self.count(sql).await
    }
}

/// Seeds liberty-era images: public, private with a live member, private with only a deleted
/// member, private without members.
pub async fn seed_liberty_images(db: &TestDb) {
    // TRUE/FALSE are accepted by all three backends (SQLite stores 1/0).
    db.exec(
        "INSERT INTO images (id, name, status, is_public, created_at, deleted, min_disk, min_ram, protected) VALUES \
         ('img-public', 'pub', 'active', TRUE, '2015-10-01 00:00:00', FALSE, 0, 0, FALSE), \
         ('img-shared', 'sh', 'active', FALSE, '2015-10-01 00:00:00', FALSE, 0, 0, FALSE), \
         ('img-private', 'pr', 'active', FALSE, '2015-10-01 00:00:00', FALSE, 0, 0, FALSE), \
         ('img-gone-member', 'gm', 'active', FALSE, '2015-10-01 00:00:00', FALSE, 1, 2, TRUE)",
    )
    .await;
    db.exec(
        "INSERT INTO image_members (image_id, member, can_share, created_at, deleted, status) VALUES \
         ('img-shared', 'tenant-a', FALSE, '2015-10-02 00:00:00', FALSE, 'accepted'), \
         ('img-gone-member', 'tenant-b', FALSE, '2015-10-02 00:00:00', TRUE, 'accepted')",
    )
    .await;
    db.exec(
        "INSERT INTO image_properties (image_id, name, value, created_at, deleted) VALUES \
         ('img-public', 'os_distro', 'debian', '2015-10-01 00:00:00', FALSE)",
    )
    .await;
    db.exec(
        "INSERT INTO metadef_resource_types (name, protected, created_at) VALUES ('OS::Nova::Instance', TRUE, '2015-10-01 00:00:00'), ('OS::Glance::Image', TRUE, '2015-10-01 00:00:00')",
    )
    .await;
}
