//! Databases of the benchmark: the seeded one per backend, and a fresh copy of it for every
//! timed run (SQLite: a file copy; PostgreSQL: `CREATE DATABASE … TEMPLATE`; MariaDB: see
//! [`MariadbCopy`]). Copying is timed apart and never counted in a contender's time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use glance_manage::config::DbUrl;
use glance_manage::exec::{Conn, OpenMode};
use glance_manage::schema::model::Dialect;
use glance_manage::sql::quote;

use crate::seed::{self, Shape, TABLES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mariadb,
}

impl Backend {
    pub fn parse(s: &str) -> Result<Backend, String> {
        match s {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" | "pg" => Ok(Backend::Postgres),
            "mariadb" | "mysql" => Ok(Backend::Mariadb),
            other => Err(format!(
                "unknown backend {other:?} (sqlite, postgres, mariadb)"
            )),
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::Mariadb => "MariaDB",
        }
    }

    pub fn dialect(self) -> Dialect {
        match self {
            Backend::Sqlite => Dialect::Sqlite,
            Backend::Postgres => Dialect::Postgres,
            Backend::Mariadb => Dialect::Mysql,
        }
    }
}

/// How a MariaDB copy is made. The three give identical tables (same DDL from the server,
/// same rows inserted in primary-key order, statistics re-analyzed); they differ in speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MariadbCopy {
    /// `SHOW CREATE TABLE` of each seeded table, then `INSERT … SELECT *` inside the server.
    Select,
    /// `mariadb-dump seed | mariadb copy`.
    Dump,
    /// `db sync` and the seed statements again.
    Reseed,
}

impl MariadbCopy {
    pub fn parse(s: &str) -> Result<MariadbCopy, String> {
        match s {
            "select" => Ok(MariadbCopy::Select),
            "dump" => Ok(MariadbCopy::Dump),
            "reseed" => Ok(MariadbCopy::Reseed),
            other => Err(format!(
                "unknown MariaDB copy method {other:?} (select, dump, reseed)"
            )),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            MariadbCopy::Select => "SHOW CREATE TABLE + INSERT … SELECT per table",
            MariadbCopy::Dump => "mariadb-dump | mariadb",
            MariadbCopy::Reseed => "db sync + seed again",
        }
    }
}

/// Where the servers are (the same variables as the tests).
pub struct Servers {
    pub pg_admin: String,
    pub my_admin: String,
    pub workdir: PathBuf,
}

impl Servers {
    pub fn from_env(workdir: PathBuf) -> Servers {
        Servers {
            pg_admin: std::env::var("GM_TEST_PG_URL")
                .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into()),
            my_admin: std::env::var("GM_TEST_MYSQL_URL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into()),
            workdir,
        }
    }

    fn admin(&self, b: Backend) -> &str {
        match b {
            Backend::Postgres => &self.pg_admin,
            _ => &self.my_admin,
        }
    }

    /// The database `name` of backend `b`.
    pub fn db(&self, b: Backend, name: &str) -> Db {
        let url = match b {
            Backend::Sqlite => format!(
                "sqlite:///{}",
                self.workdir.join(format!("{name}.sqlite")).display()
            ),
            _ => {
                let admin = self.admin(b);
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
                // The SQLAlchemy spelling Glance's config uses; ours accepts it too.
                let (plain, driver, query) = match b {
                    Backend::Postgres => ("postgresql://", "postgresql+psycopg2://", ""),
                    _ => ("mysql://", "mysql+pymysql://", "?charset=utf8"),
                };
                let base = base.replacen(plain, driver, 1);
                format!("{base}/{name}{query}")
            }
        };
        Db {
            backend: b,
            name: name.to_string(),
            url,
        }
    }

    async fn admin_conn(&self, b: Backend) -> Result<Conn, String> {
        connect_url(self.admin(b)).await
    }

