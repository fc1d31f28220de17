//! `--verify`: the plan rehearsed on a scratch copy of the live schema. A sabotaged plan (the
//! debug-build test hook leaves its last step out of the rehearsal) is caught, reported with
//! what is still different, and the live database stays byte-identical (SQLite) or
//! catalog-identical (servers); an intact plan passes and then runs; a user who may not create
//! a database gets a clear refusal.

mod common;

use common::seed::seed_images;
use common::{Gm, TestDb, gm, pg_admin_url};
use glance_manage::config::DbUrl;
use glance_manage::exec::{Conn, OpenMode};
use glance_manage::schema::model::Dialect;

const SABOTAGE: &str = "GLANCE_MANAGE_TEST_SABOTAGE_VERIFY";

/// What the live database is, as the catalogs (or the file) tell it.
async fn fingerprint(db: &TestDb) -> Vec<Vec<String>> {
    let queries: &[&str] = match db.dialect {
        Dialect::Sqlite => return vec![vec![format!("{:?}", std::fs::read(&db.name).unwrap())]],
        Dialect::Postgres => &[
            "SELECT table_name, column_name, data_type, is_nullable, COALESCE(column_default, '') \
             FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1, 2",
            "SELECT tablename, indexname, indexdef FROM pg_indexes \
             WHERE schemaname = current_schema() ORDER BY 1, 2",
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2",
            "SELECT typname FROM pg_type WHERE typnamespace = current_schema()::regnamespace \
             AND typtype = 'e' ORDER BY 1",
            "SELECT version_num FROM alembic_version ORDER BY 1",
            "SELECT COUNT(*) FROM images",
        ],
        Dialect::Mysql => &[
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COALESCE(COLUMN_DEFAULT, '') \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2",
            "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2, 3",
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY 1, 2",
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1",
            "SELECT version_num FROM alembic_version ORDER BY 1",
            "SELECT COUNT(*) FROM images",
        ],
    };
    let mut out = Vec::new();
    for q in queries {
        out.extend(db.rows(q).await);
        out.push(vec!["--".into()]);
    }
    out
}

/// Scratch databases left on the server (there must be none after a run).
async fn scratch_left(db: &TestDb) -> i64 {
    match db.dialect {
        Dialect::Sqlite => 0,
        Dialect::Postgres => {
            db.count("SELECT COUNT(*) FROM pg_database WHERE datname LIKE 'gm\\_verify\\_%'")
                .await
        }
        Dialect::Mysql => {
            db.count(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'gm\\_verify\\_%'",
            )
            .await
        }
    }
}

for_each_backend!(verify_catches_a_sabotaged_plan, |db: TestDb| async move {
    let r = gm(&db.url, &["db", "sync", "44"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    seed_images(&db, 50).await;
    let before = fingerprint(&db).await;

    // The rehearsal leaves the plan's last step (dropping Pike's `artifacts`) out.
    let r = Gm::fault()
        .url(&db.url)
        .args(["db", "sync", "--verify"])
        .env(SABOTAGE, "1")
        .run();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("does not reach the target"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("- drop table artifacts"), "{}", r.stderr);
    assert!(r.stderr.contains("Nothing was changed."), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
    assert_eq!(fingerprint(&db).await, before, "the live database changed");
    assert_eq!(scratch_left(&db).await, 0);

    // `db plan --verify`: the same verdict, the plan still printed.
    let r = Gm::fault()
        .url(&db.url)
        .args(["db", "plan", "--verify"])
        .env(SABOTAGE, "1")
        .run();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.contains("-- phase: contract"));
    // The shipped binary never reads the hook: the same variable changes nothing there.
    let r = Gm::new()
        .url(&db.url)
        .args(["db", "plan", "--verify"])
        .env(SABOTAGE, "1")
        .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.trim_end().ends_with(
            "-- verified: on a scratch copy of the live schema the plan reaches 2024_1_contract01"
        ),
        "{}",
        r.stdout
    );
    assert_eq!(
        fingerprint(&db).await,
        before,
        "db plan --verify changed the database"
    );

    // An intact plan passes and runs.
    let r = gm(&db.url, &["db", "sync", "--verify"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(db.version_rows().await, ["2024_1_contract01"]);
    assert_eq!(db.count("SELECT COUNT(*) FROM images").await, 50);
    assert_eq!(scratch_left(&db).await, 0);
    let r = gm(&db.url, &["db", "drift"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
});

#[tokio::test]
async fn postgres_verify_without_createdb_is_refused_clearly() {
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    let r = gm(&db.url, &["db", "sync", "44"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let role = format!("gm_nocreate_{}", std::process::id());
    db.exec(&format!(
        "CREATE ROLE {role} LOGIN NOCREATEDB; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"
    ))
    .await;
    let mut url = DbUrl::parse(&db.url).unwrap();
    url.username = Some(role.clone());
    let before = fingerprint(&db).await;
    let r = gm(&url.to_string(), &["db", "plan", "--verify"]);
    let cleanup = async {
        db.exec(&format!("DROP OWNED BY {role}")).await;
        let mut admin = Conn::connect(&DbUrl::parse(&pg_admin_url()).unwrap(), OpenMode::Existing)
            .await
            .unwrap();
        admin.execute(&format!("DROP ROLE {role}")).await.unwrap();
        admin.close().await;
    };
    cleanup.await;
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("--verify needs a scratch database and none could be created"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("permission denied"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
    assert_eq!(fingerprint(&db).await, before);
}
