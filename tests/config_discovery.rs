//! Configuration discovery matches oslo.config as Glance uses it.
//!
//! `fixtures/config-discovery/cases.json` describes configuration trees (files under a fake
//! home and root, environment variables, `--config-file`/`--config-dir` arguments);
//! `expected.json` holds what the real oslo.config picked for each (written by
//! `tests/oslo_config/crosscheck.py` from a venv with Glance 33.0.0). Each case is rebuilt here
//! and our resolver must read the same values. Then the binary, end to end: the default
//! notice, `--verbose`, the failure when configuration sets no connection, and quoted URLs in
//! `/etc/glance/glance-api.conf` driving a real `db sync` on every backend.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::host::FakeHost;
use glance_manage::config::{self, CliSource, Config, ConfigError, Environment, Origin};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    files: BTreeMap<String, String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    snap: bool,
}

#[derive(Deserialize, Debug)]
struct Expected {
    connection: Option<String>,
    mysql_wsrep_sync_wait: Option<u32>,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/config-discovery")
}

fn cli_sources(args: &[String], t: &str) -> Vec<CliSource> {
    args.chunks(2)
        .map(|pair| {
            let value = PathBuf::from(pair[1].replace("{t}", t));
            match pair[0].as_str() {
                "--config-file" => CliSource::File(value),
                "--config-dir" => CliSource::Dir(value),
                other => panic!("unexpected argument {other}"),
            }
        })
        .collect()
}

#[test]
fn every_tree_resolves_as_oslo_config_does() {
    let cases: Vec<Case> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap())
            .unwrap();
    let expected: BTreeMap<String, Expected> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    assert_eq!(cases.len(), expected.len(), "regenerate expected.json");
    assert_eq!(cases.len(), 32, "README.md counts the trees");
    for case in &cases {
        let want = &expected[&case.name];
        let host = FakeHost::new();
        for (rel, text) in &case.files {
            host.write(rel, text);
        }
        let t = host.path().display().to_string();
        let env = Environment {
            home: Some(host.home()),
            root: host.root(),
            snap: case.snap.then(|| host.path().join("snap")),
            snap_common: case.snap.then(|| host.path().join("snap_common")),
            os_vars: case.env.clone().into_iter().collect(),
        };
        let cfg = Config::load(&cli_sources(&case.args, &t), env)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let got = cfg.get("database", "connection").map(|s| s.value);
        assert_eq!(got, want.connection, "{}: connection", case.name);
        let wait = cfg
            .get("database", "mysql_wsrep_sync_wait")
            .map(|s| s.value.parse::<u32>().unwrap());
        assert_eq!(wait, want.mysql_wsrep_sync_wait, "{}: wsrep", case.name);

        // What resolution makes of it: a URL, the embedded default only when nothing is
        // configured, and a failure when configuration exists without a connection.
        let resolved = config::resolve(None, &cfg);
        match (&want.connection, case.name.as_str()) {
            (None, "nothing_at_all") => {
                assert_eq!(resolved.unwrap().origin, Origin::EmbeddedDefault)
            }
            (None, _) => assert!(
                matches!(resolved, Err(ConfigError::NoConnection { .. })),
                "{}: {resolved:?}",
                case.name
            ),
            (Some(v), _) if v.is_empty() => assert!(
                matches!(resolved, Err(ConfigError::EmptyConnection { .. })),
                "{}",
                case.name
            ),
            (Some(v), _) if v.contains('\n') => {
                // A continuation line makes the URL a different (and here odd) SQLite path,
                // exactly as SQLAlchemy would read it; it must not be silently truncated.
                let r = resolved.unwrap();
                assert!(r.url.database.contains('\n'), "{}", case.name);
            }
            (Some(_), _) => {
                let r = resolved.unwrap_or_else(|e| panic!("{}: {e}", case.name));
                let from_env = case.env.contains_key("OS_DATABASE__CONNECTION");
                match &r.origin {
                    Origin::Environment(v) => {
                        assert!(from_env, "{}", case.name);
                        assert_eq!(v, "OS_DATABASE__CONNECTION");
                    }
                    Origin::File { path, line } => {
                        assert!(!from_env, "{}", case.name);
                        let text = std::fs::read_to_string(path).unwrap();
                        let l = text.lines().nth(line - 1).unwrap();
                        assert!(l.starts_with("connection"), "{}: {l}", case.name);
                    }
                    o => panic!("{}: origin {o:?}", case.name),
                }
            }
        }
    }
}

