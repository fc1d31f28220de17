//! `--format`: every command honours the format it is given or refuses it (exit 2, usage), and
//! JSON is one document on stdout with the shape docs/json-output.md documents.

mod common;

use common::{Gm, TestDb, gm, gm_raw};
use serde_json::Value;

fn doc(r: &common::Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{r:?}"))
}

#[test]
fn unsupported_formats_are_refused_with_usage() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:///{}/g.sqlite", dir.path().display());
    let cases: &[&[&str]] = &[
        &["db", "version", "--format", "sql"],
        &["db", "check", "--format", "sql"],
        &["db", "sync", "--format", "sql"],
        &["db", "plan", "--format", "text"],
        &["db", "purge", "--format", "sql"],
        &["--format", "sql", "db", "version"],
        &["--format", "text", "db", "plan"],
        &["--format", "json", "revision", "new", "x"],
    ];
    for args in cases {
        let r = Gm::new().url(&url).args(*args).run();
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("Usage:") || r.stderr.contains("--help"),
            "{args:?}: {r:?}"
        );
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
    }
    // Nothing was created by a refused command.
    assert!(!dir.path().join("g.sqlite").exists());
}

async fn json_documents(dialect: glance_manage::schema::model::Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    // Fresh: version and check on a database that does not exist yet (SQLite) or is empty.
    let v = doc(&gm(&db.url, &["db", "version", "--format", "json"]));
    assert_eq!(v["command"], "version");
    assert_eq!(v["under_control"], false);
    assert_eq!(
        v["heads"],
        serde_json::json!(["2024_1_expand01", "2024_1_contract01"])
    );
    let r = gm(&db.url, &["db", "check", "--format", "json"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(doc(&r)["status"], "expand");

    // sync: the same messages the text form prints, the steps and version changes.
    let text_lines: Vec<String> = {
        let other = TestDb::create(db.dialect).await.expect("second database");
        let t = gm(&other.url, &["db", "sync"]);
        t.stdout.lines().map(String::from).collect()
    };
    let r = gm(&db.url, &["db", "sync", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let s = doc(&r);
    assert_eq!(s["command"], "sync");
    assert_eq!(s["ok"], true);
    let messages: Vec<String> = s["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    assert_eq!(messages, text_lines);
    assert_eq!(s["from"], serde_json::json!([]));
    assert_eq!(s["to"], serde_json::json!(["2024_1_contract01"]));
    let steps = s["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|st| st["summary"] == "create table images"),
        "{s}"
    );
    assert!(
        steps
            .iter()
            .all(|st| st["seconds"].as_f64().unwrap() >= 0.0)
    );

    // At the head: version rows with their branch; check up to date; sync V says so.
    let v = doc(&gm(&db.url, &["db", "version", "--format", "json"]));
    assert_eq!(
        v["rows"],
        serde_json::json!([{"revision": "2024_1_contract01", "branch": "contract", "known": true, "head": true}])
    );
    let r = gm(&db.url, &["db", "check", "--format", "json"]);
    assert_eq!(r.code, 0);
    let c = doc(&r);
    assert_eq!(c["status"], "up_to_date");
    assert_eq!(c["pending"]["contract"], serde_json::json!([]));
    let r = gm(&db.url, &["db", "sync", "2024_1_contract01"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "Database is up to date. No migrations needed.\n"),
        "{r:?}"
    );

    // A refusal: ok false, the exit code and the message in the document; stderr has it too.
    let r = gm(
        &db.url,
        &["db", "sync", "ocata_expand01", "--format", "json"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let f = doc(&r);
    assert_eq!(
        (f["ok"].clone(), f["exit_code"].clone()),
        (Value::Bool(false), 1.into())
    );
    assert!(
        f["error"]
            .as_str()
            .unwrap()
            .contains("Downgrades are not supported"),
        "{f}"
    );
    assert!(r.stderr.contains("Downgrades are not supported"), "{r:?}");

    // history, drift, plan and purge keep their documents.
    assert!(doc(&gm_raw(&["db", "history", "--format", "json"], None)).is_array());
    assert_eq!(
        doc(&gm(&db.url, &["db", "drift", "--format", "json"]))["drift"],
        false
    );
    assert_eq!(
        doc(&gm(&db.url, &["db", "plan", "--format", "json"]))["command"],
        "plan"
    );
    assert_eq!(
        doc(&gm(&db.url, &["db", "purge", "--format", "json"]))["command"],
        "purge"
    );
}

per_dialect!(json_documents);

/// Every option of every command has a description, and a command's help lists only the
/// options it takes: the database options are not in the help of `revision` commands, which
/// never open a database and refuse them (exit 2).
#[test]
fn help_describes_every_option_and_only_those_that_apply() {
    fn walk(c: &clap::Command, path: String, out: &mut Vec<(String, String)>) {
        for a in c.get_arguments() {
            if a.is_hide_set() || ["help", "version"].contains(&a.get_id().as_str()) {
                continue;
            }
            if a.get_help().is_none() {
                out.push((path.clone(), a.get_id().to_string()));
            }
        }
        for s in c.get_subcommands() {
            walk(s, format!("{path} {}", s.get_name()), out);
        }
    }
    let mut cmd = glance_manage::cli::clap_command();
    cmd.build();
    let mut missing = Vec::new();
    walk(&cmd, "glance-manage".into(), &mut missing);
    assert!(
        missing.is_empty(),
        "options without a description: {missing:?}"
    );

    for args in [&["revision", "new", "--help"][..]] {
        let r = gm_raw(args, None);
        assert_eq!(r.code, 0, "{r:?}");
        for opt in [
            "--database-url",
            "--config-file",
            "--config-dir",
            "--lock-timeout",
            "--verbose",
        ] {
            assert!(
                !r.stdout.contains(opt),
                "{args:?} lists {opt}:\n{}",
                r.stdout
            );
        }
    }
    let r = gm_raw(&["db", "sync", "--help"], None);
    assert!(r.stdout.contains("--database-url") && r.stdout.contains("--config-dir"));
    let r = gm_raw(
        &["--database-url", "sqlite:///x.db", "revision", "new", "x"],
        None,
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--database-url does not apply"), "{r:?}");
}
