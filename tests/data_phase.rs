//! Data migrations belong to the migrate phase, on SQLite, PostgreSQL and MariaDB.
//!
//! An upgrade whose target is an expand-branch revision applies that branch's DDL and changes
//! no row, as Glance's does (its `ocata_expand01` only adds `visibility`, its `train_expand01`
//! is empty): the Ocata `visibility` values and Train's `"backend":` → `"store":` wait for
//! `db migrate`, or for an upgrade whose target applies the contract revision that needs them
//! (`ocata_contract01` drops `is_public`, which the Ocata migration reads). `db check` answers 4
//! while they are owed.

mod common;

use common::{TestDb, gm, seed_liberty_images};

const E: &str = "2024_1_expand01";
const C: &str = "2024_1_contract01";

/// A location whose metadata still uses Train's old `backend` key.
async fn seed_backend_location(db: &TestDb) {
    db.exec(
        "INSERT INTO image_locations (image_id, value, created_at, deleted, meta_data, status) VALUES \
         ('img-public', 'file:///img-public', '2015-10-01 00:00:00', FALSE, '{\"backend\": \"fast\"}', 'active')",
    )
    .await;
}

/// `visibility` of every image, by id.
async fn visibility(db: &TestDb) -> Vec<(String, String)> {
    db.rows("SELECT id, visibility FROM images ORDER BY id")
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

fn all_null(v: &[(String, String)]) -> bool {
    v.len() == 4 && v.iter().all(|(_, vis)| vis == "NULL")
}

const MIGRATED: [(&str, &str); 4] = [
    ("img-gone-member", "private"),
    ("img-private", "private"),
    ("img-public", "public"),
    ("img-shared", "shared"),
];

fn migrated(v: &[(String, String)]) -> bool {
    v.iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .eq(MIGRATED.iter().copied())
}

async fn meta_data(db: &TestDb) -> String {
    db.rows("SELECT meta_data FROM image_locations").await[0][0].clone()
}

async fn at_mitaka02_with_rows(db: &TestDb) {
    assert_eq!(gm(&db.url, &["db", "upgrade", "mitaka02"]).code, 0);
    seed_liberty_images(db).await;
    seed_backend_location(db).await;
}

fn check(db: &TestDb) -> i32 {
    gm(&db.url, &["db", "check"]).code
}

for_each_backend!(
    upgrade_to_expand_revisions_leaves_rows_for_migrate,
    |db: TestDb| async move {
        at_mitaka02_with_rows(&db).await;

        // The plan says what it leaves for `db migrate` and runs no data step.
        let plan = gm(&db.url, &["db", "plan", "ocata_expand01"]);
        assert_eq!(plan.code, 0, "{plan:?}");
        assert!(!plan.stdout.contains("-- phase: migrate"), "{plan:?}");
        assert!(
            plan.stdout.contains(
                "-- left for `db migrate`: data migration ocata_migrate01_community_images (ocata_expand01)"
            ),
            "{plan:?}"
        );

        let json = gm(
            &db.url,
            &["db", "plan", "ocata_expand01", "--format", "json"],
        );
        let j: serde_json::Value = serde_json::from_str(&json.stdout).expect("plan JSON");
        assert_eq!(
            j["left_for_migrate"],
            serde_json::json!(["ocata_migrate01_community_images"])
        );
        assert!(
            !j["steps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["kind"] == "data"),
            "{j}"
        );

        let r = gm(&db.url, &["db", "upgrade", "ocata_expand01"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(!r.stdout.contains("Migrated"), "{r:?}");
        assert!(
            all_null(&visibility(&db).await),
            "{:?}",
            visibility(&db).await
        );
        // Not at the expand head yet: expand is the next step, as in Glance.
        assert_eq!(check(&db), 3);

        let r = gm(&db.url, &["db", "upgrade", "train_expand01"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(meta_data(&db).await, "{\"backend\": \"fast\"}");

        let r = gm(&db.url, &["db", "upgrade", E]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(db.version_rows().await, vec![E]);
        assert!(all_null(&visibility(&db).await));
        assert_eq!(meta_data(&db).await, "{\"backend\": \"fast\"}");
        let c = gm(&db.url, &["db", "check"]);
        assert_eq!(
            (c.code, c.stdout.as_str()),
            (
                4,
                "Your database is not up to date. Your next step is to run `glance-manage db migrate`.\n"
            )
        );
        let refused = gm(&db.url, &["db", "contract"]);
        assert_eq!(refused.code, 1, "{refused:?}");

        let m = gm(&db.url, &["db", "migrate"]);
        assert_eq!(
            (m.code, m.stdout.as_str()),
            (0, "Migrated 5 rows\n"),
            "{m:?}"
        );
        assert!(
            migrated(&visibility(&db).await),
            "{:?}",
            visibility(&db).await
        );
        assert_eq!(meta_data(&db).await, "{\"store\": \"fast\"}");
        assert_eq!(check(&db), 5);
        assert_eq!(gm(&db.url, &["db", "contract"]).code, 0);
        assert_eq!(db.version_rows().await, vec![C]);
        assert_eq!(gm(&db.url, &["db", "drift"]).code, 0);
    }
);

for_each_backend!(db_expand_leaves_rows_for_migrate, |db: TestDb| async move {
    at_mitaka02_with_rows(&db).await;
    let r = gm(&db.url, &["db", "expand"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(all_null(&visibility(&db).await));
    assert_eq!(meta_data(&db).await, "{\"backend\": \"fast\"}");
    assert_eq!(check(&db), 4);
    assert_eq!(gm(&db.url, &["db", "migrate"]).code, 0);
    assert!(migrated(&visibility(&db).await));
    assert_eq!(check(&db), 5);
});

for_each_backend!(
    an_upgrade_through_the_contract_revision_migrates,
    |db: TestDb| async move {
        at_mitaka02_with_rows(&db).await;
        assert_eq!(gm(&db.url, &["db", "upgrade", "ocata_expand01"]).code, 0);
        assert!(all_null(&visibility(&db).await));

        // ocata_contract01 drops is_public, which the Ocata migration reads: it runs first.
        let plan = gm(&db.url, &["db", "plan", "ocata_contract01"]);
        assert!(
            plan.stdout
                .contains("-- data migration ocata_migrate01_community_images (ocata_expand01)"),
            "{plan:?}"
        );
        let r = gm(&db.url, &["db", "upgrade", "ocata_contract01"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains("Migrated 4 rows"), "{r:?}");
        assert!(migrated(&visibility(&db).await));
        // Train's contract revision is not applied: its migration still waits.
        assert_eq!(meta_data(&db).await, "{\"backend\": \"fast\"}");

        // The default target (the contract head) needs them all.
        let r = gm(&db.url, &["db", "upgrade"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains("Migrated 1 rows"), "{r:?}");
        assert_eq!(meta_data(&db).await, "{\"store\": \"fast\"}");
        assert_eq!(db.version_rows().await, vec![C]);
        assert_eq!(gm(&db.url, &["db", "drift"]).code, 0);
    }
);
