//! No password in any output: for every command that connects, with a URL carrying a
//! distinctive password — against a closed port, a wrong user or password, through a config
//! file, and on servers where the connection succeeds (then a lock time-out and an injected
//! failure put the URL into error messages) — the password appears in no stdout or stderr,
//! `--format json` included. `DbUrl`'s Display and Debug, URL and config errors and driver
//! connection errors mask it too.

mod common;

use std::path::Path;

use common::{Gm, Run, TestDb};
use glance_manage::config::{self, DbUrl};
use glance_manage::exec::{Conn, OpenMode};
use glance_manage::schema::model::Dialect;

/// Passwords built from distinctive fragments: none of the fragments may ever be printed.
/// The second has every character that ends a URL part early (`?`, `/`, `@`, `#`, `:`).
const PASSWORDS: &[&str] = &["Zq9k7S3cr3tPw", "Xk7b?Wm3c/Vp5d@Ty8e#Qr2f:Hs4g"];
const FRAGMENTS: &[&str] = &[
    "Zq9k7", "S3cr3tPw", "Xk7b", "Wm3c", "Vp5d", "Ty8e", "Qr2f", "Hs4g",
];

/// Commands that open a connection.
const COMMANDS: &[&[&str]] = &[
    &["db", "version"],
    &["db", "check"],
    &["db", "sync"],
    &["db", "upgrade", "mitaka01"],
    &["db", "plan"],
    &["db", "drift"],
    &["db", "purge"],
    &["db", "purge_images_table"],
    &["db", "version_control"],
    &["db", "expand"],
    &["db", "migrate"],
    &["db", "contract"],
];

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn run(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Run {
    // Fault injection needs the test-only binary; the shipped one ignores the variable.
    let g = if env.iter().any(|(k, _)| *k == "GLANCE_MANAGE_FAIL_AFTER") {
        Gm::fault()
    } else {
        Gm::new()
    };
    let mut g = g
        .args(args)
        .dir(dir)
        .env("GLANCE_MANAGE_CONNECT_TIMEOUT", "3");
    for (k, v) in env {
        g = g.env(k, v);
    }
    g.run()
}

fn assert_no_secret(what: &str, text: &str) {
    for f in FRAGMENTS {
        assert!(
            !text.contains(f),
            "{what}: the password (`{f}`) leaked:\n{text}"
        );
    }
    for p in PASSWORDS {
        assert!(
            !text.contains(&percent_encode(p)),
            "{what}: leaked:\n{text}"
        );
    }
}

fn check_run(what: &str, r: &Run) {
    assert_no_secret(what, &r.stdout);
    assert_no_secret(what, &r.stderr);
    assert!(!r.stderr.contains("panicked"), "{what}: {r:?}");
}

/// Every command (or, unless `full`, sync, drift and purge), in text and JSON, against `url`;
/// each must fail (or succeed) with the password masked. Returns the number of runs.
fn all_commands(
    label: &str,
    url_args: &[&str],
    dir: &Path,
    expect_fail: bool,
    full: bool,
) -> usize {
    let mut n = 0;
    for (i, cmd) in COMMANDS.iter().enumerate() {
        if !full && !["sync", "drift", "purge"].contains(&cmd[1]) {
            continue;
        }
        for json in [false, true] {
            // Both formats for half the commands, one (alternating) for the rest.
            if i % 2 == 1 && json != (i % 4 == 1) {
                continue;
            }
            let mut args: Vec<&str> = url_args.to_vec();
            if json {
                args.extend(["--format", "json"]);
            }
            args.extend_from_slice(cmd);
            let r = run(&args, dir, &[]);
            let what = format!("{label}: {args:?}");
            check_run(&what, &r);
            if expect_fail {
                assert_ne!(r.code, 0, "{what}: {r:?}");
                assert!(
                    r.stderr.contains("***") || r.stderr.contains("cannot connect"),
                    "{what}: {r:?}"
                );
            }
            n += 1;
        }
    }
    n
}

#[test]
fn closed_ports_and_config_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for (k, pw) in PASSWORDS.iter().enumerate() {
        for scheme in ["mysql+pymysql", "postgresql"] {
            for encoded in [false, true] {
                let p = if encoded {
                    percent_encode(pw)
                } else {
                    pw.to_string()
                };
                let url = format!("{scheme}://glance:{p}@127.0.0.1:1/glance?charset=utf8");
                let full = k == 1 && !encoded;
                n += all_commands(&url, &["--database-url", &url], dir.path(), true, full);
            }
        }
        // The same URL from a config file (and with the file's later lines).
        let conf = dir.path().join("glance-api.conf");
        std::fs::write(
            &conf,
            format!(
                "[DEFAULT]\ndebug = True\n\n[database]\nconnection = mysql+pymysql://glance:{pw}@127.0.0.1:1/glance\nmax_retries = -1\n"
            ),
        )
        .unwrap();
        let c = conf.display().to_string();
        n += all_commands(
            "config file",
            &["--config-file", &c],
            dir.path(),
            true,
            k == 1,
        );
    }
    assert!(
        n >= 89,
        "{n} runs (README \"Guarantees\" counts at least 89)"
    );
    eprintln!("{n} runs against closed ports and config files");
}

