//! Hostile and broken input, table-driven: every case runs the built binary and checks the
//! exit code, a substring of the message, that nothing panicked or dumped a raw driver error,
//! and that the database was left exactly as it was (the pre-synced SQLite file byte for byte;
//! table count and version rows on PostgreSQL and MariaDB for the cases marked `servers`).
//!
//! Covered: unknown revisions and versions, unknown commands and options, every bad purge
//! argument, bad URLs, unreachable servers and wrong credentials, config files, malformed,
//! truncated and graph-broken snapshot directories, SQL special characters and long names in
//! identifiers (quoted, never injected), failing DDL and data steps, read-only and non-SQLite
//! files, and databases that belong to another application.

mod common;

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

/// `db history` and friends on a directory holding one revision `r1` with this body.
fn snap(name: &str, body: &str, msg: &str) -> Case {
    case(name, &["--revisions", "{REVS}", "db", "history"])
        .rev("r1", &format!("{}{body}", header("r1", &[])))
        .err(msg)
}

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

// ---------------------------------------------------------------------------------------------
// Post-checks for cases that succeed.

/// The weird table exists under its exact name, images is still there, the weird columns work,
/// and there is no drift.
fn weird_names_created(dir: &Path, url: &str) {
    let tables = sqlite_tables(url);
    assert!(tables.contains(&"images".to_string()), "{tables:?}");
    assert!(
        tables.contains(&"a\"b;DROP TABLE images;--".to_string()),
        "{tables:?}"
    );
    exec_sql(
        url,
        "INSERT INTO \"a\"\"b;DROP TABLE images;--\" (id, \"x'); DROP TABLE images; --\", \"`c`\") VALUES (1, 'v', 'w')",
    );
    let r = rows(
        url,
        "SELECT \"x'); DROP TABLE images; --\" FROM \"a\"\"b;DROP TABLE images;--\"",
    );
    assert_eq!(r, vec![vec!["v".to_string()]]);
    let idx = rows(
        url,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix%' ORDER BY name",
    );
    assert_eq!(
        idx,
        vec![vec!["ix_'q\"`; DROP TABLE images; --".to_string()]]
    );
    let d = run(
        &[
            "--database-url".into(),
            url.into(),
            "--revisions".into(),
            dir.join("revs").display().to_string(),
            "db".into(),
            "drift".into(),
        ],
        &[],
        dir,
        false,
    );
    assert_eq!(d.code, 0, "drift after weird names: {d:?}");
}

fn long_names_created(_dir: &Path, url: &str) {
    let tables = sqlite_tables(url);
    assert!(tables.contains(&"t".repeat(63)), "{tables:?}");
    let cols = rows(
        url,
        &format!("SELECT name FROM pragma_table_info('{}')", "t".repeat(63)),
    );
    assert!(cols.iter().any(|c| c[0] == "c".repeat(63)), "{cols:?}");
}

fn keyword_names_created(_dir: &Path, url: &str) {
    let tables = sqlite_tables(url);
    for t in ["select", "my table.x", "tâble_ü", "a`b"] {
        assert!(tables.contains(&t.to_string()), "{t}: {tables:?}");
    }
}

fn other_app_survives(_dir: &Path, url: &str) {
    let tables = sqlite_tables(url);
    assert!(tables.contains(&"customers".to_string()), "{tables:?}");
    assert!(tables.contains(&"images".to_string()), "{tables:?}");
    assert_eq!(
        rows(url, "SELECT id, name FROM customers ORDER BY id"),
        vec![
            vec!["1".to_string(), "ann".to_string()],
            vec!["2".to_string(), "bob".to_string()]
        ]
    );
    assert_eq!(
        rows(url, "SELECT version_num FROM alembic_version"),
        vec![vec![HEAD.to_string()]]
    );
    // drift reports the other application's table (and nothing else).
    let dir = tempfile::tempdir().unwrap();
    let d = run(
        &[
            "--database-url".into(),
            url.into(),
            "db".into(),
            "drift".into(),
        ],
        &[],
        dir.path(),
        false,
    );
    assert_eq!(d.code, 1, "{d:?}");
    let repairs: Vec<&str> = d.stdout.lines().filter(|l| l.starts_with("  - ")).collect();
    assert!(!repairs.is_empty(), "{d:?}");
    assert!(repairs.iter().all(|l| l.contains("customers")), "{d:?}");
    // Another sync is a no-op and still leaves it alone.
    let s = run(
        &[
            "--database-url".into(),
            url.into(),
            "db".into(),
            "sync".into(),
        ],
        &[],
        dir.path(),
        false,
    );
    assert_eq!(s.code, 0, "{s:?}");
    assert!(sqlite_tables(url).contains(&"customers".to_string()));
}

fn no_tables(_dir: &Path, url: &str) {
    let t: Vec<String> = sqlite_tables(url)
        .into_iter()
        .filter(|t| t != "alembic_version")
        .collect();
    assert!(t.is_empty(), "{t:?}");
}

// ---------------------------------------------------------------------------------------------
// The table.

