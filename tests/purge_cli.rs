//! `db purge` and `db purge_images_table` options and output on SQLite, PostgreSQL and MariaDB:
//! `--dry-run` against the real run (text and JSON plans), argument validation with Glance's
//! messages before any connection, and progress lines on stderr without a terminal. Seeded
//! data: tests/common/purge.rs.

mod common;

use common::purge::{counts, deleted, json, ok, run, synced};
use common::{Gm, TestDb};

for_each_backend!(dry_run_predicts, |db: TestDb| async move {
    let db = synced(db).await;
    for args in [
        &["db", "purge"][..],
        &["db", "purge", "--age_in_days", "0", "--max_rows", "2"][..],
        &["db", "purge", "--age_in_days", "0", "--max_rows", "-1"][..],
    ] {
        let mut dry = args.to_vec();
        dry.push("--dry-run");
        let before = counts(&db).await;
        let plan = json(&db, &dry);
        assert_eq!(plan["dry_run"], true);
        assert_eq!(counts(&db).await, before, "--dry-run changed nothing");
        let steps: Vec<&str> = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["table"].as_str().unwrap())
            .collect();
        let pos = |t: &str| steps.iter().position(|s| *s == t).unwrap();
        assert!(pos("task_info") < pos("tasks"), "{steps:?}");
        // One DELETE per batch (PostgreSQL wraps it in a CTE of the batch's candidates that
        // returns the counts and the batch's end).
        let delete = plan["steps"][pos("tasks")]["sql"]["delete"]
            .as_str()
            .unwrap();
        assert!(
            delete.starts_with("DELETE ")
                || (delete.starts_with("WITH c AS (SELECT ") && delete.contains(", d AS (DELETE ")),
            "{delete}"
        );
        let real = json(&db, args);
        assert_eq!(deleted(&plan), deleted(&real), "{args:?}");
    }
    // The text plan names the tables in order with their SQL.
    let r = ok(
        &db,
        &[
            "db",
            "purge_images_table",
            "--dry-run",
            "--skip-referenced",
            "--age_in_days",
            "0",
        ],
    );
    assert!(r.stdout.contains("1. images:"), "{}", r.stdout);
    assert!(
        r.stdout.contains("delete:    DELETE ")
            || r.stdout.contains("delete:    WITH c AS (SELECT "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("Would delete 4 row(s) from table images"),
        "{}",
        r.stdout
    );
    assert_eq!(counts(&db).await["images"], 6);
    // A blocked purge_images_table dry run says the real run would refuse.
    let r = run(&db.url, &["db", "purge_images_table", "--dry-run"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("A real run would refuse"), "{}", r.stderr);
});

#[test]
fn bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    // Validation comes before the connection: the database does not even exist.
    let url = format!("sqlite:///{}/none.sqlite", dir.path().display());
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["db", "purge", "abc"],
            1,
            "Invalid int value for age_in_days: abc",
        ),
        (
            &["db", "purge", "1.5"],
            1,
            "Invalid int value for age_in_days: 1.5",
        ),
        (
            &["db", "purge", "abc", "xyz"],
            1,
            "Invalid int value for age_in_days: abc",
        ),
        (
            &["db", "purge", "1", "abcd"],
            1,
            "Invalid int value for max_rows: abcd",
        ),
        (
            &["db", "purge", "-1"],
            1,
            "Must supply a non-negative value for age.",
        ),
        (
            &["db", "purge", "--age_in_days", "-1"],
            1,
            "Must supply a non-negative value for age.",
        ),
        (
            &["db", "purge", "-1", "-5"],
            1,
            "Must supply a non-negative value for age.",
        ),
        (
            &["db", "purge", "100000"],
            1,
            "Maximal age is count of days since epoch.",
        ),
        (
            &["db", "purge_images_table", "--age_in_days", "99999"],
            1,
            "Maximal age is count of days since epoch.",
        ),
        (&["db", "purge", "1", "-2"], 1, "Minimal rows limit is -1."),
        (
            &["db", "purge", "--max_rows", "-2"],
            1,
            "Minimal rows limit is -1.",
        ),
        (
            &["db", "purge", "1", "2147483648"],
            1,
            "'max_rows' value out of range, must not exceed 2147483647.",
        ),
        (
            &["db", "purge_images_table", "--max_rows", "2147483648"],
            1,
            "'max_rows' value out of range, must not exceed 2147483647.",
        ),
        (
            &["db", "purge", "--age_in_days", "abc"],
            2,
            "invalid int value: 'abc'",
        ),
        (
            &["db", "purge", "--max_rows", "1.5"],
            2,
            "invalid int value: '1.5'",
        ),
        (
            &["db", "purge", "10", "--age_in_days", "5"],
            2,
            "cannot be used with",
        ),
        (
            &["db", "purge", "10", "5", "--max_rows", "5"],
            2,
            "cannot be used with",
        ),
        (&["db", "purge", "--batch-size", "0"], 2, "--batch-size"),
        (
            &["db", "purge", "--skip-referenced"],
            2,
            "--skip-referenced applies to `db purge_images_table` only",
        ),
    ];
    for (args, code, msg) in cases {
        let r = run(&url, args);
        assert_eq!(r.code, *code, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(msg),
            "{args:?}: expected {msg:?} in\n{}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    assert!(!dir.path().join("none.sqlite").exists());
    // Valid values get as far as the connection, which reports the missing file.
    let r = run(&url, &["db", "purge", "1", "2147483647"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    let r = run(&url, &["db"]);
    assert!(
        r.stdout
            .contains("\tpurge - Purge deleted rows older than a given age from glance tables.")
    );
    assert!(r.stdout.contains(
        "\tpurge_images_table - Purge deleted rows older than a given age from images table."
    ));
}

// Without a terminal, long purges log their progress on stderr (every few seconds; every batch
// here); stdout keeps the results, and no line appears on both.
for_each_backend!(progress_lines_without_a_terminal, |db: TestDb| async move {
    let db = synced(db).await;
    let r = Gm::new()
        .url(&db.url)
        .args(["db", "purge", "--batch-size", "1"])
        .env("GLANCE_MANAGE_PROGRESS_SECONDS", "0")
        .run();
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.lines().any(|l| l.starts_with("image_properties: ")
            && l.contains(" row(s), ")
            && l.contains("rows/s")),
        "{r:?}"
    );
    for line in r.stdout.lines() {
        assert!(!r.stderr.contains(line), "`{line}` on both streams:\n{r:?}");
    }
    assert!(
        r.stdout
            .contains("Deleted 7 row(s) from table image_properties"),
        "{r:?}"
    );
});
