//! `db purge_images_table` (OSSN-0075) on SQLite, PostgreSQL and MariaDB: after `db purge` with
//! Glance's defaults, it refuses while rows still reference an eligible image, says which tables
//! and whether `db purge` would remove those rows, purges the rest with `--skip-referenced`, and
//! takes the image once its last reference is gone. Seeded data: tests/common/purge.rs.

mod common;

use common::TestDb;
use common::purge::{SEEDED, ago, assert_counts, ids, img, json, ok, run, synced, task};

for_each_backend!(defaults_then_images_table, |db: TestDb| async move {
    let db = synced(db).await;
    // db purge: 30 days, 100 rows. Eligible: ages 400, 200, 40 days. Images untouched.
    let r = ok(&db, &["db", "purge"]);
    assert!(
        r.stdout
            .contains("Deleted 7 row(s) from table image_properties"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Deleted 3 row(s) from table task_info"));
    assert!(r.stdout.contains("Deleted 4 row(s) from table tasks"));
    assert!(!r.stdout.contains("table images\n"));
    assert!(
        r.stderr
            .contains("Purging deleted rows older than 30 day(s) from table tasks")
    );
    // Results once, on stdout; stderr has the progress log, never the same line.
    for line in r.stdout.lines() {
        assert!(!r.stderr.contains(line), "`{line}` on both streams:\n{r:?}");
    }
    assert_counts(&db, "purge", [6, 4, 2, 2, 3, 2, 2]).await;
    assert_eq!(
        ids(&db, "SELECT id FROM tasks ORDER BY id").await,
        vec![task('d'), task('l')]
    );

    // purge_images_table (180 days): a, b, f are eligible; f still has a live tag → refused.
    let r = run(&db.url, &["db", "purge_images_table"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("1 soft-deleted image(s) older than 180 day(s) are still referenced"),
        "{}",
        r.stderr
    );
    // The tag is live: the message says so, and the hint does not send the operator to
    // `db purge`, which would not remove it.
    assert!(
        r.stderr.contains("image_tags: 1 row(s), not soft-deleted"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("`db purge` does not remove rows that are not soft-deleted (image_tags)"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("first to remove the soft-deleted rows"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("image_properties"), "{}", r.stderr);
    assert_counts(&db, "blocked purge_images_table", [6, 4, 2, 2, 3, 2, 2]).await;

    // --skip-referenced: purges a and b, keeps f.
    let rep = json(&db, &["db", "purge_images_table", "--skip-referenced"]);
    assert_eq!(rep["tables"][0]["deleted"], 2);
    assert_eq!(rep["tables"][0]["skipped"], 1);
    assert_counts(
        &db,
        "purge_images_table --skip-referenced",
        [4, 4, 2, 2, 3, 2, 2],
    )
    .await;

    // Once f's tag is soft-deleted long ago and purged, purge_images_table takes f too.
    db.exec(&format!(
        "UPDATE image_tags SET deleted = TRUE, deleted_at = {} WHERE id = 6",
        ago(300, 0)
    ))
    .await;
    let r = ok(&db, &["db", "purge"]);
    assert!(
        r.stdout.contains("Deleted 1 row(s) from table image_tags"),
        "{}",
        r.stdout
    );
    let r = ok(&db, &["db", "purge_images_table"]);
    assert!(
        r.stdout.contains("Deleted 1 row(s) from table images"),
        "{}",
        r.stdout
    );
    assert_counts(&db, "purge_images_table", [3, 4, 2, 2, 2, 2, 2]).await;
    assert_eq!(
        ids(&db, "SELECT id FROM images ORDER BY id").await,
        vec![img('c'), img('d'), img('e')]
    );
});

// purge_images_table before db purge: the 400-day images still have soft-deleted children
// (db purge removes those) and f has a live tag (it does not). The message tells them apart,
// names only tables with referencing rows, and the hint covers both causes.
for_each_backend!(blocked_message_matches_the_cause, |db: TestDb| async move {
    let db = synced(db).await;
    let r = run(
        &db.url,
        &["db", "purge_images_table", "--age_in_days", "300"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    // a: 2 properties, 1 location, 1 member, 1 tag, soft-deleted at 400 days; f: 1 property
    // (soft-deleted) and 1 live tag.
    assert!(
        r.stderr
            .contains("image_properties: 3 row(s), soft-deleted, `db purge` removes them"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("image_tags: 2 row(s), 1 soft-deleted (`db purge` removes them), 1 not"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("run `glance-manage db purge --age_in_days 300 --max_rows -1` first"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("`db purge` does not remove rows that are not soft-deleted (image_tags)"),
        "{r:?}"
    );
    assert!(!r.stderr.contains("task"), "{r:?}");
    assert_counts(&db, "refused purge_images_table", SEEDED).await;
});
