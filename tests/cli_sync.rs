//! `db sync`, `upgrade`, `version`, `version_control`, `expand`/`migrate`/`contract`/`check`
//! and legacy databases, through the built binary, on SQLite, PostgreSQL and MariaDB.

mod common;

use common::{TestDb, gm, gm_fail_after, seed_liberty_images};
use glance_manage::schema::model::Dialect;

const E: &str = "2024_1_expand01";
const C: &str = "2024_1_contract01";

/// `renamed`: whether mitaka02's metadef rename ran after the rows were seeded.
async fn assert_rows_kept_and_visibility(db: &TestDb, renamed: bool) {
    let rows = db
        .rows("SELECT id, visibility, min_disk, min_ram FROM images ORDER BY id")
        .await;
    let got: Vec<(String, String)> = rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    assert_eq!(
        got,
        vec![
            ("img-gone-member".to_string(), "private".to_string()),
            ("img-private".to_string(), "private".to_string()),
            ("img-public".to_string(), "public".to_string()),
            ("img-shared".to_string(), "shared".to_string()),
        ]
    );
    assert_eq!(rows[0][2], "1");
    assert_eq!(rows[0][3], "2");
    assert_eq!(db.count("SELECT COUNT(*) FROM image_members").await, 2);
    assert_eq!(db.count("SELECT COUNT(*) FROM image_properties").await, 1);
    // mitaka02's data step renames the metadef resource type.
    let (server, instance) = if renamed { (1, 0) } else { (0, 1) };
    assert_eq!(
        db.count("SELECT COUNT(*) FROM metadef_resource_types WHERE name = 'OS::Nova::Server'")
            .await,
        server
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM metadef_resource_types WHERE name = 'OS::Nova::Instance'")
            .await,
        instance
    );
}

fn no_drift(url: &str) {
    let r = gm(url, &["db", "drift"]);
    assert_eq!(r.code, 0, "drift after sync:\n{}\n{}", r.stdout, r.stderr);
}