#[test]
fn invalid_urls_never_echo_the_password() {
    let dir = tempfile::tempdir().unwrap();
    for pw in PASSWORDS {
        let urls = [
            format!("oracle://glance:{pw}@db/glance"),
            format!("mysql://glance:{pw}@db:notaport/glance"),
            format!("mysql://glance:{pw}@db:99999/glance"),
            format!("mysql://glance:{pw}@db/"),
            format!("mysql://glance:{pw}@[::1/glance"),
            format!("mysql://glance:{pw}@[::1]x/glance"),
            format!("mysql//glance:{pw}@db/glance"),
            format!("glance:{pw}@db/glance"),
            format!("postgresql://glance:{pw}@"),
        ];
        for u in &urls {
            let r = run(&["--database-url", u, "db", "version"], dir.path(), &[]);
            assert_eq!(r.code, 1, "{u}: {r:?}");
            check_run(u, &r);
            let e = DbUrl::parse(u).expect_err(u);
            assert_no_secret(u, &e.to_string());
            assert_no_secret(u, &format!("{e:?}"));
            // The same through a config file.
            let conf = dir.path().join("c.conf");
            std::fs::write(&conf, format!("[database]\nconnection = {u}\n")).unwrap();
            let e = config::Config::load(
                &[config::CliSource::File(conf.clone())],
                config::Environment::default(),
            )
            .and_then(|c| config::resolve(None, &c))
            .unwrap_err();
            assert_no_secret(u, &e.to_string());
            assert_no_secret(u, &format!("{e:?}"));
        }
    }
}

#[test]
fn display_and_debug_mask_the_password() {
    for pw in PASSWORDS {
        for form in [pw.to_string(), percent_encode(pw)] {
            for url in [
                format!("mysql+pymysql://glance:{form}@controller:3306/glance?charset=utf8"),
                format!("postgresql+psycopg2://glance:{form}@controller/glance"),
                format!("mariadb://glance:{form}@[fd00::1]:3306/glance"),
                format!("postgres://glance:{form}@/glance?host=/var/run/postgresql"),
            ] {
                let u = DbUrl::parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
                assert_eq!(u.password.as_deref(), Some(*pw), "{url}");
                let shown = format!("{u} {u:?} {:?}", Some(&u));
                assert_no_secret(&url, &shown);
                assert!(shown.contains("glance:***@"), "{shown}");
                assert_no_secret(&url, &config::redact_raw(&url));
            }
        }
    }
}

#[tokio::test]
async fn driver_connection_errors_are_masked() {
    for pw in PASSWORDS {
        for url in [
            format!("mysql://root:{}@127.0.0.1:3306/mysql", percent_encode(pw)),
            format!(
                "postgresql://gm_nosuch:{}@127.0.0.1/postgres",
                percent_encode(pw)
            ),
            format!("mysql://root:{}@127.0.0.1:1/mysql", percent_encode(pw)),
        ] {
            let u = DbUrl::parse(&url).unwrap();
            match Conn::connect(&u, OpenMode::Existing).await {
                Ok(c) => {
                    c.close().await;
                    panic!("{url} connected");
                }
                Err(e) => {
                    assert_no_secret(&url, &e.to_string());
                    assert_no_secret(&url, &format!("{e:?}"));
                    assert_no_secret(&url, &common::render_diagnostic(&e));
                }
            }
        }
    }
}

