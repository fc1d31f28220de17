//! Hostile and broken input, table-driven: every case runs the built binary and checks the
//! exit code, a substring of the message, that nothing panicked or dumped a raw driver error,
//! and that the database was left exactly as it was (the pre-synced SQLite file byte for byte;
//! table count and version rows on PostgreSQL and MariaDB for the cases marked `servers`).
//!
//! Covered, one case table per theme in tests/bad_input/: unknown revisions and versions,
//! unknown commands and options, every bad purge argument, bad URLs, unreachable servers and
//! wrong credentials, config files, malformed, truncated and graph-broken snapshot directories,
//! SQL special characters and long names in identifiers (quoted, never injected), failing DDL
//! and data steps, read-only and non-SQLite files, and databases that belong to another
//! application.

mod common;

// `#[path]`: a crate root's modules are otherwise looked for in tests/, as test crates.
#[path = "bad_input/cli.rs"]
mod cli;
#[path = "bad_input/connect.rs"]
mod connect;
#[path = "bad_input/files.rs"]
mod files;
#[path = "bad_input/foreign.rs"]
mod foreign;
#[path = "bad_input/identifiers.rs"]
mod identifiers;
#[path = "bad_input/purge.rs"]
mod purge;
#[path = "bad_input/revisions.rs"]
mod revisions;
#[path = "bad_input/snapshots.rs"]
mod snapshots;
#[path = "bad_input/steps.rs"]
mod steps;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::TestDb;
use glance_manage::config::DbUrl;
use glance_manage::exec::{Conn, OpenMode};
use glance_manage::schema::model::Dialect;

const HEAD: &str = "2024_1_contract01";
const MITAKA01: &str = include_str!("../revisions/mitaka01.toml");
const LIBERTY: &str = include_str!("../revisions/liberty.toml");

/// What a case runs against.
#[derive(Clone, Debug)]
enum Target {
    /// The shared database synced to the head (`{URL}`); it must not change.
    Synced,
    /// A new SQLite file `{DIR}/fresh.sqlite` (`{URL}`): `setup` commands and `sql` run first;
    /// if the case fails, the file must be unchanged by it.
    Fresh {
        setup: Vec<Vec<String>>,
        sql: Vec<String>,
    },
    /// A SQLite database at liberty, file mode 0444 in a directory of mode `dir_mode`, run as
    /// an unprivileged user when the tests run as root; it must stay byte-identical.
    ReadOnly { dir_mode: u32 },
}

/// A check run after the case, on the case's directory and database URL.
type Post = fn(&Path, &str);

#[derive(Clone)]
struct Case {
    name: String,
    /// Arguments; `{URL}`, `{DIR}` and `{REVS}` are replaced. `--database-url {URL}` is
    /// prepended unless `raw`.
    args: Vec<String>,
    raw: bool,
    files: Vec<(String, Vec<u8>)>,
    env: Vec<(String, String)>,
    code: i32,
    /// Must appear in stderr (or stdout when `on_stdout`).
    msg: String,
    on_stdout: bool,
    target: Target,
    /// Also run against PostgreSQL and MariaDB databases synced to the head.
    servers: bool,
    post: Option<Post>,
}

fn case(name: &str, args: &[&str]) -> Case {
    Case {
        name: name.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
        raw: false,
        files: vec![],
        env: vec![],
        code: 1,
        msg: String::new(),
        on_stdout: false,
        target: Target::Synced,
        servers: false,
        post: None,
    }
}