    /// An empty database (dropped first if it exists).
    pub async fn create(&self, db: &Db) -> Result<(), String> {
        match db.backend {
            Backend::Sqlite => remove_sqlite(&db.path())?,
            b => {
                let mut c = self.admin_conn(b).await?;
                let q = quote(b.dialect(), &db.name);
                exec(&mut c, &format!("DROP DATABASE IF EXISTS {q}")).await?;
                exec(&mut c, &format!("CREATE DATABASE {q}")).await?;
                c.close().await;
            }
        }
        Ok(())
    }

    pub async fn drop(&self, db: &Db) -> Result<(), String> {
        match db.backend {
            Backend::Sqlite => remove_sqlite(&db.path())?,
            b => {
                let mut c = self.admin_conn(b).await?;
                let q = quote(b.dialect(), &db.name);
                exec(&mut c, &format!("DROP DATABASE IF EXISTS {q}")).await?;
                c.close().await;
            }
        }
        Ok(())
    }

    /// `db sync` with our binary, then the seed. Returns the seconds the seed took.
    pub async fn create_seeded(&self, db: &Db, bin: &Path, shape: Shape) -> Result<f64, String> {
        self.create(db).await?;
        let out = Command::new(bin)
            .args(["--database-url", &db.url, "db", "sync"])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        if !out.status.success() {
            return Err(format!(
                "db sync of {} failed:\n{}",
                db.name,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let started = Instant::now();
        let mut c = db.connect().await?;
        seed::seed(&mut c, shape).await?;
        c.close().await;
        Ok(started.elapsed().as_secs_f64())
    }

    /// A fresh copy of `seed` as `copy`, ready for a timed run (the server settled).
    pub async fn copy(
        &self,
        seed: &Db,
        copy: &Db,
        method: MariadbCopy,
        bin: &Path,
        shape: Shape,
    ) -> Result<(), String> {
        match seed.backend {
            Backend::Sqlite => {
                remove_sqlite(&copy.path())?;
                std::fs::copy(seed.path(), copy.path())
                    .map_err(|e| format!("copying {}: {e}", seed.path().display()))?;
                // Written back now, or the contender's first commit (its first fsync of the
                // file) pays for flushing the whole copy: ~0.5 s billed to whoever runs first
                // in the file, measured on the 100k-image database.
                std::fs::File::open(copy.path())
                    .and_then(|f| f.sync_all())
                    .map_err(|e| format!("syncing {}: {e}", copy.path().display()))
            }
            Backend::Postgres => {
                let mut c = self.admin_conn(Backend::Postgres).await?;
                let q = |n: &str| quote(Dialect::Postgres, n);
                exec(
                    &mut c,
                    &format!("DROP DATABASE IF EXISTS {}", q(&copy.name)),
                )
                .await?;
                exec(
                    &mut c,
                    &format!(
                        "CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY",
                        q(&copy.name),
                        q(&seed.name)
                    ),
                )
                .await?;
                // The copy's dirty pages are written now, not during the timed run.
                exec(&mut c, "CHECKPOINT").await?;
                c.close().await;
                Ok(())
            }
            Backend::Mariadb => {
                match method {
                    MariadbCopy::Reseed => {
                        self.create_seeded(copy, bin, shape).await?;
                    }
                    MariadbCopy::Select => {
                        self.create(copy).await?;
                        let mut c = copy.connect().await?;
                        exec(&mut c, "SET SESSION foreign_key_checks = 0").await?;
                        let tables = c
                            .query(&format!(
                                "SELECT table_name FROM information_schema.tables WHERE table_schema = '{}' ORDER BY table_name",
                                seed.name
                            ))
                            .await
                            .map_err(|e| e.to_string())?;
                        for row in tables {
                            let t = row[0].text().unwrap_or_default();
                            let qt = quote(Dialect::Mysql, &t);
                            let qs = quote(Dialect::Mysql, &seed.name);
                            let ddl = c
                                .query(&format!("SHOW CREATE TABLE {qs}.{qt}"))
                                .await
                                .map_err(|e| e.to_string())?;
                            let ddl = ddl
                                .first()
                                .and_then(|r| r.get(1))
                                .and_then(|v| v.text())
                                .ok_or_else(|| format!("no SHOW CREATE TABLE for {t}"))?;
                            exec(&mut c, &ddl).await?;
                            exec(&mut c, &format!("INSERT INTO {qt} SELECT * FROM {qs}.{qt}"))
                                .await?;
                        }
                        c.close().await;
                    }
                    MariadbCopy::Dump => {
                        self.create(copy).await?;
                        let u = DbUrl::parse(&self.my_admin).map_err(|e| e.reason)?;
                        let mut conn_args = vec![
                            format!("-h{}", u.host.as_deref().unwrap_or("127.0.0.1")),
                            format!("-P{}", u.port.unwrap_or(3306)),
                            format!("-u{}", u.username.as_deref().unwrap_or("root")),
                        ];
                        if let Some(p) = &u.password {
                            conn_args.push(format!("-p{p}"));
                        }
                        let args = conn_args.join(" ");
                        let script = format!(
                            "set -o pipefail; mariadb-dump {args} --single-transaction --skip-lock-tables {} | mariadb {args} {}",
                            seed.name, copy.name
                        );
                        let out = Command::new("bash")
                            .args(["-c", &script])
                            .output()
                            .map_err(|e| format!("cannot run bash: {e}"))?;
                        if !out.status.success() {
                            return Err(format!(
                                "mariadb-dump | mariadb failed:\n{}",
                                String::from_utf8_lossy(&out.stderr)
                            ));
                        }
                    }
                }
                let mut c = copy.connect().await?;
                c.query(&seed::analyze(Dialect::Mysql)[0])
                    .await
                    .map_err(|e| e.to_string())?;
                c.close().await;
                self.settle_mariadb().await
            }
        }
    }

    /// Waits (up to two minutes) until InnoDB has purged the undo history of earlier runs and
    /// drops, so its background purge does not run during the next timed run.
    async fn settle_mariadb(&self) -> Result<(), String> {
        let mut c = self.admin_conn(Backend::Mariadb).await?;
        let started = Instant::now();
        loop {
            let len = c
                .query_i64(
                    "SELECT count FROM information_schema.INNODB_METRICS WHERE name = 'trx_rseg_history_len'",
                )
                .await
                .map_err(|e| e.to_string())?
                .unwrap_or(0);
            if len < 100 || started.elapsed() > Duration::from_secs(120) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        c.close().await;
        Ok(())
    }
}

/// One database of one backend.
#[derive(Debug, Clone)]
pub struct Db {
    pub backend: Backend,
    pub name: String,
    /// The SQLAlchemy-style URL, used by ours, by Glance and by the benchmark itself.
    pub url: String,
}

impl Db {
    pub fn path(&self) -> PathBuf {
        PathBuf::from(
            self.url
                .strip_prefix("sqlite:///")
                .expect("only SQLite databases have a path"),
        )
    }

    pub async fn connect(&self) -> Result<Conn, String> {
        connect_url(&self.url).await
    }

    /// Rows of every table the benchmark watches.
    pub async fn counts(&self) -> Result<BTreeMap<String, u64>, String> {
        let mut c = self.connect().await?;
        let mut out = BTreeMap::new();
        for t in TABLES {
            let n = c
                .query_i64(&format!("SELECT COUNT(*) FROM {t}"))
                .await
                .map_err(|e| format!("counting {t}: {e}"))?
                .unwrap_or(0);
            out.insert(t.to_string(), n as u64);
        }
        c.close().await;
        Ok(out)
    }
}

async fn connect_url(url: &str) -> Result<Conn, String> {
    let u = DbUrl::parse(url).map_err(|e| format!("bad URL {}: {}", e.shown, e.reason))?;
    Conn::connect(&u, OpenMode::Existing)
        .await
        .map_err(|e| e.message)
}

pub async fn exec(c: &mut Conn, sql: &str) -> Result<u64, String> {
    c.execute(sql).await.map_err(|e| format!("{e}\n{sql}"))
}

fn remove_sqlite(path: &Path) -> Result<(), String> {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| format!("removing {}: {e}", p.display()))?;
        }
    }
    Ok(())
}
