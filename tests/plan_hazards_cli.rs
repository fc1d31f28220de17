//! `db plan` hazards and sizes through the binary, and `--max-lock` refusing a plan (exit 1,
//! nothing changed) on every backend.

mod common;

use common::seed::seed_images;
use common::{TestDb, gm};
use glance_manage::schema::model::Dialect;
use serde_json::Value;

const ROWS: u32 = 300;

/// A Liberty-era (revision 44) database with `ROWS` images, statistics up to date.
async fn liberty_with_images(db: &TestDb) {
    let r = gm(&db.url, &["db", "sync", "44"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    seed_images(db, ROWS).await;
    match db.dialect {
        Dialect::Postgres => db.exec("ANALYZE images").await,
        Dialect::Mysql => {
            db.rows("ANALYZE TABLE images").await;
        }
        Dialect::Sqlite => {}
    }
}

fn plan_json(db: &TestDb) -> Value {
    let r = gm(&db.url, &["db", "plan", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).expect("plan JSON")
}

fn step<'a>(plan: &'a Value, summary: &str) -> &'a Value {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["summary"] == summary)
        .unwrap_or_else(|| panic!("no step `{summary}` in {plan:#}"))
}

for_each_backend!(plan_shows_hazards_and_sizes, |db: TestDb| async move {
    liberty_with_images(&db).await;
    let plan = plan_json(&db);
    let (lock, name) = match db.dialect {
        Dialect::Postgres => ("shared", "SHARE"),
        Dialect::Mysql => ("none", "LOCK=NONE"),
        Dialect::Sqlite => ("shared", "database write lock"),
    };
    // SQLite adds the index in the rebuild of images, not as its own step.
    if db.dialect != Dialect::Sqlite {
        let ix = step(&plan, "add index os_hidden_image_idx on images (os_hidden)");
        let h = &ix["hazard"];
        assert_eq!(h["lock"], lock, "{ix:#}");
        assert_eq!(h["lock_name"], name, "{ix:#}");
        assert_eq!(h["scan"], true);
        assert_eq!(h["rows_of"], "images");
        let rows = ix["size"]["rows"].as_i64().expect("a row count");
        match db.dialect {
            // ANALYZE of a small table counts every row.
            Dialect::Postgres => assert_eq!(rows, i64::from(ROWS)),
            // InnoDB's estimate: near, not exact.
            _ => assert!(rows > 0 && rows < 4 * i64::from(ROWS), "{rows}"),
        }
        assert!(ix["size"]["bytes"].as_i64().unwrap() > 0);
    } else {
        let rebuild = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["kind"] == "rebuild")
            .expect("a rebuild");
        assert_eq!(rebuild["hazard"]["rewrite"], true);
        assert_eq!(rebuild["size"]["rows"], i64::from(ROWS));
        assert_eq!(rebuild["size"]["exact"], true);
    }
    // A drop of a table says it drops data.
    let drop = step(&plan, "drop table artifact_tags");
    assert_eq!(
        drop["hazard"]["data"][0],
        serde_json::json!({"kind": "drops_data", "what": "table artifact_tags"})
    );
    // Data steps: no lock claim, the rows they owe when the database can say.
    let data = step(&plan, "data migration train_migrate01_backend_to_store");
    assert_eq!(data["kind"], "data");
    assert!(data["hazard"].is_null());
    assert_eq!(data["rows"], 0);

    // The text form carries the same facts as comments.
    let r = gm(&db.url, &["db", "plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let hazard_lines: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("-- hazard: "))
        .collect();
    assert!(
        hazard_lines
            .iter()
            .any(|l| l.contains("drops data: table artifact_tags"))
    );
    let want = match db.dialect {
        Dialect::Postgres => format!("lock: shared (SHARE) on images: blocks writes; reads every row of images (~{ROWS} rows"),
        Dialect::Mysql => "lock: none (LOCK=NONE) on images: blocks nothing; ALGORITHM=NOCOPY; implicit commit; reads every row of images (~".to_string(),
        Dialect::Sqlite => format!("copies every row of images ({ROWS} rows)"),
    };
    assert!(
        hazard_lines.iter().any(|l| l.contains(&want)),
        "no `{want}` in:\n{}",
        hazard_lines.join("\n")
    );
});

for_each_backend!(
    max_lock_refuses_and_changes_nothing,
    |db: TestDb| async move {
        liberty_with_images(&db).await;
        let before = plan_json(&db);
        let rows_before = db.version_rows().await;

        // Every backend's plan from Liberty takes some lock (a dropped table at least).
        let r = gm(&db.url, &["db", "sync", "--max-lock", "none"]);
        assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("--max-lock none"), "{}", r.stderr);
        assert!(r.stderr.contains("nothing was changed"), "{}", r.stderr);
        assert!(
            r.stderr.contains("contract: drop table artifact_tags"),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"));
        // Nothing ran: the same version rows, the same plan (the same schema).
        assert_eq!(db.version_rows().await, rows_before);
        assert_eq!(plan_json(&db), before);
        assert_eq!(
            db.count("SELECT COUNT(*) FROM images").await,
            i64::from(ROWS)
        );

        // `db plan --max-lock` is the CI gate: the plan is printed, the exit code says.
        let r = gm(&db.url, &["db", "plan", "--max-lock", "none"]);
        assert_eq!(r.code, 1);
        assert!(r.stdout.contains("-- phase: expand"));
        let r = gm(&db.url, &["db", "plan", "--max-lock", "exclusive"]);
        assert_eq!(r.code, 0, "{}", r.stderr);

        // The expand phase alone, allowing writes to wait: on PostgreSQL ADD COLUMN takes
        // ACCESS EXCLUSIVE; on MariaDB the columns are INSTANT and the indexes in place, but
        // Ocata's visibility triggers take an exclusive metadata lock; SQLite's write lock is all.
        let r = gm(&db.url, &["db", "expand", "--max-lock", "shared"]);
        let refused_step = match db.dialect {
            Dialect::Postgres => Some("add column images.visibility"),
            Dialect::Mysql => Some("add trigger insert_visibility on images"),
            Dialect::Sqlite => None,
        };
        match refused_step {
            Some(s) => {
                assert_eq!(r.code, 1, "{}", r.stderr);
                assert!(r.stderr.contains(s), "{}", r.stderr);
                assert_eq!(db.version_rows().await, rows_before);
                assert_eq!(plan_json(&db), before);
            }
            None => {
                assert_eq!(r.code, 0, "{}", r.stderr);
                assert_ne!(db.version_rows().await, rows_before);
            }
        }
        if db.dialect == Dialect::Postgres {
            assert!(
                r.stderr.contains("ACCESS EXCLUSIVE on images"),
                "{}",
                r.stderr
            );
        }

        // Allowing exclusive locks lets the whole upgrade run.
        let r = gm(&db.url, &["db", "sync", "--max-lock", "exclusive"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let r = gm(&db.url, &["db", "check"]);
        assert_eq!(r.code, 0, "{}", r.stdout);
    }
);

#[test]
fn max_lock_rejects_an_unknown_level() {
    let r = common::gm_raw(
        &[
            "--database-url",
            "sqlite:////nonexistent/x.db",
            "db",
            "sync",
            "--max-lock",
            "brief",
        ],
        None,
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("none, shared, exclusive"), "{}", r.stderr);
}