impl Case {
    fn code(mut self, c: i32) -> Self {
        self.code = c;
        self
    }
    fn err(mut self, m: &str) -> Self {
        self.msg = m.to_string();
        self
    }
    fn out(mut self, m: &str) -> Self {
        self.msg = m.to_string();
        self.on_stdout = true;
        self
    }
    fn raw(mut self) -> Self {
        self.raw = true;
        self
    }
    fn file(mut self, path: &str, content: impl AsRef<[u8]>) -> Self {
        self.files
            .push((path.to_string(), content.as_ref().to_vec()));
        self
    }
    fn rev(self, name: &str, content: &str) -> Self {
        self.file(&format!("revs/{name}.toml"), content)
    }
    fn servers(mut self) -> Self {
        self.servers = true;
        self
    }
    fn fresh(mut self, setup: &[&[&str]], sql: &[&str]) -> Self {
        self.target = Target::Fresh {
            setup: setup
                .iter()
                .map(|a| a.iter().map(|s| s.to_string()).collect())
                .collect(),
            sql: sql.iter().map(|s| s.to_string()).collect(),
        };
        self
    }
    fn post(mut self, p: Post) -> Self {
        self.post = Some(p);
        self
    }
}

/// A revision header.
fn header(name: &str, parents: &[&str]) -> String {
    let p: Vec<String> = parents.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "[revision]\nname = \"{name}\"\nparents = [{}]\n\n",
        p.join(", ")
    )
}

const TABLE_T: &str = "[tables.t]\nprimary_key = [\"id\"]\nmysql = { engine = \"InnoDB\", charset = \"utf8mb4\" }\ncolumns = [\n  { name = \"id\", type = \"integer\", nullable = false },\n  { name = \"v\", type = \"string(10)\" },\n]\n";