for_each_backend!(fresh_sync_prints_glances_lines, |db: TestDb| async move {
    let r = gm(&db.url, &["db", "sync"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.lines(),
        vec![
            "Upgraded database to: 2024_1_expand01, current revision(s): 2024_1_expand01",
            "Database migration is up to date. No migration needed.",
            "Upgraded database to: 2024_1_contract01, current revision(s): 2024_1_contract01",
            "Database is synced successfully.",
        ]
    );
    assert_eq!(db.version_rows().await, vec![C]);
    let v = gm(&db.url, &["db", "version"]);
    assert_eq!((v.code, v.stdout.as_str()), (0, "2024_1_contract01\n"));
    let again = gm(&db.url, &["db", "sync"]);
    assert_eq!(
        (again.code, again.stdout.as_str()),
        (0, "Database is up to date. No migrations needed.\n")
    );
    let check = gm(&db.url, &["db", "check"]);
    assert_eq!(
        (check.code, check.stdout.as_str()),
        (0, "Database is up to date. No upgrades needed.\n")
    );
    no_drift(&db.url);
    // The legacy underscore form works too.
    let legacy = gm(&db.url, &["db_version"]);
    assert_eq!(legacy.stdout, "2024_1_contract01\n");
});

for_each_backend!(
    version_on_a_fresh_database_creates_nothing,
    |db: TestDb| async move {
        if db.dialect == Dialect::Sqlite {
            let path = db.url.trim_start_matches("sqlite:///").to_string();
            let r = gm(&db.url, &["db", "version"]);
            assert_eq!(r.code, 0);
            assert!(r.stdout.contains("not under migration control"), "{r:?}");
            assert!(
                !std::path::Path::new(&path).exists(),
                "db version created the SQLite file"
            );
            return;
        }
        let r = gm(&db.url, &["db", "version"]);
        assert_eq!(r.code, 0);
        assert!(
            r.stdout
                .starts_with("Database is either not under migration control"),
            "{r:?}"
        );
        assert_eq!(db.table_count().await, 0);
        let c = gm(&db.url, &["db", "check"]);
        assert_eq!(c.code, 3, "{c:?}");
        assert_eq!(db.table_count().await, 0);
    }
);

for_each_backend!(partial_upgrade_then_sync, |db: TestDb| async move {
    let r = gm(&db.url, &["db", "upgrade", "rocky_expand02"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.lines().last().copied(),
        Some("Upgraded database to: rocky_expand02, current revision(s): rocky_expand02")
    );
    assert_eq!(db.version_rows().await, vec!["rocky_expand02"]);
    no_drift(&db.url);
    let r = gm(&db.url, &["db", "upgrade", "--version", "ocata_contract01"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        db.version_rows().await,
        vec!["ocata_contract01", "rocky_expand02"]
    );
    no_drift(&db.url);
    let r = gm(&db.url, &["db", "sync"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(db.version_rows().await, vec![C]);
    no_drift(&db.url);
});

for_each_backend!(rolling_upgrade_check_codes, |db: TestDb| async move {
    // A database with image rows at mitaka02 (the last pre-Ocata revision).
    assert_eq!(gm(&db.url, &["db", "upgrade", "mitaka02"]).code, 0);
    seed_liberty_images(&db).await;
    assert_eq!(gm(&db.url, &["db", "check"]).code, 3);

    let r = gm(&db.url, &["db", "expand"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        format!("Upgraded database to: {E}, current revision(s): {E}\n")
    );
    assert_eq!(db.version_rows().await, vec![E]);
    // The expand head's schema is there exactly (on SQLite: images rebuilt without its CHECKs).
    no_drift(&db.url);
    let again = gm(&db.url, &["db", "expand"]);
    assert_eq!(
        again.stdout,
        "Database expansion is up to date. No expansion needed.\n"
    );

    // Old rows have no visibility yet: migrate is the next step. JSON says what is pending.
    let j = gm(&db.url, &["db", "check", "--format", "json"]);
    assert_eq!(j.code, 4, "{j:?}");
    let v: serde_json::Value = serde_json::from_str(&j.stdout).expect("one JSON document");
    assert_eq!(v["status"], "migrate");
    assert_eq!(v["exit_code"], 4);
    assert_eq!(v["pending"]["expand"], serde_json::json!([]));
    assert_eq!(
        v["pending"]["migrate"],
        serde_json::json!([{"revision": "ocata_expand01", "name": "ocata_migrate01_community_images", "rows": 4}])
    );
    assert_eq!(v["pending"]["contract"][0], "ocata_contract01");
    assert_eq!(v["rows"][0]["revision"], E);
    assert_eq!(v["rows"][0]["branch"], "expand");
    let c = gm(&db.url, &["db", "check"]);
    assert_eq!(
        (c.code, c.stdout.as_str()),
        (
            4,
            "Your database is not up to date. Your next step is to run `glance-manage db migrate`.\n"
        )
    );
    let refused = gm(&db.url, &["db", "contract"]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("Database contraction did not run. Database contraction cannot be run before data migration is complete."), "{refused:?}");

    let m = gm(&db.url, &["db", "migrate", "--format", "json"]);
    assert_eq!(m.code, 0, "{m:?}");
    let v: serde_json::Value = serde_json::from_str(&m.stdout).expect("one JSON document");
    assert_eq!(v["ok"], true);
    assert_eq!(v["messages"], serde_json::json!(["Migrated 4 rows"]));
    assert_eq!(v["data_migrations"][0]["rows"], 4);
    let m2 = gm(&db.url, &["db", "migrate"]);
    assert_eq!(
        m2.stdout,
        "Database migration is up to date. No migration needed.\n"
    );
    let c = gm(&db.url, &["db", "check"]);
    assert_eq!(c.code, 5, "{c:?}");

    let k = gm(&db.url, &["db", "contract"]);
    assert_eq!(k.code, 0, "{k:?}");
    assert_eq!(
        k.stdout,
        format!("Upgraded database to: {C}, current revision(s): {C}\n")
    );
    assert_eq!(gm(&db.url, &["db", "check"]).code, 0);
    assert_eq!(
        gm(&db.url, &["db", "contract"]).stdout,
        "Database is up to date. No migrations needed.\n"
    );
    assert_rows_kept_and_visibility(&db, false).await;
    no_drift(&db.url);
});

for_each_backend!(
    previous_release_expand_leaves_two_rows,
    |db: TestDb| async move {
        assert_eq!(gm(&db.url, &["db", "upgrade", "2023_1_contract01"]).code, 0);
        assert_eq!(db.version_rows().await, vec!["2023_1_contract01"]);
        no_drift(&db.url);
        assert_eq!(gm(&db.url, &["db", "check"]).code, 3);
        let r = gm(&db.url, &["db", "expand"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(db.version_rows().await, vec!["2023_1_contract01", E]);
        let v = gm(&db.url, &["db", "version"]);
        let mut lines = v.lines();
        lines.sort();
        assert_eq!(lines, vec!["2023_1_contract01", E]);
        no_drift(&db.url);
        assert_eq!(gm(&db.url, &["db", "check"]).code, 5);
        assert_eq!(gm(&db.url, &["db", "contract"]).code, 0);
        assert_eq!(db.version_rows().await, vec![C]);
        no_drift(&db.url);
    }
);

for_each_backend!(
    migrate_and_contract_refuse_before_expand,
    |db: TestDb| async move {
        assert_eq!(gm(&db.url, &["db", "upgrade", "mitaka02"]).code, 0);
        let m = gm(&db.url, &["db", "migrate"]);
        assert_eq!(m.code, 1);
        assert!(m.stderr.contains("Data migration did not run. Data migration cannot be run before database expansion."), "{m:?}");
        let c = gm(&db.url, &["db", "contract"]);
        assert_eq!(c.code, 1);
        assert!(c.stderr.contains("Database contraction did not run. Database contraction cannot be run before database expansion."), "{c:?}");
        assert_eq!(db.version_rows().await, vec!["mitaka02"]);
    }
);

async fn make_legacy(db: &TestDb, revision: &str, version: i64) {
    assert_eq!(gm(&db.url, &["db", "upgrade", revision]).code, 0);
    seed_liberty_images(db).await;
    db.exec("DROP TABLE alembic_version").await;
    db.exec("CREATE TABLE migrate_version (repository_id VARCHAR(250) NOT NULL, repository_path TEXT, version INTEGER, PRIMARY KEY (repository_id))").await;
    db.exec(&format!("INSERT INTO migrate_version VALUES ('Glance Migrations', '/usr/lib/python3/glance/db/sqlalchemy/migrate_repo', {version})")).await;
}

for_each_backend!(
    legacy_databases_are_adopted_and_upgraded,
    |db: TestDb| async move {
        for (rev, ver) in [("liberty", 42), ("mitaka01", 43), ("mitaka02", 44)] {
            // One database per legacy version: reuse by dropping everything.
            let fresh = TestDb::create(db.dialect).await.expect("second database");
            make_legacy(&fresh, rev, ver).await;
            let v = gm(&fresh.url, &["db", "version"]);
            assert!(v.stdout.contains("not under migration control"), "{v:?}");
            assert_eq!(gm(&fresh.url, &["db", "check"]).code, 3);
            // db plan plans from the revision sync will adopt, and changes nothing.
            let plan = gm(&fresh.url, &["db", "plan"]);
            assert_eq!(plan.code, 0, "{plan:?}");
            assert!(
                plan.stdout
                    .starts_with(&format!("-- glance-manage plan: {rev} -> {C}")),
                "{plan:?}"
            );
            assert!(
                plan.stdout
                    .contains("data migration ocata_migrate01_community_images"),
                "{plan:?}"
            );
            assert_eq!(fresh.count("SELECT COUNT(*) FROM migrate_version").await, 1);
            let r = gm(&fresh.url, &["db", "sync"]);
            assert_eq!(r.code, 0, "legacy {ver}: {r:?}");
            assert_eq!(
                r.lines()[0],
                "Database is currently not under Alembic's migration control."
            );
            assert_eq!(
                r.lines()[1],
                format!("Placing database under Alembic's migration control at revision: {rev}")
            );
            assert!(r.stdout.contains("Migrated 4 rows"), "{r:?}");
            assert_eq!(
                r.lines().last().copied(),
                Some("Database is synced successfully.")
            );
            assert_eq!(fresh.version_rows().await, vec![C]);
            assert_rows_kept_and_visibility(&fresh, rev != "mitaka02").await;
            no_drift(&fresh.url);
        }
    }
);

for_each_backend!(
    legacy_versions_before_liberty_are_refused,
    |db: TestDb| async move {
        make_legacy(&db, "liberty", 38).await;
        let r = gm(&db.url, &["db", "sync"]);
        assert_eq!(r.code, 1);
        assert!(r.stdout.contains("Legacy head:  38"), "{r:?}");
        assert!(r.stderr.contains("The current database version is not supported any more. Please upgrade to Liberty release first."), "{r:?}");
        assert_eq!(db.count("SELECT COUNT(*) FROM migrate_version").await, 1);
        assert_eq!(db.count("SELECT COUNT(*) FROM images").await, 4);
    }
);

for_each_backend!(
    downgrade_is_refused_and_changes_nothing,
    |db: TestDb| async move {
        assert_eq!(gm(&db.url, &["db", "sync"]).code, 0);
        let before = db.table_count().await;
        for args in [
            &["db", "upgrade", "liberty"][..],
            &["db", "sync", "mitaka02"][..],
            &["db", "upgrade", "43"][..],
        ] {
            let r = gm(&db.url, args);
            assert_eq!(r.code, 1, "{args:?}: {r:?}");
            assert!(r.stderr.contains("Downgrades are not supported"), "{r:?}");
            assert!(
                r.stderr.contains("restore the database from a backup"),
                "{r:?}"
            );
        }
        assert_eq!(db.table_count().await, before);
        assert_eq!(db.version_rows().await, vec![C]);
        no_drift(&db.url);
    }
);

for_each_backend!(unknown_and_ancient_versions, |db: TestDb| async move {
    let r = gm(&db.url, &["db", "upgrade", "rocky_expnad01"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("unknown revision `rocky_expnad01`"),
        "{r:?}"
    );
    assert!(r.stderr.contains("`rocky_expand01`"), "{r:?}");
    let r = gm(&db.url, &["db", "upgrade", "12"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("Please upgrade to Liberty release first."),
        "{r:?}"
    );
    // Numeric 42 means liberty.
    let r = gm(&db.url, &["db", "upgrade", "42"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(db.version_rows().await, vec!["liberty"]);
});

for_each_backend!(version_control_checks_the_schema, |db: TestDb| async move {
    // Empty database: it does not have liberty's schema, so stamping is refused.
    let r = gm(&db.url, &["db", "version_control"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("does not match revision liberty"),
        "{r:?}"
    );
    assert!(r.stderr.contains("create table images"), "{r:?}");
    // A database with mitaka01's schema, rows removed: stamping it right works.
    assert_eq!(gm(&db.url, &["db", "upgrade", "mitaka01"]).code, 0);
    db.exec("DELETE FROM alembic_version").await;
    let wrong = gm(&db.url, &["db", "version_control", "liberty"]);
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert_eq!(db.count("SELECT COUNT(*) FROM alembic_version").await, 0);
    let ok = gm(&db.url, &["db", "version_control", "--version", "mitaka01"]);
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(
        ok.stdout,
        "Placed database under migration control at revision: mitaka01\n"
    );
    let forced = gm(&db.url, &["db", "version_control", "liberty", "--force"]);
    assert_eq!(forced.code, 0);
    assert_eq!(db.version_rows().await, vec!["liberty"]);
});

for_each_backend!(
    failure_mid_sync_then_sync_converges,
    |db: TestDb| async move {
        assert_eq!(gm(&db.url, &["db", "upgrade", "mitaka02"]).code, 0);
        seed_liberty_images(&db).await;
        for k in [3, 12] {
            let r = gm_fail_after(&db.url, &["db", "sync"], k);
            assert_eq!(r.code, 1, "fail after {k}: {r:?}");
            assert!(r.stderr.contains("GLANCE_MANAGE_FAIL_AFTER"), "{r:?}");
        }
        let r = gm(&db.url, &["db", "sync"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(db.version_rows().await, vec![C]);
        assert_rows_kept_and_visibility(&db, false).await;
        no_drift(&db.url);
    }
);

for_each_backend!(two_syncs_started_together, |db: TestDb| async move {
    let url = db.url.clone();
    let a = std::thread::spawn({
        let u = url.clone();
        move || gm(&u, &["db", "sync"])
    });
    let b = std::thread::spawn(move || gm(&url, &["db", "sync"]));
    let (ra, rb) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!((ra.code, rb.code), (0, 0), "{ra:?}\n{rb:?}");
    let synced = [&ra, &rb]
        .iter()
        .filter(|r| r.stdout.contains("Database is synced successfully."))
        .count();
    let up_to_date = [&ra, &rb]
        .iter()
        .filter(|r| r.stdout == "Database is up to date. No migrations needed.\n")
        .count();
    assert_eq!((synced, up_to_date), (1, 1), "{ra:?}\n{rb:?}");
    assert_eq!(db.version_rows().await, vec![C]);
    no_drift(&db.url);
});

for_each_backend!(
    a_held_lock_times_out_naming_the_holder,
    |db: TestDb| async move {
        // Another session holds the migration lock.
        let mut holder = db.conn().await;
        let key = format!("glance-manage:{}", db.db_url().database);
        match db.dialect {
            Dialect::Postgres => {
                holder
                    .execute(&format!("SELECT pg_advisory_lock(hashtext('{key}'))"))
                    .await
                    .unwrap();
            }
            Dialect::Mysql => {
                assert_eq!(
                    holder
                        .query_i64(&format!("SELECT GET_LOCK('{key}', 0)"))
                        .await
                        .unwrap(),
                    Some(1)
                );
            }
            Dialect::Sqlite => {
                holder.execute("BEGIN IMMEDIATE").await.unwrap();
            }
        }
        let r = gm(&db.url, &["--lock-timeout", "1", "db", "sync"]);
        assert_eq!(r.code, 1, "{r:?}");
        assert!(
            r.stderr.contains("another glance-manage run is migrating"),
            "{r:?}"
        );
        assert!(r.stderr.contains("--lock-timeout"), "{r:?}");
        match db.dialect {
            Dialect::Postgres => assert!(r.stderr.contains("held by backend pid"), "{r:?}"),
            Dialect::Mysql => assert!(r.stderr.contains("held by connection id"), "{r:?}"),
            Dialect::Sqlite => {}
        }
        holder.close().await;
        // Nothing was created while waiting; once the holder is gone, sync works.
        let r = gm(&db.url, &["db", "sync"]);
        assert_eq!(r.code, 0, "{r:?}");
    }
);

for_each_backend!(
    retired_monolithic_ids_are_understood_and_renamed,
    |db: TestDb| async move {
        // A database stamped by Ocata-Pike era Glance with the removed monolithic revision ids.
        assert_eq!(gm(&db.url, &["db", "upgrade", "pike_contract01"]).code, 0);
        db.exec("DELETE FROM alembic_version").await;
        db.exec("INSERT INTO alembic_version (version_num) VALUES ('pike01')")
            .await;
        let v = gm(&db.url, &["db", "version"]);
        assert_eq!(v.stdout, "pike_contract01\n", "{v:?}");
        assert_eq!(gm(&db.url, &["db", "check"]).code, 3);
        assert_eq!(gm(&db.url, &["db", "drift"]).code, 0);
        let r = gm(&db.url, &["db", "sync"]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(db.version_rows().await, vec![C]);
    }
);