fn cases() -> Vec<Case> {
    let mut v: Vec<Case> = Vec::new();

    // --- unknown revisions and versions --------------------------------------------------
    let unknown = "unknown revision `nope`";
    v.push(
        case("upgrade nope", &["db", "upgrade", "nope"])
            .err(unknown)
            .servers(),
    );
    v.push(
        case("plan nope", &["db", "plan", "nope"])
            .err(unknown)
            .servers(),
    );
    v.push(case("sync nope", &["db", "sync", "nope"]).err(unknown));
    v.push(
        case(
            "upgrade --version nope",
            &["db", "upgrade", "--version", "nope"],
        )
        .err(unknown),
    );
    v.push(
        case("version_control nope", &["db", "version_control", "nope"])
            .err(unknown)
            .servers(),
    );
    v.push(case("sync typo suggests", &["db", "sync", "rocky_expnad01"]).err("`rocky_expand01`"));
    v.push(case("sync unknown current", &["db", "sync", "liberty", "nope"]).err(unknown));
    v.push(
        case(
            "sync unknown target legacy form",
            &["db", "sync", "nope", "liberty"],
        )
        .err(unknown),
    );
    let liberty_first = "Please upgrade to Liberty release first.";
    for n in ["41", "1", "12", "38"] {
        v.push(case(&format!("sync {n}"), &["db", "sync", n]).err(liberty_first));
    }
    v.push(
        case("upgrade 41", &["db", "upgrade", "41"])
            .err(liberty_first)
            .servers(),
    );
    v.push(case("plan 41", &["db", "plan", "41"]).err(liberty_first));
    v.push(case("version_control 41", &["db", "version_control", "41"]).err(liberty_first));
    for n in ["0", "46", "99999999999999999999", "4.2", "42abc"] {
        v.push(
            case(&format!("sync {n}"), &["db", "sync", n]).err(&format!("unknown revision `{n}`")),
        );
    }
    v.push(
        case("future revision", &["db", "upgrade", "2099_1_contract01"])
            .err("unknown revision `2099_1_contract01`"),
    );
    v.push(
        case(
            "sql in revision name",
            &["db", "upgrade", "liberty'; DROP TABLE images; --"],
        )
        .err("unknown revision `liberty'; DROP TABLE images; --`")
        .servers(),
    );
    v.push(
        case("unicode revision", &["db", "upgrade", "ŕevision✓"])
            .err("unknown revision `ŕevision✓`"),
    );
    let long = "x".repeat(5000);
    v.push(case("5000-char revision", &["db", "plan", &long]).err("unknown revision `xxxx"));
    let downgrade = "Downgrades are not supported";
    v.push(
        case("downgrade to liberty", &["db", "sync", "liberty"])
            .err(downgrade)
            .servers(),
    );
    v.push(case("downgrade upgrade mitaka02", &["db", "upgrade", "mitaka02"]).err(downgrade));
    v.push(case("downgrade legacy 43", &["db", "upgrade", "43"]).err(downgrade));
    v.push(
        case(
            "downgrade to the expand head",
            &["db", "upgrade", "2024_1_expand01"],
        )
        .err(downgrade),
    );

    // --- unknown commands and options: clap, exit 2 ---------------------------------------
    let c2 = |name: &str, args: &[&str], msg: &str| case(name, args).code(2).err(msg);
    v.push(c2(
        "unknown db command",
        &["db", "frob"],
        "unrecognized subcommand 'frob'",
    ));
    v.push(c2(
        "unknown category",
        &["frob"],
        "unrecognized subcommand 'frob'",
    ));
    v.push(c2(
        "no legacy db_purge",
        &["db_purge"],
        "unrecognized subcommand 'db_purge'",
    ));
    v.push(c2(
        "load_metadefs unsupported",
        &["db", "load_metadefs"],
        "unrecognized subcommand",
    ));
    v.push(c2(
        "unknown sync option",
        &["db", "sync", "--frob"],
        "unexpected argument '--frob'",
    ));
    v.push(c2(
        "short option",
        &["db", "sync", "-x"],
        "unexpected argument '-x'",
    ));
    v.push(c2(
        "three positionals",
        &["db", "sync", "a", "b", "c"],
        "unexpected argument 'c'",
    ));
    v.push(c2(
        "version extra",
        &["db", "version", "extra"],
        "unexpected argument 'extra'",
    ));
    v.push(c2(
        "history extra",
        &["db", "history", "extra"],
        "unexpected argument 'extra'",
    ));
    v.push(c2(
        "check --force",
        &["db", "check", "--force"],
        "unexpected argument '--force'",
    ));
    v.push(c2(
        "drift extra",
        &["db", "drift", "x"],
        "unexpected argument 'x'",
    ));
    v.push(c2(
        "bad --format",
        &["--format", "yaml", "db", "version"],
        "invalid value 'yaml'",
    ));
    v.push(c2(
        "bad --color",
        &["--color", "purple", "db", "version"],
        "invalid value 'purple'",
    ));
    v.push(c2(
        "bad --lock-timeout",
        &["--lock-timeout", "abc", "db", "sync"],
        "invalid value 'abc'",
    ));
    v.push(c2(
        "negative --lock-timeout",
        &["--lock-timeout", "-1", "db", "sync"],
        "unexpected argument '-1'",
    ));
    v.push(c2(
        "--version without value",
        &["db", "sync", "--version"],
        "a value is required",
    ));
    v.push(c2(
        "--force=yes",
        &["db", "version_control", "--force=yes"],
        "unexpected value 'yes'",
    ));
    v.push(c2(
        "--dry-run=yes",
        &["db", "purge", "--dry-run=yes"],
        "unexpected value 'yes'",
    ));
    v.push(c2(
        "revision new without name",
        &["revision", "new"],
        "required",
    ));
    v.push(
        case("--database-url without value", &["--database-url"])
            .raw()
            .code(2)
            .err("a value is required"),
    );
    v.push(
        case(
            "--config-file without value",
            &["db", "version", "--config-file"],
        )
        .raw()
        .code(2)
        .err("a value is required"),
    );
    v.push(
        case("no arguments", &[])
            .raw()
            .code(2)
            .out("Available categories"),
    );
    v.push(
        case("db alone", &["db"])
            .code(2)
            .out("Available actions for 'db'"),
    );
    // A format a command does not have is a usage error (exit 2), never ignored.
    v.push(
        case("plan --format text", &["--format", "text", "db", "plan"])
            .code(2)
            .err("this command prints sql or json"),
    );
    v.push(
        case(
            "plan --format text after db",
            &["db", "plan", "--format", "text"],
        )
        .code(2)
        .err("invalid value 'text'"),
    );

    // --- purge arguments (glance-reference §1.3) ------------------------------------------
    for cmd in ["purge", "purge_images_table"] {
        let p = |name: &str, extra: &[&str], code: i32, msg: &str| {
            let mut a = vec!["db", cmd];
            a.extend_from_slice(extra);
            case(&format!("{cmd} {name}"), &a).code(code).err(msg)
        };
        v.push(p(
            "abc",
            &["abc"],
            1,
            "Invalid int value for age_in_days: abc",
        ));
        v.push(p(
            "1.5",
            &["1.5"],
            1,
            "Invalid int value for age_in_days: 1.5",
        ));
        v.push(p(
            "-1",
            &["-1"],
            1,
            "Must supply a non-negative value for age.",
        ));
        v.push(p("1 -2", &["1", "-2"], 1, "Minimal rows limit is -1."));
        v.push(p(
            "1 2147483648",
            &["1", "2147483648"],
            1,
            "'max_rows' value out of range, must not exceed 2147483647.",
        ));
        v.push(p(
            "1 abc",
            &["1", "abc"],
            1,
            "Invalid int value for max_rows: abc",
        ));
        v.push(p(
            "age beyond epoch",
            &["100000"],
            1,
            "Maximal age is count of days since epoch.",
        ));
        v.push(p(
            "--age_in_days abc",
            &["--age_in_days", "abc"],
            2,
            "invalid int value: 'abc'",
        ));
        v.push(p(
            "--max_rows abc",
            &["--max_rows", "abc"],
            2,
            "invalid int value: 'abc'",
        ));
        v.push(p(
            "--age_in_days -1",
            &["--age_in_days", "-1"],
            1,
            "Must supply a non-negative value for age.",
        ));
        v.push(p(
            "--max_rows -2",
            &["--max_rows", "-2"],
            1,
            "Minimal rows limit is -1.",
        ));
        v.push(p(
            "--batch-size 0",
            &["--batch-size", "0"],
            2,
            "invalid value '0' for '--batch-size <N>'",
        ));
        v.push(p("1 2 3", &["1", "2", "3"], 2, "unexpected argument '3'"));
        v.push(p(
            "option and positional",
            &["--age_in_days", "1", "2"],
            2,
            "cannot be used with",
        ));
    }
    let p = |name: &str, extra: &[&str], code: i32, msg: &str| {
        let mut a = vec!["db", "purge"];
        a.extend_from_slice(extra);
        case(&format!("purge {name}"), &a).code(code).err(msg)
    };
    v.push(p(
        "empty age",
        &[""],
        1,
        "Invalid int value for age_in_days: ",
    ));
    v.push(p(
        "1__0",
        &["1__0"],
        1,
        "Invalid int value for age_in_days: 1__0",
    ));
    v.push(p(
        "0x10",
        &["0x10"],
        1,
        "Invalid int value for age_in_days: 0x10",
    ));
    v.push(p(
        "1e3",
        &["1e3"],
        1,
        "Invalid int value for age_in_days: 1e3",
    ));
    v.push(p(
        "huge age",
        &["9999999999999999999999999999999999999999999"],
        1,
        "Maximal age is count of days since epoch.",
    ));
    v.push(p(
        "huge max_rows",
        &["1", "99999999999999999999999999999999999999999999"],
        1,
        "'max_rows' value out of range",
    ));
    v.push(
        p(
            "--max_rows 2147483648",
            &["--max_rows", "2147483648"],
            1,
            "'max_rows' value out of range",
        )
        .servers(),
    );
    v.push(p(
        "--age_in_days 1.5",
        &["--age_in_days", "1.5"],
        2,
        "invalid int value: '1.5'",
    ));
    v.push(p(
        "--batch-size -5",
        &["--batch-size", "-5"],
        2,
        "--batch-size",
    ));
    v.push(p(
        "--batch-size abc",
        &["--batch-size", "abc"],
        2,
        "invalid value 'abc'",
    ));
    v.push(p(
        "abc with --dry-run",
        &["abc", "--dry-run"],
        1,
        "Invalid int value for age_in_days: abc",
    ));
    v.push(
        p(
            "-1 as json",
            &["-1", "--format", "json"],
            1,
            "Must supply a non-negative value for age.",
        )
        .servers(),
    );
    v.push(
        p(
            "sql in age",
            &["1; DELETE FROM images"],
            1,
            "Invalid int value for age_in_days: 1; DELETE FROM images",
        )
        .servers(),
    );

    // --- bad URLs ---------------------------------------------------------------------------
    let url = |name: &str, u: &str, msg: &str| {
        case(
            &format!("url {name}"),
            &["--database-url", u, "db", "version"],
        )
        .raw()
        .err(msg)
    };
    v.push(url("no scheme", "127.0.0.1/glance", "missing `://`"));
    // Not echoed (it may be a password typed in the wrong place): only its length.
    v.push(url(
        "bare word",
        "glance",
        "invalid database URL (6 characters, not shown) from --database-url: missing `://`",
    ));
    v.push(url("empty", "", "from --database-url is empty"));
    v.push(url("blank", "   ", "from --database-url is empty"));
    v.push(url(
        "sqlite without slashes",
        "sqlite:relative.db",
        "missing `://`",
    ));
    v.push(url(
        "sqlite two slashes",
        "sqlite://relative.db",
        "a SQLite URL is sqlite:///relative/path",
    ));
    v.push(url(
        "oracle",
        "oracle://u:p@h/db",
        "unsupported database `oracle`",
    ));
    v.push(url(
        "mssql",
        "mssql+pyodbc://u:p@h/db",
        "unsupported database `mssql`",
    ));
    v.push(url(
        "http",
        "http://example.com/db",
        "unsupported database `http`",
    ));
    v.push(url(
        "unicode scheme",
        "ünicode://h/db",
        "unsupported database",
    ));
    v.push(url(
        "port too big",
        "mysql://u:pw@h:99999/db",
        "invalid port `99999`",
    ));
    v.push(url(
        "port not a number",
        "mysql://u:pw@h:abc/db",
        "invalid port `abc`",
    ));
    v.push(url(
        "negative port",
        "postgresql://u@h:-1/db",
        "invalid port `-1`",
    ));
    v.push(url("no database", "mysql://u:pw@h/", "no database name"));
    v.push(url(
        "no path",
        "mysql+pymysql://u:p@h:3306",
        "no database name",
    ));
    v.push(url("only scheme", "postgresql://", "no database name"));
    v.push(url("only slash", "postgresql:///", "no database name"));
    v.push(url(
        "unterminated ipv6",
        "mysql://root@[::1/db",
        "unterminated IPv6 address",
    ));
    v.push(url(
        "text after ipv6",
        "mysql://root@[::1]x/db",
        "unexpected text after IPv6 address",
    ));

    // --- unreachable servers, wrong credentials, missing databases --------------------------
    let closed_my = "mysql+pymysql://root:pw@127.0.0.1:1/glance";
    let closed_pg = "postgresql://postgres@127.0.0.1:1/glance";
    for (cmd, code) in [
        (&["db", "version"][..], 1),
        (&["db", "sync"][..], 1),
        (&["db", "upgrade", "mitaka01"][..], 1),
        (&["db", "check"][..], 1),
        (&["db", "plan"][..], 1),
        (&["db", "drift"][..], 2),
        (&["db", "purge"][..], 1),
        (&["db", "purge_images_table"][..], 1),
        (&["db", "version_control"][..], 1),
        (&["db", "expand"][..], 1),
        (&["db", "migrate"][..], 1),
        (&["db", "contract"][..], 1),
    ] {
        let mut a = vec!["--database-url", closed_my];
        a.extend_from_slice(cmd);
        v.push(
            case(&format!("closed mysql port: {}", cmd[1]), &a)
                .raw()
                .code(code)
                .err("cannot connect to mysql://root:***@127.0.0.1:1/glance"),
        );
    }
    for (cmd, code) in [
        (&["db", "version"][..], 1),
        (&["db", "sync"][..], 1),
        (&["db", "drift"][..], 2),
    ] {
        let mut a = vec!["--database-url", closed_pg];
        a.extend_from_slice(cmd);
        v.push(
            case(&format!("closed postgres port: {}", cmd[1]), &a)
                .raw()
                .code(code)
                .err("cannot connect to postgresql://postgres@127.0.0.1:1/glance"),
        );
    }
    let pg_user = "postgresql://nosuch:wrongpw@127.0.0.1/postgres";
    let my_pw = "mysql://root:wrongpw@127.0.0.1:3306/mysql";
    for cmd in ["version", "sync"] {
        v.push(
            case(
                &format!("unknown postgres role: {cmd}"),
                &["--database-url", pg_user, "db", cmd],
            )
            .raw()
            .err("role \"nosuch\" does not exist"),
        );
        v.push(
            case(
                &format!("wrong mysql password: {cmd}"),
                &["--database-url", my_pw, "db", cmd],
            )
            .raw()
            .err("Access denied for user 'root'"),
        );
    }
    v.push(
        case(
            "missing postgres database",
            &[
                "--database-url",
                "postgresql://postgres@127.0.0.1/gm_no_such_db",
                "db",
                "sync",
            ],
        )
        .raw()
        .err("database \"gm_no_such_db\" does not exist"),
    );
    v.push(
        case(
            "missing mysql database",
            &[
                "--database-url",
                "mysql://root@127.0.0.1:3306/gm_no_such_db",
                "db",
                "sync",
            ],
        )
        .raw()
        .err("Unknown database 'gm_no_such_db'"),
    );
    v.push(
        case(
            "unresolvable host",
            &[
                "--database-url",
                "mysql://root@gm-no-such-host.invalid/x",
                "db",
                "version",
            ],
        )
        .raw()
        .err("cannot connect to mysql://root@gm-no-such-host.invalid/x"),
    );

    // --- SQLite files that are not (usable) databases ---------------------------------------
    let garbage = "this is not a SQLite database, just text. ".repeat(200);
    v.push(
        case(
            "garbage file: version",
            &[
                "--database-url",
                "sqlite:///{DIR}/garbage.sqlite",
                "db",
                "version",
            ],
        )
        .raw()
        .file("garbage.sqlite", &garbage)
        .err("file is not a database"),
    );
    v.push(
        case(
            "garbage file: sync",
            &[
                "--database-url",
                "sqlite:///{DIR}/garbage.sqlite",
                "db",
                "sync",
            ],
        )
        .raw()
        .file("garbage.sqlite", &garbage)
        .err("file is not a database"),
    );
    v.push(
        case(
            "garbage file: drift",
            &[
                "--database-url",
                "sqlite:///{DIR}/garbage.sqlite",
                "db",
                "drift",
            ],
        )
        .raw()
        .file("garbage.sqlite", &garbage)
        .code(2)
        .err("file is not a database"),
    );
    v.push(
        case(
            "sqlite path is a directory",
            &["--database-url", "sqlite:///{DIR}/adir", "db", "sync"],
        )
        .raw()
        .file("adir/keep", "x")
        .err("cannot connect to sqlite:///"),
    );
    v.push(
        case(
            "sqlite parent missing",
            &[
                "--database-url",
                "sqlite:///{DIR}/no/such/dir/x.sqlite",
                "db",
                "sync",
            ],
        )
        .raw()
        .err("cannot connect to sqlite:///"),
    );
    v.push(
        case(
            "drift on a missing file",
            &[
                "--database-url",
                "sqlite:///{DIR}/missing.sqlite",
                "db",
                "drift",
            ],
        )
        .raw()
        .code(2)
        .err("does not exist"),
    );

    // --- read-only database files -----------------------------------------------------------
    let ro = |name: &str, args: &[&str], dir_mode: u32, msg: &str| {
        let mut c = case(name, args).err(msg);
        c.target = Target::ReadOnly { dir_mode };
        c
    };
    v.push(ro(
        "read-only file and dir: sync",
        &["db", "sync"],
        0o555,
        "readonly",
    ));
    v.push(ro(
        "read-only file and dir: upgrade",
        &["db", "upgrade", "mitaka01"],
        0o555,
        "readonly",
    ));
    v.push(ro(
        "read-only file and dir: expand",
        &["db", "expand"],
        0o555,
        "readonly",
    ));
    v.push(ro(
        "read-only file and dir: version_control",
        &["db", "version_control", "--force", "mitaka01"],
        0o555,
        "readonly",
    ));
    v.push(ro(
        "read-only file, writable dir: sync",
        &["db", "sync"],
        0o777,
        "readonly",
    ));

    // --- config files -----------------------------------------------------------------------
    let cfg = |name: &str, content: &str, msg: &str| {
        case(
            &format!("config {name}"),
            &["--config-file", "{DIR}/glance-api.conf", "db", "version"],
        )
        .raw()
        .file("glance-api.conf", content)
        .err(msg)
    };
    v.push(
        case(
            "config missing",
            &["--config-file", "{DIR}/nope.conf", "db", "version"],
        )
        .raw()
        .err("cannot read config file"),
    );
    v.push(
        case(
            "config is a directory",
            &["--config-file", "{DIR}", "db", "version"],
        )
        .raw()
        .err("cannot read config file"),
    );
    v.push(
        case(
            "config not utf-8",
            &["--config-file", "{DIR}/bin.conf", "db", "version"],
        )
        .raw()
        .file("bin.conf", [0xff, 0xfe, 0x00, 0x5b, 0x80])
        .err("cannot read config file"),
    );
    v.push(cfg(
        "garbage line",
        "[database]\nthis line is garbage\n",
        "line 2: No ':' or '=' found in assignment",
    ));
    v.push(cfg(
        "value before any section",
        "connection = sqlite:////tmp/x.db\n[database]\n",
        "line 1: Section must be started before assignment",
    ));
    v.push(cfg(
        "unterminated section",
        "[database\nconnection = sqlite:////tmp/x.db\n",
        "line 1: Invalid section (must end with ])",
    ));
    v.push(cfg(
        "bad url",
        "[database]\nconnection = not-a-url\n",
        "invalid database URL (9 characters, not shown) from",
    ));
    v.push(cfg(
        "empty url",
        "[database]\nconnection =\n",
        "glance-api.conf:2 is empty",
    ));
    v.push(cfg(
        "unknown dialect",
        "[DEFAULT]\ndebug = true\n[database]\nconnection = db2://u:pw@h/glance\n",
        "unsupported database `db2`",
    ));
    v.push(cfg(
        "nul bytes",
        "[database]\n\0\0\0\n",
        "line 2: No ':' or '=' found in assignment",
    ));
    v.push(
        case(
            "config second file bad",
            &[
                "--config-file",
                "{DIR}/a.conf",
                "--config-file",
                "{DIR}/b.conf",
                "db",
                "version",
            ],
        )
        .raw()
        .file(
            "a.conf",
            "[database]\nconnection = sqlite:////tmp/gm-never-used.sqlite\n",
        )
        .file(
            "b.conf",
            "[database]\nconnection = mysql://u:pw@h:port/glance\n",
        )
        .err("invalid port `port`"),
    );
    v.push(
        case(
            "config without [database] connection fails like Glance",
            &["--config-file", "{DIR}/glance-api.conf", "db", "version"],
        )
        .raw()
        .file(
            "glance-api.conf",
            "[DEFAULT]\ndebug = true\n[glance_store]\nstores = file\n",
        )
        .err("[database] connection is not set in"),
    );
    v.push(
        case(
            "config points at a closed port",
            &["--config-file", "{DIR}/glance-api.conf", "db", "sync"],
        )
        .raw()
        .file(
            "glance-api.conf",
            "[database]\nconnection = mysql+pymysql://glance:pw@127.0.0.1:1/glance?charset=utf8\n",
        )
        .err("cannot connect to mysql://glance:***@127.0.0.1:1/glance"),
    );

    // --- snapshot directories: files --------------------------------------------------------
    v.push(
        case(
            "revisions dir missing",
            &["--revisions", "{DIR}/nope", "db", "history"],
        )
        .err("cannot read revisions directory"),
    );
    v.push(
        case(
            "revisions dir empty",
            &["--revisions", "{DIR}/empty", "db", "history"],
        )
        .file("empty/README", "x")
        .err("no revisions found"),
    );
    v.push(
        case(
            "revisions path is a file",
            &["--revisions", "{DIR}/f.toml", "db", "history"],
        )
        .file("f.toml", "x")
        .err("cannot read revisions directory"),
    );
    v.push(
        case(
            "revision file not utf-8",
            &["--revisions", "{REVS}", "db", "history"],
        )
        .file("revs/r1.toml", b"[revision]\nname = \"r1\xff\"\n")
        .err("r1.toml"),
    );
    v.push(
        case(
            "revision file empty",
            &["--revisions", "{REVS}", "db", "history"],
        )
        .rev("r1", "")
        .err("r1.toml"),
    );
    v.push(snap(
        "bad TOML syntax",
        "[tables.t\ncolumns = []\n",
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "unterminated string",
        "[tables.t]\ncolumns = [ { name = \"id, type = \"integer\" } ]\n",
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "nul byte",
        "[tables.t]\n\0\n",
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "deep nesting",
        &format!("x = {}{}\n", "[".repeat(20000), "]".repeat(20000)),
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "deep inline tables",
        &format!("x = {}1{}\n", "{a=".repeat(20000), "}".repeat(20000)),
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "duplicate table key",
        &format!("{TABLE_T}{TABLE_T}"),
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "unknown section",
        "[tabels.t]\ncolumns = []\n",
        "unknown field `tabels`",
    ));
    v.push(snap(
        "unknown column key",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"integer\", nulable = false } ]\n",
        "unknown field `nulable`",
    ));
    v.push(snap(
        "unknown table key",
        &format!("{TABLE_T}primary = [\"id\"]\n"),
        "unknown field `primary`",
    ));
    v.push(snap("unknown dialect override", "[tables.t]\ncolumns = [ { name = \"id\", type = \"integer\", oracle = { type = \"text\" } } ]\n", "unknown field `oracle`"));
    v.push(snap(
        "unknown type",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"integr\" } ]\n",
        "unknown type `integr`",
    ));
    v.push(snap(
        "varchar2 is not a type",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"varchar2(10)\" } ]\n",
        "varchar2(10)",
    ));
    v.push(snap(
        "string length not a number",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"string(abc)\" } ]\n",
        "string(abc)",
    ));
    v.push(snap(
        "string length negative",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"string(-1)\" } ]\n",
        "string(-1)",
    ));
    v.push(snap(
        "decimal without scale",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"decimal(5)\" } ]\n",
        "decimal(5)",
    ));
    v.push(snap(
        "type is a number",
        "[tables.t]\ncolumns = [ { name = \"id\", type = 5 } ]\n",
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "undeclared enum",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"enum(nope)\" } ]\n",
        "enum type `nope` is not declared",
    ));
    v.push(snap("enum default not a value", "[enums]\ne = [\"a\", \"b\"]\n[tables.t]\ncolumns = [ { name = \"id\", type = \"enum(e)\", default = \"c\" } ]\n", "`c`"));
    v.push(snap(
        "boolean default text",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"boolean\", default = \"yes\" } ]\n",
        "default",
    ));
    v.push(snap(
        "integer default text",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"integer\", default = \"abc\" } ]\n",
        "default",
    ));
    v.push(snap("duplicate column", "[tables.t]\ncolumns = [\n  { name = \"id\", type = \"integer\" },\n  { name = \"id\", type = \"text\" },\n]\n", "duplicate column `id` in table `t`"));
    v.push(snap("duplicate index", &format!("{TABLE_T}indexes = [ {{ name = \"ix\", columns = [\"v\"] }}, {{ name = \"ix\", columns = [\"id\"] }} ]\n"), "`ix`"));
    v.push(snap(
        "index on missing column",
        &format!("{TABLE_T}indexes = [ {{ name = \"ix\", columns = [\"nope\"] }} ]\n"),
        "index on `t` names unknown column `nope`",
    ));
    v.push(snap("primary key on missing column", "[tables.t]\nprimary_key = [\"nope\"]\ncolumns = [ { name = \"id\", type = \"integer\" } ]\n", "nope"));
    v.push(snap("nullable primary key", "[tables.t]\nprimary_key = [\"id\"]\ncolumns = [ { name = \"id\", type = \"integer\", nullable = true } ]\n", "nullable"));
    v.push(snap("autoincrement on text", "[tables.t]\nprimary_key = [\"id\"]\ncolumns = [ { name = \"id\", type = \"string(10)\", nullable = false, autoincrement = true } ]\n", "autoincrement"));
    v.push(snap("fk to missing table", &format!("{TABLE_T}foreign_keys = [ {{ columns = [\"id\"], ref_table = \"ghost\", ref_columns = [\"id\"] }} ]\n"), "references unknown table `ghost`"));
    v.push(snap("fk to missing column", &format!("{TABLE_T}foreign_keys = [ {{ columns = [\"id\"], ref_table = \"t\", ref_columns = [\"nope\"] }} ]\n"), "references unknown column `t.nope`"));
    v.push(snap("fk type mismatch", &format!("{TABLE_T}[tables.c]\ncolumns = [ {{ name = \"tid\", type = \"string(36)\" }} ]\nforeign_keys = [ {{ columns = [\"tid\"], ref_table = \"t\", ref_columns = [\"id\"] }} ]\n"), "foreign key type mismatch"));
    v.push(snap("fk action unknown", &format!("{TABLE_T}[tables.c]\ncolumns = [ {{ name = \"tid\", type = \"integer\" }} ]\nforeign_keys = [ {{ columns = [\"tid\"], ref_table = \"t\", ref_columns = [\"id\"], on_delete = \"explode\" }} ]\n"), "explode"));
    v.push(snap(
        "table name 64 bytes",
        &format!(
            "[tables.{}]\ncolumns = [ {{ name = \"id\", type = \"integer\" }} ]\n",
            "t".repeat(64)
        ),
        "is 64 bytes long",
    ));
    v.push(snap(
        "table name 300 bytes",
        &format!(
            "[tables.{}]\ncolumns = [ {{ name = \"id\", type = \"integer\" }} ]\n",
            "t".repeat(300)
        ),
        "is 300 bytes long",
    ));
    v.push(snap(
        "column name 64 bytes",
        &format!(
            "[tables.t]\ncolumns = [ {{ name = \"{}\", type = \"integer\" }} ]\n",
            "c".repeat(64)
        ),
        "is 64 bytes long",
    ));
    v.push(snap(
        "index name 64 bytes",
        &format!(
            "{TABLE_T}indexes = [ {{ name = \"{}\", columns = [\"v\"] }} ]\n",
            "i".repeat(64)
        ),
        "is 64 bytes long",
    ));
    v.push(snap(
        "multibyte name over 63 bytes",
        &format!(
            "[tables.\"{}\"]\ncolumns = [ {{ name = \"id\", type = \"integer\" }} ]\n",
            "é".repeat(32)
        ),
        "is 64 bytes long",
    ));
    v.push(snap(
        "empty table name",
        "[tables.\"\"]\ncolumns = [ { name = \"id\", type = \"integer\" } ]\n",
        "empty table name",
    ));
    v.push(snap(
        "empty column name",
        "[tables.t]\ncolumns = [ { name = \"\", type = \"integer\" } ]\n",
        "empty column name",
    ));
    v.push(snap(
        "control character in name",
        "[tables.\"a\\u0001b\"]\ncolumns = [ { name = \"id\", type = \"integer\" } ]\n",
        "control character",
    ));
    v.push(snap(
        "newline in column name",
        "[tables.t]\ncolumns = [ { name = \"a\\nb\", type = \"integer\" } ]\n",
        "control character",
    ));
    v.push(snap(
        "table without columns",
        "[tables.t]\ncolumns = []\n",
        "`t`",
    ));
    v.push(snap(
        "data migration without sql",
        &format!("[[data_migrations]]\nname = \"d\"\nphase = \"migrate\"\nsql = []\n\n{TABLE_T}"),
        "r1.toml",
    ));
    v.push(snap("data migration unknown phase", &format!("[[data_migrations]]\nname = \"d\"\nphase = \"later\"\nsql = [\"SELECT 1\"]\n\n{TABLE_T}"), "later"));
    v.push(snap(
        "data migration without name",
        &format!("[[data_migrations]]\nphase = \"migrate\"\nsql = [\"SELECT 1\"]\n\n{TABLE_T}"),
        "name",
    ));
    v.push(
        snap("unknown branch", TABLE_T, "r1.toml")
            .rev(
                "r1",
                &format!(
                    "[revision]\nname = \"r1\"\nparents = []\nbranch = \"sideways\"\n\n{TABLE_T}"
                ),
            )
            .err("unknown branch `sideways`"),
    );
    v.push(
        snap("parents is a string", "", "invalid snapshot TOML").rev(
            "r1",
            &format!("[revision]\nname = \"r1\"\nparents = \"r0\"\n\n{TABLE_T}"),
        ),
    );
    v.push(
        snap("unknown revision key", "", "unknown field `parent`").rev(
            "r1",
            &format!("[revision]\nname = \"r1\"\nparent = []\n\n{TABLE_T}"),
        ),
    );
    v.push(
        snap("invalid revision name", "", "invalid revision name `r-1`").rev(
            "r1",
            &format!("[revision]\nname = \"r-1\"\nparents = []\n\n{TABLE_T}"),
        ),
    );
    v.push(snap("missing [revision]", "", "r1.toml").rev("r1", TABLE_T));

    // --- snapshot directories: the graph ----------------------------------------------------
    let g = |name: &str, files: &[(&str, String)], msg: &str| {
        let mut c = case(
            &format!("graph {name}"),
            &["--revisions", "{REVS}", "db", "history"],
        )
        .err(msg);
        for (n, body) in files {
            c = c.rev(n, body);
        }
        c
    };
    let r = |name: &str, parents: &[&str]| format!("{}{TABLE_T}", header(name, parents));
    v.push(g(
        "file name differs from revision",
        &[("r0", r("r0", &[])), ("r2", r("r1", &["r0"]))],
        "file `r2.toml` declares revision `r1`",
    ));
    v.push(g(
        "duplicate revision name",
        &[
            ("r0", r("r0", &[])),
            ("r1", r("r1", &["r0"])),
            ("r1_copy", r("r1", &["r0"])),
        ],
        "declares revision `r1`",
    ));
    v.push(g(
        "dangling parent",
        &[("r0", r("r0", &[])), ("r1", r("r1", &["ghost"]))],
        "revision `r1` names unknown parent `ghost`",
    ));
    v.push(g("dangling dependency", &[("r0", r("r0", &[])), ("r1", format!("[revision]\nname = \"r1\"\nparents = [\"r0\"]\ndepends_on = [\"ghost\"]\n\n{TABLE_T}"))], "names unknown dependency `ghost`"));
    v.push(g(
        "cycle of two",
        &[
            ("r0", r("r0", &[])),
            ("r1", r("r1", &["r0", "r2"])),
            ("r2", r("r2", &["r1"])),
        ],
        "revision cycle",
    ));
    v.push(g(
        "cycle of three",
        &[
            ("r0", r("r0", &[])),
            ("r1", r("r1", &["r0", "r3"])),
            ("r2", r("r2", &["r1"])),
            ("r3", r("r3", &["r2"])),
        ],
        "revision cycle",
    ));
    v.push(g(
        "self parent",
        &[("r0", r("r0", &["r0"]))],
        "cannot depend on itself",
    ));
    v.push(g(
        "parent listed twice",
        &[("r0", r("r0", &[])), ("r1", r("r1", &["r0", "r0"]))],
        "`r0` is listed twice",
    ));
    v.push(g(
        "two roots",
        &[("r0", r("r0", &[])), ("r1", r("r1", &[]))],
        "have no parents",
    ));
    v.push(g(
        "no root",
        &[("r1", r("r1", &["r2"])), ("r2", r("r2", &["r1"]))],
        "r1",
    ));
    // Broken directories fail every command the same way, before touching the database.
    for (cmd, code) in [
        ("sync", 1),
        ("upgrade", 1),
        ("plan", 1),
        ("drift", 2),
        ("version", 1),
        ("check", 1),
        ("version_control", 1),
        ("purge", 1),
    ] {
        v.push(
            case(
                &format!("broken history: {cmd}"),
                &["--revisions", "{REVS}", "db", cmd],
            )
            .rev("r0", &r("r0", &[]))
            .rev("r1", &r("r1", &["ghost"]))
            .code(code)
            .err("names unknown parent `ghost`")
            .servers(),
        );
    }

    // --- truncated and mutated copies of a real revision ------------------------------------
    for (i, cut) in [
        "{ name = \"image_id\", type = \"str",
        "[tables.image_locations]\nprimary_key = [\"id\"]\nmysql = { engine = \"InnoDB\", charset",
        "indexes = [\n  { name = \"checksum_image_idx\", columns = [\"checksum\"",
        "foreign_keys = [\n  { columns = [\"image_id\"], ref_table = \"images\", ref_columns = [\"id\"] },",
        "[revision]\nname = \"mitaka01\"\npar",
    ]
    .iter()
    .enumerate()
    {
        let at = MITAKA01.find(cut).expect("cut point") + cut.len();
        v.push(
            case(&format!("truncated mitaka01 #{i}"), &["--revisions", "{REVS}", "db", "sync"])
                .rev("liberty", LIBERTY)
                .rev("mitaka01", &MITAKA01[..at])
                .err("mitaka01.toml"),
        );
    }
    for (i, (from, to, msg)) in [
        (
            "type = \"string(36)\"",
            "type = \"strin(36)\"",
            "unknown type `strin(36)`",
        ),
        (
            "ref_table = \"images\"",
            "ref_table = \"imagez\"",
            "references unknown table `imagez`",
        ),
        (
            "parents = [\"liberty\"]",
            "parents = [\"libertee\"]",
            "names unknown parent `libertee`",
        ),
        (
            "nullable = false",
            "nullable = flase",
            "invalid snapshot TOML",
        ),
        (
            "columns = [\"checksum\"]",
            "columns = [\"checksun\"]",
            "unknown column `checksun`",
        ),
    ]
    .iter()
    .enumerate()
    {
        v.push(
            case(
                &format!("mutated mitaka01 #{i}"),
                &["--revisions", "{REVS}", "db", "plan"],
            )
            .rev("liberty", LIBERTY)
            .rev("mitaka01", &MITAKA01.replacen(from, to, 1))
            .err(msg),
        );
    }

    // --- identifiers: SQL special characters and long names are quoted, never injected -----
    let weird = format!(
        "{}[tables.images]\nprimary_key = [\"id\"]\ncolumns = [ {{ name = \"id\", type = \"string(36)\", nullable = false }} ]\n\n\
         [tables.'a\"b;DROP TABLE images;--']\nprimary_key = [\"id\"]\ncolumns = [\n  {{ name = \"id\", type = \"integer\", nullable = false }},\n  \
         {{ name = \"x'); DROP TABLE images; --\", type = \"string(10)\" }},\n  {{ name = \"`c`\", type = \"string(20)\" }},\n  {{ name = \"img\", type = \"string(36)\" }},\n]\n\
         indexes = [ {{ name = \"ix_'q\\\"`; DROP TABLE images; --\", columns = [\"`c`\"] }} ]\n\
         unique = [ {{ name = \"uq_\\\"`;--\", columns = [\"x'); DROP TABLE images; --\"] }} ]\n\
         foreign_keys = [ {{ columns = [\"img\"], ref_table = \"images\", ref_columns = [\"id\"] }} ]\n\
         checks = [ {{ name = \"ck_\\\"`;--\", expr = \"id > 0\" }} ]\n",
        header("r1", &[])
    );
    v.push(
        case(
            "weird identifiers are quoted",
            &["--revisions", "{REVS}", "db", "sync"],
        )
        .rev("r1", &weird)
        .fresh(&[], &[])
        .code(0)
        .out("Database is synced successfully.")
        .post(weird_names_created),
    );
    let long_names = format!(
        "{}[tables.{t}]\nprimary_key = [\"id\"]\ncolumns = [\n  {{ name = \"id\", type = \"integer\", nullable = false }},\n  {{ name = \"{c}\", type = \"string(10)\" }},\n]\nindexes = [ {{ name = \"{i}\", columns = [\"{c}\"] }} ]\n",
        header("r1", &[]),
        t = "t".repeat(63),
        c = "c".repeat(63),
        i = "i".repeat(63)
    );
    v.push(
        case(
            "63-byte names work",
            &["--revisions", "{REVS}", "db", "sync"],
        )
        .rev("r1", &long_names)
        .fresh(&[], &[])
        .code(0)
        .out("Database is synced successfully.")
        .post(long_names_created),
    );
    let keywords = format!(
        "{}[tables.select]\nprimary_key = [\"from\"]\ncolumns = [ {{ name = \"from\", type = \"integer\", nullable = false }}, {{ name = \"where\", type = \"text\" }} ]\nindexes = [ {{ name = \"order\", columns = [\"from\", \"where\"] }} ]\n\n\
         [tables.\"my table.x\"]\ncolumns = [ {{ name = \"a column\", type = \"integer\" }} ]\n\n\
         [tables.\"tâble_ü\"]\ncolumns = [ {{ name = \"çolonne\", type = \"string(5)\" }} ]\n\n\
         [tables.\"a`b\"]\ncolumns = [ {{ name = \"c`d\", type = \"integer\" }} ]\nindexes = [ {{ name = \"ix`e\", columns = [\"c`d\"] }} ]\n",
        header("r1", &[])
    );
    v.push(
        case(
            "keywords, spaces, unicode and backticks",
            &["--revisions", "{REVS}", "db", "sync"],
        )
        .rev("r1", &keywords)
        .fresh(&[], &[])
        .code(0)
        .out("Database is synced successfully.")
        .post(keyword_names_created),
    );

    // --- statements that fail while applying: nothing half-done (SQLite: one transaction) ---
    let bad_check = format!(
        "{}{TABLE_T}checks = [ {{ expr = \"id >>> 0\" }} ]\n",
        header("r1", &[])
    );
    v.push(
        case(
            "invalid check expression",
            &["--revisions", "{REVS}", "db", "sync"],
        )
        .rev("r1", &bad_check)
        .fresh(&[], &[])
        .err("statement failed")
        .post(no_tables),
    );
    let bad_default = format!(
        "{}[tables.t]\ncolumns = [ {{ name = \"at\", type = \"datetime\", default = {{ expr = \"NO_SUCH_FUNCTION(\" }} }} ]\n",
        header("r1", &[])
    );
    v.push(
        case(
            "invalid default expression",
            &["--revisions", "{REVS}", "db", "sync"],
        )
        .rev("r1", &bad_default)
        .fresh(&[], &[])
        .err("statement failed")
        .post(no_tables),
    );
    let r2_bad_data = format!(
        "[revision]\nname = \"r2\"\nparents = [\"r1\"]\n\n[[data_migrations]]\nname = \"boom\"\nphase = \"expand\"\nsql = [\"UPDATE t SET v = 'x'\", \"UPDATE no_such_table SET x = 1\"]\n\n{}",
        TABLE_T.replacen(
            "  { name = \"v\", type = \"string(10)\" },\n",
            "  { name = \"v\", type = \"string(10)\" },\n  { name = \"w\", type = \"integer\" },\n",
            1
        )
    );
    v.push(
        case(
            "failing data migration rolls back",
            &["--revisions", "{REVS}", "db", "sync"],
        )
        .rev("r1", &r("r1", &[]))
        .rev("r2", &r2_bad_data)
        .fresh(&[&["--revisions", "{REVS}", "db", "upgrade", "r1"]], &[])
        .err("statement failed"),
    );

    // --- a database that belongs to another application ------------------------------------
    let other_app: &[&str] = &[
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        "INSERT INTO customers VALUES (1, 'ann'), (2, 'bob')",
    ];
    v.push(
        case("another app: sync leaves its tables alone", &["db", "sync"])
            .fresh(&[], other_app)
            .code(0)
            .err("left alone: drop table customers")
            .post(other_app_survives),
    );
    v.push(
        case("another app: drift", &["db", "drift"])
            .fresh(&[], other_app)
            .code(2)
            .err("has tables but no version rows"),
    );
    v.push(
        case("another app: version_control", &["db", "version_control"])
            .fresh(&[], other_app)
            .err("does not match revision liberty"),
    );
    v.push(
        case("another app: its own alembic revision", &["db", "sync"])
            .fresh(
                &[],
                &[
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
                    "INSERT INTO alembic_version VALUES ('ae1027a6acf')",
                    "CREATE TABLE users (id INTEGER PRIMARY KEY)",
                ],
            )
            .err("`ae1027a6acf`, which this tool does not know"),
    );
    v.push(
        case("another app: its alembic revision, drift", &["db", "drift"])
            .fresh(
                &[],
                &[
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
                    "INSERT INTO alembic_version VALUES ('ae1027a6acf')",
                ],
            )
            .code(2)
            .err("`ae1027a6acf`"),
    );
    v.push(
        case("another app: sqlalchemy-migrate version 1000", &["db", "sync"])
            .fresh(&[], &["CREATE TABLE migrate_version (repository_id VARCHAR(250) NOT NULL PRIMARY KEY, repository_path TEXT, version INTEGER)", "INSERT INTO migrate_version VALUES ('Other', '/x', 1000)", "CREATE TABLE stuff (id INTEGER PRIMARY KEY)"])
            .err("Unknown database state"),
    );
    v.push(
        case("another app: its own images table", &["db", "sync"])
            .fresh(
                &[],
                &[
                    "CREATE TABLE images (id INTEGER PRIMARY KEY, path TEXT NOT NULL)",
                    "INSERT INTO images VALUES (1, '/a.png')",
                ],
            )
            .err("images"),
    );
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
