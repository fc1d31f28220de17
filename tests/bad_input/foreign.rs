//! Databases that belong to another application: its tables are left alone.

use super::*;

pub(super) fn cases(v: &mut Vec<Case>) {
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