/// Runs a case's command in `dir`.
fn run(args: &[String], env: &[(String, String)], dir: &Path, as_nobody: bool) -> common::Run {
    let mut g = common::Gm::new()
        .args(args)
        .dir(dir)
        .env("GLANCE_MANAGE_CONNECT_TIMEOUT", "3");
    for (k, v) in env {
        g = g.env(k, v);
    }
    let mut cmd = g.command();
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    if as_nobody {
        use std::os::unix::process::CommandExt;
        cmd.uid(65534).gid(65534);
    }
    common::Run::from_output(cmd.output().expect("run glance-manage"))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Text that must never reach the user: panics and raw driver error dumps.
const FORBIDDEN: &[&str] = &[
    "panicked",
    "RUST_BACKTRACE",
    "stack backtrace",
    "Database(",
    "PgDatabaseError",
    "MySqlDatabaseError",
    "SqliteError",
    "error returned from database:",
    "Io(Os",
    "Custom {",
    "kind: ",
    // Internal diagnostic codes mean nothing to an operator.
    "glance_manage::",
];

fn assert_clean(name: &str, r: &common::Run) {
    for f in FORBIDDEN {
        assert!(
            !r.stderr.contains(f) && !r.stdout.contains(f),
            "case `{name}`: output contains `{f}`:\n{r:?}"
        );
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite:///{}", path.display())
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Rows of a query on a database URL, as text.
fn rows(url: &str, sql: &str) -> Vec<Vec<String>> {
    block(async {
        let mut c = Conn::connect(&DbUrl::parse(url).unwrap(), OpenMode::Existing)
            .await
            .expect("connect");
        let r = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        c.close().await;
        r.iter()
            .map(|r| {
                r.iter()
                    .map(|v| v.text().unwrap_or_else(|| "NULL".into()))
                    .collect()
            })
            .collect()
    })
}

fn sqlite_tables(url: &str) -> Vec<String> {
    rows(
        url,
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

fn expand(s: &str, url: &str, dir: &Path) -> String {
    s.replace("{URL}", url)
        .replace("{REVS}", &dir.join("revs").display().to_string())
        .replace("{DIR}", &dir.display().to_string())
}

fn gm_ok(url: &str, args: &[&str], dir: &Path) {
    let mut a = vec!["--database-url".to_string(), url.to_string()];
    a.extend(args.iter().map(|s| expand(s, url, dir)));
    let r = run(&a, &[], dir, false);
    assert_eq!(r.code, 0, "set-up {args:?}: {r:?}");
}

fn exec_sql(url: &str, sql: &str) {
    block(async {
        let mut c = Conn::connect(&DbUrl::parse(url).unwrap(), OpenMode::Create)
            .await
            .expect("connect");
        c.execute(sql)
            .await
            .unwrap_or_else(|e| panic!("set-up SQL: {e}\n{sql}"));
        c.close().await;
    })
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs one case on SQLite; returns a description of the failure, if any.
fn run_case(c: &Case, synced: &Path, liberty: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    chmod(dir, 0o755);
    for (p, content) in &c.files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
    }
    let mut as_nobody = false;
    let (url, db_file): (String, Option<PathBuf>) = match &c.target {
        Target::Synced => (sqlite_url(synced), Some(synced.to_path_buf())),
        Target::Fresh { setup, sql } => {
            let f = dir.join("fresh.sqlite");
            let url = sqlite_url(&f);
            for s in sql {
                exec_sql(&url, s);
            }
            for a in setup {
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                gm_ok(&url, &a, dir);
            }
            (url, Some(f))
        }
        Target::ReadOnly { dir_mode } => {
            let ro = dir.join("ro");
            std::fs::create_dir(&ro).unwrap();
            let f = ro.join("glance.sqlite");
            std::fs::copy(liberty, &f).unwrap();
            chmod(&f, 0o444);
            chmod(&ro, *dir_mode);
            as_nobody = is_root();
            (sqlite_url(&f), Some(f))
        }
    };
    let before = db_file.as_ref().and_then(|f| std::fs::read(f).ok());
    let files_before: Vec<Option<Vec<u8>>> = c
        .files
        .iter()
        .map(|(p, _)| std::fs::read(dir.join(p)).ok())
        .collect();
    let mut args = Vec::new();
    if !c.raw {
        args.push("--database-url".to_string());
        args.push(url.clone());
    }
    args.extend(c.args.iter().map(|a| expand(a, &url, dir)));
    let r = run(&args, &c.env, dir, as_nobody);
    let ctx = format!("case `{}` ({args:?})", c.name);
    assert_eq!(r.code, c.code, "{ctx}: exit code\n{r:?}");
    let text = if c.on_stdout { &r.stdout } else { &r.stderr };
    assert!(
        text.contains(&c.msg),
        "{ctx}: expected `{}` in {}\n{r:?}",
        c.msg,
        if c.on_stdout { "stdout" } else { "stderr" }
    );
    assert_clean(&c.name, &r);
    if c.code != 0 {
        if !c.on_stdout {
            assert!(!r.stderr.trim().is_empty(), "{ctx}: no message on stderr");
        }
        let after = db_file.as_ref().and_then(|f| std::fs::read(f).ok());
        match (&before, &after) {
            // A failed first sync may leave the SQLite file it opened, without any table.
            (None, Some(_)) => {
                let tables = sqlite_tables(&url);
                assert!(tables.is_empty(), "{ctx}: tables left behind: {tables:?}");
            }
            _ => assert!(before == after, "{ctx}: the database file changed"),
        }
        for ((p, _), b) in c.files.iter().zip(&files_before) {
            assert!(std::fs::read(dir.join(p)).ok() == *b, "{ctx}: {p} changed");
        }
    } else if matches!(c.target, Target::Synced) {
        assert!(
            before == std::fs::read(synced).ok(),
            "{ctx}: the synced database changed"
        );
    }
    // Nothing created in the working directory by accident (the default ./glance.sqlite).
    assert!(
        !dir.join("glance.sqlite").exists(),
        "{ctx}: created ./glance.sqlite"
    );
    if let Some(p) = c.post {
        p(dir, &url);
    }
    if let Target::ReadOnly { .. } = c.target {
        chmod(&dir.join("ro"), 0o755);
    }
}

/// Every case, theme by theme.
fn cases() -> Vec<Case> {
    let mut v: Vec<Case> = Vec::new();
    revisions::cases(&mut v);
    cli::cases(&mut v);
    purge::cases(&mut v);
    connect::cases(&mut v);
    files::cases(&mut v);
    snapshots::cases(&mut v);
    identifiers::cases(&mut v);
    steps::cases(&mut v);
    foreign::cases(&mut v);
    v
}

/// A SQLite database brought to `revision`, in `dir`.
fn sqlite_at(dir: &Path, revision: &str) -> PathBuf {
    let f = dir.join(format!("{revision}.sqlite"));
    gm_ok(&sqlite_url(&f), &["db", "upgrade", revision], dir);
    f
}

fn jobs() -> usize {
    std::env::var("GM_BAD_INPUT_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(2)
}

#[test]
fn bad_input_table() {
    let all = cases();
    // README "Guarantees" says "at least 253": a floor, so new cases need no edit here.
    assert!(all.len() >= 253, "only {} cases", all.len());
    let mut names = std::collections::HashSet::new();
    for c in &all {
        assert!(
            names.insert(c.name.clone()),
            "duplicate case name {}",
            c.name
        );
    }
    let base = tempfile::tempdir().unwrap();
    chmod(base.path(), 0o755);
    let synced = sqlite_at(base.path(), HEAD);
    let liberty = sqlite_at(base.path(), "liberty");
    let version_before = rows(
        &sqlite_url(&synced),
        "SELECT version_num FROM alembic_version",
    );
    let next = AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs() {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(c) = all.get(i) else { break };
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        run_case(c, &synced, &liberty)
                    }));
                    if r.is_err() {
                        failed.lock().unwrap().push(c.name.clone());
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap();
    assert!(
        failed.is_empty(),
        "{} of {} cases failed (messages above): {failed:?}",
        failed.len(),
        all.len()
    );
    assert_eq!(
        rows(
            &sqlite_url(&synced),
            "SELECT version_num FROM alembic_version"
        ),
        version_before
    );
    eprintln!("{} bad-input cases passed on SQLite", all.len());
}

/// The cases marked `servers`, against PostgreSQL and MariaDB databases synced to the head:
/// same exit code and message, same table count and version rows afterwards.
async fn servers(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    gm_ok(&db.url, &["db", "sync"], dir.path());
    let tables = db.table_count().await;
    let mut n = 0;
    for c in cases().into_iter().filter(|c| c.servers) {
        let tmp = tempfile::tempdir().unwrap();
        for (p, content) in &c.files {
            let path = tmp.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
        }
        let mut args = vec!["--database-url".to_string(), db.url.clone()];
        args.extend(c.args.iter().map(|a| expand(a, &db.url, tmp.path())));
        let r = run(&args, &c.env, tmp.path(), false);
        let ctx = format!("{dialect} case `{}`", c.name);
        assert_eq!(r.code, c.code, "{ctx}: {r:?}");
        let text = if c.on_stdout { &r.stdout } else { &r.stderr };
        assert!(text.contains(&c.msg), "{ctx}: expected `{}`: {r:?}", c.msg);
        assert_clean(&c.name, &r);
        assert_eq!(db.table_count().await, tables, "{ctx}: tables changed");
        assert_eq!(
            db.version_rows().await,
            vec![HEAD],
            "{ctx}: versions changed"
        );
        n += 1;
    }
    let d = common::gm(&db.url, &["db", "drift"]);
    assert_eq!(d.code, 0, "{dialect}: drift after the bad input: {d:?}");
    assert!(
        n >= 17,
        "{dialect}: only {n} server cases (README: at least 17)"
    );
    eprintln!("{n} bad-input cases passed on {dialect}");
}

per_dialect!(servers: bad_input_on_servers => servers());

/// Identifiers with quote characters, SQL comments and 63-byte names on the servers: created
/// quoted, usable, no drift, and `images` untouched.
async fn weird_identifiers_on(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let revs = dir.path().join("revs");
    std::fs::create_dir(&revs).unwrap();
    let mysql = "mysql = { engine = \"InnoDB\", charset = \"utf8mb4\" }\n";
    let body = format!(
        "{}[tables.images]\nprimary_key = [\"id\"]\n{mysql}columns = [ {{ name = \"id\", type = \"string(36)\", nullable = false }} ]\n\n\
         [tables.'a\"b;DROP TABLE images;--']\nprimary_key = [\"id\"]\n{mysql}columns = [\n  {{ name = \"id\", type = \"integer\", nullable = false }},\n  \
         {{ name = \"x'); DROP TABLE images; --\", type = \"string(10)\" }},\n  {{ name = \"`c`\", type = \"string(20)\" }},\n  {{ name = \"img\", type = \"string(36)\" }},\n]\n\
         indexes = [ {{ name = \"ix_'q\\\"`; DROP TABLE images; --\", columns = [\"`c`\"] }}, {{ name = \"fk_\\\"`;--\", columns = [\"img\"] }} ]\n\
         unique = [ {{ name = \"uq_\\\"`;--\", columns = [\"x'); DROP TABLE images; --\"] }} ]\n\
         foreign_keys = [ {{ name = \"fk_\\\"`;--\", columns = [\"img\"], ref_table = \"images\", ref_columns = [\"id\"] }} ]\n\
         checks = [ {{ name = \"ck_\\\"`;--\", expr = \"id > 0\" }} ]\n\n\
         [tables.{t}]\nprimary_key = [\"{c}\"]\n{mysql}columns = [ {{ name = \"{c}\", type = \"integer\", nullable = false }} ]\nindexes = [ {{ name = \"{i}\", columns = [\"{c}\"] }} ]\n",
        header("r1", &[]),
        t = "t".repeat(63),
        c = "c".repeat(63),
        i = "i".repeat(63),
    );
    std::fs::write(revs.join("r1.toml"), body).unwrap();
    let r_arg = revs.display().to_string();
    let s = common::gm(&db.url, &["--revisions", &r_arg, "db", "sync"]);
    assert_eq!(s.code, 0, "{dialect}: {s:?}");
    assert_clean("weird identifiers", &s);
    let d = common::gm(&db.url, &["--revisions", &r_arg, "db", "drift"]);
    assert_eq!(d.code, 0, "{dialect}: {d:?}");
    let q = |s: &str| glance_manage::sql::quote(dialect, s);
    db.exec(&format!(
        "INSERT INTO {} ({}) VALUES ('i1')",
        q("images"),
        q("id")
    ))
    .await;
    db.exec(&format!(
        "INSERT INTO {} ({}, {}, {}) VALUES (1, 'v', 'i1')",
        q("a\"b;DROP TABLE images;--"),
        q("id"),
        q("x'); DROP TABLE images; --"),
        q("img")
    ))
    .await;
    assert_eq!(db.count("SELECT COUNT(*) FROM images").await, 1);
    assert_eq!(
        db.count(&format!("SELECT COUNT(*) FROM {}", q(&"t".repeat(63))))
            .await,
        0
    );
    assert_eq!(
        db.table_count().await,
        4,
        "images, the two tables, alembic_version"
    );
}

per_dialect!(servers: weird_identifiers => weird_identifiers_on());

/// A closed stdout (`glance-manage db plan | head -1`) or stderr (`... 2>&1 | head -1`) is
/// not a panic.
#[test]
fn closed_stdout_is_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("x.sqlite"));
    for (args, close_stderr, code) in [
        (&["db", "plan"][..], false, 0),
        (&["db", "history"][..], false, 0),
        (&["db", "drift"][..], true, 2),
        (&["db", "upgrade", "nope"][..], true, 1),
    ] {
        let mut child = common::Gm::new()
            .url(&url)
            .args(args)
            .env("RUST_BACKTRACE", "0")
            .spawn();
        // The reader goes away before the output is written.
        drop(child.stdout.take());
        if close_stderr {
            drop(child.stderr.take());
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    }
}