#[test]
fn the_embedded_default_is_announced_and_only_used_without_any_configuration() {
    let host = FakeHost::new();
    let r = host.run(&["db", "version"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("no Glance configuration found")
            && r.stderr
                .contains(&host.work().join("glance.sqlite").display().to_string()),
        "{r:?}"
    );
    // Results stay on stdout, the notice only on stderr.
    assert!(!r.stdout.contains("no Glance configuration"), "{r:?}");

    // A glance-api.conf without [database] connection: exit 1, the file named, no SQLite
    // file created, no fallback.
    let conf = host.write(
        "root/etc/glance/glance-api.conf",
        "[DEFAULT]\ndebug = true\n",
    );
    for args in [&["db", "sync"][..], &["db", "version"], &["db", "check"]] {
        let r = host.run(args);
        assert_eq!(r.code, 1, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("no database connection configured")
                && r.stderr.contains(&conf.display().to_string()),
            "{r:?}"
        );
        assert!(!host.work().join("glance.sqlite").exists());
    }
    // An empty conf.d directory is a Glance install too.
    std::fs::remove_file(&conf).unwrap();
    std::fs::create_dir_all(host.root().join("etc/glance/glance-api.conf.d")).unwrap();
    let r = host.run(&["db", "sync"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("glance-api.conf.d"), "{r:?}");
    assert!(!host.work().join("glance.sqlite").exists());
    // Commands that never open the database do not care.
    let r = host.run(&["db", "history"]);
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn bad_configuration_is_a_clear_error_without_the_password() {
    let host = FakeHost::new();
    host.write(
        "root/etc/glance/glance-api.conf",
        "[database]\npassword S3cretPw\n",
    );
    let r = host.run(&["db", "version"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("line 2"), "{r:?}");
    assert!(
        r.stderr.contains("No ':' or '=' found in assignment"),
        "{r:?}"
    );
    assert!(!r.stderr.contains("S3cretPw") && !r.stdout.contains("S3cretPw"));

    host.write(
        "root/etc/glance/glance-api.conf",
        "[database]\nconnection = oracle://glance:S3cretPw@ctl/glance\n",
    );
    let r = host.run(&["-v", "db", "version"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("glance-api.conf:2"), "{r:?}");
    assert!(!r.stderr.contains("S3cretPw") && !r.stdout.contains("S3cretPw"));

    // --verbose names the database with the password masked, before connecting fails.
    host.write(
        "root/etc/glance/glance-api.conf",
        "[database]\nconnection = mysql+pymysql://glance:S3cretPw@127.0.0.1:1/glance\n",
    );
    let r = host.run(&["-v", "db", "version"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("using mysql://glance:***@127.0.0.1:1/glance from "),
        "{r:?}"
    );
    assert!(!r.stderr.contains("S3cretPw") && !r.stdout.contains("S3cretPw"));

    let r = host.run(&["--config-dir", "/nonexistent/glance.d", "db", "version"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("/nonexistent/glance.d"), "{r:?}");
    let r = host.run(&["--config-file", "/nonexistent/x.conf", "db", "version"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("/nonexistent/x.conf"), "{r:?}");
}

/// Glance's own deployment layout, quoted URL and a continuation comment included, drives a
/// real sync on each backend; `--verbose` names the database and the file it came from.
async fn controller_layout(db: common::TestDb) {
    let host = FakeHost::new();
    let conf = host.write(
        "root/etc/glance/glance-api.conf",
        &format!(
            "[DEFAULT]\ndebug = False\n\n[database]\n# the cluster VIP\nconnection = \"{}\"\nmax_retries = -1\n",
            db.url
        ),
    );
    let r = host.run(&["--verbose", "db", "sync"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("Database is synced successfully."),
        "{r:?}"
    );
    let shown = db.db_url().to_string();
    assert!(
        r.stderr
            .contains(&format!("using {shown} from {}:6", conf.display())),
        "{r:?}"
    );
    assert_eq!(db.version_rows().await, ["2024_1_contract01"]);

    // The environment wins over the files (oslo.config's environment source).
    let other = FakeHost::new();
    other.write(
        "root/etc/glance/glance-api.conf",
        "[database]\nconnection = sqlite:///must-not-be-used.sqlite\n",
    );
    let mut other = other;
    other
        .env
        .push(("OS_DATABASE__CONNECTION".into(), db.url.clone()));
    let r = other.run(&["-v", "db", "version"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.trim(), "2024_1_contract01", "{r:?}");
    assert!(
        r.stderr
            .contains("from environment variable OS_DATABASE__CONNECTION"),
        "{r:?}"
    );
    assert!(!other.work().join("must-not-be-used.sqlite").exists());
}

for_each_backend!(controller, controller_layout);