#[test]
fn wrong_credentials_on_the_servers() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for (k, pw) in PASSWORDS.iter().enumerate() {
        let p = percent_encode(pw);
        for (i, url) in [
            format!("postgresql://nosuch:{p}@127.0.0.1/postgres"),
            format!("postgresql://nosuch:{pw}@127.0.0.1:5432/postgres"),
            format!("mysql://root:{p}@127.0.0.1:3306/mysql"),
            format!("mysql+pymysql://root:{pw}@127.0.0.1/mysql"),
        ]
        .iter()
        .enumerate()
        {
            let full = k == 1 && i % 2 == 1;
            n += all_commands(url, &["--database-url", url], dir.path(), true, full);
        }
    }
    assert!(
        n >= 66,
        "{n} runs (README \"Guarantees\" counts at least 66)"
    );
    eprintln!("{n} runs with wrong credentials");
}

/// Connections that succeed with a password in the URL: PostgreSQL (trust authentication
/// accepts any password) and a MariaDB user created with the password. Every command runs;
/// a held lock and an injected failure put the URL into error messages.
async fn successful_connections(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pw = PASSWORDS[1];
    let (url, user) = match dialect {
        Dialect::Postgres => (
            format!(
                "postgresql://postgres:{}@127.0.0.1:5432/{}",
                percent_encode(pw),
                db.name
            ),
            None,
        ),
        _ => {
            let user = format!("gm_sec_{}", std::process::id());
            let mut admin = Conn::connect(&db.db_url(), OpenMode::Existing)
                .await
                .unwrap();
            let lit = glance_manage::sql::literal(Dialect::Mysql, pw);
            admin
                .execute(&format!("DROP USER IF EXISTS '{user}'@'%'"))
                .await
                .unwrap();
            admin
                .execute(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY {lit}"))
                .await
                .unwrap();
            admin
                .execute(&format!("GRANT ALL ON `{}`.* TO '{user}'@'%'", db.name))
                .await
                .unwrap();
            admin.close().await;
            (
                format!("mysql+pymysql://{user}:{pw}@127.0.0.1:3306/{}", db.name),
                Some(user),
            )
        }
    };
    let n = all_commands(
        &format!("{dialect} success"),
        &["--database-url", &url],
        dir.path(),
        false,
        true,
    );
    let v = run(&["--database-url", &url, "db", "version"], dir.path(), &[]);
    assert_eq!((v.code, v.stdout.trim()), (0, "2024_1_contract01"), "{v:?}");
    // An injected failure mid-upgrade.
    let fresh = TestDb::create(dialect).await.unwrap();
    let furl = url.replace(&db.name, &fresh.name);
    if dialect == Dialect::Mysql {
        let mut admin = Conn::connect(&fresh.db_url(), OpenMode::Existing)
            .await
            .unwrap();
        admin
            .execute(&format!(
                "GRANT ALL ON `{}`.* TO '{}'@'%'",
                fresh.name,
                user.as_deref().unwrap()
            ))
            .await
            .unwrap();
        admin.close().await;
    }
    let f = run(
        &["--database-url", &furl, "db", "sync"],
        dir.path(),
        &[("GLANCE_MANAGE_FAIL_AFTER", "3")],
    );
    assert_eq!(f.code, 1, "{f:?}");
    check_run("injected failure", &f);
    // A lock held by someone else: the time-out message names the database.
    let mut holder = Conn::connect(&db.db_url(), OpenMode::Existing)
        .await
        .unwrap();
    let key = glance_manage::sql::literal(dialect, &format!("glance-manage:{}", db.name));
    let take = match dialect {
        Dialect::Postgres => format!("SELECT pg_advisory_lock(hashtext({key}))"),
        _ => format!("SELECT GET_LOCK({key}, 5)"),
    };
    holder.execute(&take).await.unwrap();
    let l = run(
        &[
            "--database-url",
            &url,
            "--lock-timeout",
            "1",
            "db",
            "upgrade",
        ],
        dir.path(),
        &[],
    );
    holder.close().await;
    assert_eq!(l.code, 1, "{l:?}");
    assert!(l.stderr.contains("another glance-manage run"), "{l:?}");
    assert!(l.stderr.contains(":***@"), "{l:?}");
    check_run("lock time-out", &l);
    if let Some(u) = user {
        let mut admin = Conn::connect(&db.db_url(), OpenMode::Existing)
            .await
            .unwrap();
        let _ = admin
            .execute(&format!("DROP USER IF EXISTS '{u}'@'%'"))
            .await;
        admin.close().await;
    }
    assert!(
        n >= 18,
        "{dialect}: {n} runs (README \"Guarantees\" counts at least 18)"
    );
    eprintln!("{dialect}: {n} successful runs with a password in the URL");
}

per_dialect!(servers: successful_connections_on_servers => successful_connections());
