//! Triggers are schema: created, dropped, introspected, compared and reported like every other
//! object, on SQLite, PostgreSQL and MariaDB.
//!
//! - Glance's two Ocata triggers (MySQL only): created by `db upgrade ocata_expand01` and by
//!   `db expand`, keeping `is_public` and `visibility` consistent for old and new API nodes;
//!   gone after the contract phase, whichever command runs it (`db expand` then `db sync`
//!   included, which Glance gets wrong); never created by an upgrade through
//!   `ocata_contract01` (Glance's offline `db sync` does not create them either).
//! - A history of our own with a trigger on every backend (`--revisions`): `db drift` reports
//!   a missing and a changed trigger (with the repair), an extra one as unmanaged (never
//!   dropped), not a respelled one; a SQLite table rebuild
//!   keeps the trigger; removing it from the history drops it (and its PostgreSQL function);
//!   the snapshot TOML round trip keeps it.

mod common;

use common::{TestDb, gm, seed_liberty_images};
use glance_manage::schema::model::Dialect;
use glance_manage::snapshot::{self, FileKind};

const E: &str = "2024_1_expand01";
const C: &str = "2024_1_contract01";

fn names_sql(d: Dialect) -> &'static str {
    match d {
        Dialect::Mysql => {
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS \
             WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME"
        }
        Dialect::Postgres => {
            "SELECT tgname::text FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname"
        }
        Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name",
    }
}

async fn trigger_names(db: &TestDb) -> Vec<String> {
    db.rows(names_sql(db.dialect))
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

const GLANCES: [&str; 2] = ["insert_visibility", "update_visibility"];

/// Runs a statement that should fail; returns the error text.
async fn fails(db: &TestDb, sql: &str) -> String {
    let mut c = db.conn().await;
    let r = c.execute(sql).await;
    c.close().await;
    match r {
        Ok(_) => panic!("expected an error from: {sql}"),
        Err(e) => e.to_string(),
    }
}

const INSERT: &str =
    "INSERT INTO images (id, status, created_at, deleted, min_disk, min_ram, protected";

/// The rows [`glances_triggers_behave`] writes.
const OURS: &str = "('old-pub', 'old-priv', 'new-priv', 'new-pub')";

/// What old (`is_public` only) and new (`visibility` only) API nodes write, with the trigger
/// filling in the other column; both, or neither, is refused.
async fn glances_triggers_behave(db: &TestDb) {
    db.exec(&format!(
        "{INSERT}, is_public) VALUES ('old-pub', 'active', '2020-01-01', 0, 0, 0, 0, 1), \
         ('old-priv', 'active', '2020-01-01', 0, 0, 0, 0, 0)"
    ))
    .await;
    db.exec(&format!(
        "{INSERT}, visibility) VALUES ('new-priv', 'active', '2020-01-01', 0, 0, 0, 0, 'private'), \
         ('new-pub', 'active', '2020-01-01', 0, 0, 0, 0, 'public')"
    ))
    .await;
    let rows = db
        .rows(&format!(
            "SELECT id, CAST(is_public AS CHAR), visibility FROM images WHERE id IN {OURS} ORDER BY id"
        ))
        .await;
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("new-priv", "0", "private"),
            ("new-pub", "1", "public"),
            ("old-priv", "0", "shared"),
            ("old-pub", "1", "public"),
        ]
    );
    let both = fails(
        db,
        &format!(
            "{INSERT}, is_public, visibility) VALUES ('both', 'active', '2020-01-01', 0, 0, 0, 0, 1, 'public')"
        ),
    )
    .await;
    assert!(both.contains("Invalid visibility value"), "{both}");
    let neither = fails(
        db,
        &format!("{INSERT}) VALUES ('neither', 'active', '2020-01-01', 0, 0, 0, 0)"),
    )
    .await;
    assert!(neither.contains("Invalid visibility value"), "{neither}");
    // An old node's update of is_public moves visibility along, and a new node's the reverse.
    db.exec("UPDATE images SET is_public = 1 WHERE id = 'old-priv'")
        .await;
    db.exec("UPDATE images SET visibility = 'community' WHERE id = 'new-pub'")
        .await;
    assert_eq!(
        db.rows(
            "SELECT id, CAST(is_public AS CHAR), visibility FROM images \
             WHERE id IN ('old-priv', 'new-pub') ORDER BY id"
        )
        .await,
        vec![
            vec!["new-pub".to_string(), "0".into(), "community".into()],
            vec!["old-priv".to_string(), "1".into(), "public".into()],
        ]
    );
    let null = fails(
        db,
        "UPDATE images SET visibility = NULL WHERE id = 'new-pub'",
    )
    .await;
    assert!(null.contains("Invalid visibility value"), "{null}");
    assert_eq!(
        db.count(&format!("SELECT COUNT(*) FROM images WHERE id IN {OURS}"))
            .await,
        4
    );
}

/// New code writes `visibility` only; with `is_public` gone no trigger may stand in the way.
async fn inserts_work_after_contract(db: &TestDb) {
    db.exec(&format!(
        "{INSERT}, visibility) VALUES ('after', 'active', '2020-01-01', 0, 0, 0, 0, 'shared')"
    ))
    .await;
    db.exec("UPDATE images SET visibility = 'private' WHERE id = 'after'")
        .await;
}

async fn mariadb() -> Option<TestDb> {
    TestDb::create(Dialect::Mysql).await
}

#[tokio::test]
async fn upgrade_to_ocata_expand01_creates_glances_triggers_on_mariadb() {
    let Some(db) = mariadb().await else { return };
    let r = gm(&db.url, &["db", "upgrade", "ocata_expand01"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(trigger_names(&db).await, GLANCES);
    // Glance's text, byte for byte, from BEGIN to END.
    let dump = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/glance/mariadb/04_ocata_expand01.sql"
    ))
    .unwrap();
    for body in db
        .rows(
            "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS \
             WHERE TRIGGER_SCHEMA = DATABASE()",
        )
        .await
    {
        assert!(body[0].starts_with("BEGIN\n    -- "), "{}", body[0]);
        assert!(dump.contains(&format!("FOR EACH ROW\n{};", body[0])));
    }
    assert_eq!(gm(&db.url, &["db", "drift"]).code, 0);
    glances_triggers_behave(&db).await;

    // Further expand revisions keep them; the contract revision drops them.
    assert_eq!(gm(&db.url, &["db", "upgrade", E]).code, 0);
    assert_eq!(trigger_names(&db).await, GLANCES);
    let plan = gm(&db.url, &["db", "plan", "ocata_contract01"]);
    let script = &plan.stdout;
    let drop = script
        .find("DROP TRIGGER `insert_visibility`")
        .expect("drop planned");
    let column = script
        .find("DROP COLUMN `is_public`")
        .expect("column drop planned");
    assert!(drop < column, "the trigger reads is_public: {script}");
    let r = gm(&db.url, &["db", "upgrade"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(db.version_rows().await, vec![C]);
    assert!(trigger_names(&db).await.is_empty());
    inserts_work_after_contract(&db).await;
    assert_eq!(gm(&db.url, &["db", "drift"]).code, 0);
}

#[tokio::test]
async fn rolling_upgrade_creates_and_drops_glances_triggers_on_mariadb() {
    let Some(db) = mariadb().await else { return };
    assert_eq!(gm(&db.url, &["db", "upgrade", "mitaka02"]).code, 0);
    seed_liberty_images(&db).await;
    assert_eq!(gm(&db.url, &["db", "expand"]).code, 0);
    assert_eq!(trigger_names(&db).await, GLANCES);
    // The pre-Ocata rows wait for db migrate; the triggers serve the writes meanwhile.
    assert_eq!(gm(&db.url, &["db", "check"]).code, 4);
    glances_triggers_behave(&db).await;
    assert_eq!(gm(&db.url, &["db", "migrate"]).code, 0);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM images WHERE visibility IS NULL")
            .await,
        0
    );
    assert_eq!(trigger_names(&db).await, GLANCES);
    let r = gm(&db.url, &["db", "contract"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(trigger_names(&db).await.is_empty());
    inserts_work_after_contract(&db).await;
    assert_eq!(gm(&db.url, &["db", "drift"]).code, 0);
}

/// Glance's `db expand` then `db sync` leaves its triggers on a table without `is_public`, and
/// every later insert fails; ours drops them.
#[tokio::test]
async fn expand_then_sync_leaves_no_trigger_on_mariadb() {
    let Some(db) = mariadb().await else { return };
    assert_eq!(gm(&db.url, &["db", "expand"]).code, 0);
    assert_eq!(trigger_names(&db).await, GLANCES);
    let r = gm(&db.url, &["db", "sync"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(db.version_rows().await, vec![C]);
    assert!(trigger_names(&db).await.is_empty());
    inserts_work_after_contract(&db).await;
}

/// The offline `db sync` never creates them, fresh or not: no API node runs old code during
/// it. (Creating and dropping them in one run would leave the same schema.)
#[tokio::test]
async fn sync_never_creates_glances_triggers_on_mariadb() {
    let Some(db) = mariadb().await else { return };
    let plan = gm(&db.url, &["db", "plan"]);
    assert!(!plan.stdout.contains("TRIGGER"), "{plan:?}");
    assert_eq!(gm(&db.url, &["db", "sync"]).code, 0);
    assert!(trigger_names(&db).await.is_empty());

    let Some(old) = mariadb().await else { return };
    assert_eq!(gm(&old.url, &["db", "upgrade", "mitaka02"]).code, 0);
    seed_liberty_images(&old).await;
    let plan = gm(&old.url, &["db", "plan"]);
    assert!(!plan.stdout.contains("TRIGGER"), "{plan:?}");
    let r = gm(&old.url, &["db", "sync"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("Migrated 4 rows"), "{r:?}");
    assert!(trigger_names(&old).await.is_empty());
    inserts_work_after_contract(&old).await;
}

/// Triggers Glance itself created (its `SHOW CREATE TRIGGER` text, unquoted names) are the
/// snapshot's: no drift, and our contract drops them.
#[tokio::test]
async fn glance_made_triggers_are_recognised_on_mariadb() {
    let Some(db) = mariadb().await else { return };
    assert_eq!(gm(&db.url, &["db", "upgrade", E]).code, 0);
    db.exec("DROP TRIGGER insert_visibility").await;
    db.exec("DROP TRIGGER update_visibility").await;
    let dump = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/glance/mariadb/16_2024_1_expand01.sql"
    ))
    .unwrap();
    for name in GLANCES {
        let start = dump.find(&format!("CREATE TRIGGER {name}")).unwrap();
        let end = start + dump[start..].find("\nEND;").unwrap() + "\nEND".len();
        db.exec(&dump[start..end]).await;
    }
    let d = gm(&db.url, &["db", "drift"]);
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(gm(&db.url, &["db", "contract"]).code, 0);
    assert!(trigger_names(&db).await.is_empty());
}

for_each_backend!(glances_triggers_are_mysql_only, |db: TestDb| async move {
    assert_eq!(gm(&db.url, &["db", "upgrade", "ocata_expand01"]).code, 0);
    let expected: &[&str] = if db.dialect == Dialect::Mysql {
        &GLANCES
    } else {
        &[]
    };
    assert_eq!(trigger_names(&db).await, expected);
    assert_eq!(gm(&db.url, &["db", "drift"]).code, 0);
});

// ---------------------------------------------------------------------------------------------
// A history of our own with a trigger on every backend.

const R1: &str = r#"[revision]
name = "r1"
parents = []

[tables.items]
primary_key = ["id"]
mysql = { engine = "InnoDB", charset = "utf8" }
columns = [
  { name = "id", type = "integer", nullable = false },
  { name = "name", type = "string(50)" },
]

[tables.item_log]
primary_key = ["id"]
mysql = { engine = "InnoDB", charset = "utf8" }
columns = [
  { name = "id", type = "integer", nullable = false, autoincrement = true },
  { name = "item_id", type = "integer", nullable = false },
]

[[triggers]]
name = "item_logged"
table = "items"
timing = "after"
event = "insert"
body = '''
BEGIN
  INSERT INTO item_log (item_id) VALUES (NEW.id);
END'''
postgresql = '''
BEGIN
  INSERT INTO item_log (item_id) VALUES (NEW.id);
  RETURN NULL;
END;
'''
"#;

/// r2: `items.name` becomes NOT NULL (a table rebuild on SQLite); the trigger stays.
fn r2() -> String {
    R1.replace(
        "name = \"r1\"\nparents = []",
        "name = \"r2\"\nparents = [\"r1\"]",
    )
    .replace(
        "{ name = \"name\", type = \"string(50)\" }",
        "{ name = \"name\", type = \"string(50)\", nullable = false, default = \"\" }",
    )
}

/// r3: the trigger is gone.
fn r3() -> String {
    let r2 = r2().replace(
        "name = \"r2\"\nparents = [\"r1\"]",
        "name = \"r3\"\nparents = [\"r2\"]",
    );
    r2[..r2.find("[[triggers]]").unwrap()].to_string()
}

struct History {
    dir: tempfile::TempDir,
}

impl History {
    fn new(files: &[(&str, String)]) -> History {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(format!("{name}.toml")), text).unwrap();
        }
        History { dir }
    }

    fn run(&self, db: &TestDb, args: &[&str]) -> common::Run {
        let mut all = vec!["--revisions", self.dir.path().to_str().unwrap()];
        all.extend_from_slice(args);
        gm(&db.url, &all)
    }
}

async fn logged(db: &TestDb) -> i64 {
    db.count("SELECT COUNT(*) FROM item_log").await
}

/// Creates `item_logged` by hand with `body` (the dialect's own form of a trigger).
async fn create_by_hand(db: &TestDb, name: &str, body: &str) {
    let sql = match db.dialect {
        Dialect::Postgres => format!(
            "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END; $$; \
             CREATE TRIGGER {name} AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION {name}()"
        ),
        _ => format!("CREATE TRIGGER {name} AFTER INSERT ON items FOR EACH ROW BEGIN {body} END"),
    };
    db.exec(&sql).await;
}

async fn drop_by_hand(db: &TestDb, name: &str) {
    db.exec(&match db.dialect {
        Dialect::Postgres => {
            format!("DROP TRIGGER {name} ON items; DROP FUNCTION {name}()")
        }
        _ => format!("DROP TRIGGER {name}"),
    })
    .await;
}

fn drift_of(h: &History, db: &TestDb) -> (i32, String) {
    let d = h.run(db, &["db", "drift"]);
    (d.code, format!("{}{}", d.stdout, d.stderr))
}

for_each_backend!(drift_sees_triggers, |db: TestDb| async move {
    let h = History::new(&[("r1", R1.to_string())]);
    let r = h.run(&db, &["db", "sync"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(trigger_names(&db).await, ["item_logged"]);
    db.exec("INSERT INTO items (id, name) VALUES (1, 'a')")
        .await;
    assert_eq!(logged(&db).await, 1);
    assert_eq!(drift_of(&h, &db).0, 0);

    // Missing: reported, with the DDL that creates it again.
    drop_by_hand(&db, "item_logged").await;
    let (code, out) = drift_of(&h, &db);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("to repair: add trigger item_logged on items: after insert"),
        "{out}"
    );
    assert!(out.contains("CREATE TRIGGER"), "{out}");
    // The repair DDL works.
    let j = h.run(&db, &["db", "drift", "--format", "json"]);
    let repair: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    for st in repair["repair"].as_array().unwrap() {
        db.exec(st.as_str().unwrap()).await;
    }
    assert_eq!(drift_of(&h, &db).0, 0);
    db.exec("INSERT INTO items (id, name) VALUES (2, 'b')")
        .await;
    assert_eq!(logged(&db).await, 2);

    // Respelled (whitespace, comments, keyword case): not drift.
    drop_by_hand(&db, "item_logged").await;
    create_by_hand(
        &db,
        "item_logged",
        "/* same */ insert   into item_log (item_id)\n values (NEW.id); -- still\n",
    )
    .await;
    let (code, out) = drift_of(&h, &db);
    assert_eq!(code, 0, "{out}");

    // Changed: another body.
    drop_by_hand(&db, "item_logged").await;
    create_by_hand(
        &db,
        "item_logged",
        "INSERT INTO item_log (item_id) VALUES (NEW.id + 1000);",
    )
    .await;
    let (code, out) = drift_of(&h, &db);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("to repair: change trigger item_logged on items: body"),
        "{out}"
    );
    assert!(
        out.contains("NEW.id + 1000"),
        "the unified diff shows it: {out}"
    );

    // Extra: someone else's trigger.
    drop_by_hand(&db, "item_logged").await;
    create_by_hand(
        &db,
        "item_logged",
        "INSERT INTO item_log (item_id) VALUES (NEW.id);",
    )
    .await;
    create_by_hand(&db, "audit", "INSERT INTO item_log (item_id) VALUES (0);").await;
    let (code, out) = drift_of(&h, &db);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("unmanaged: trigger audit on table items (no revision declares it"),
        "{out}"
    );
    assert!(!out.contains("DROP TRIGGER"), "never repaired away: {out}");
    assert!(!out.contains("item_logged on items"), "{out}");
    // Nor dropped by an upgrade.
    let r = h.run(&db, &["db", "sync"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(trigger_names(&db).await, ["audit", "item_logged"]);
});

for_each_backend!(upgrades_keep_and_drop_triggers, |db: TestDb| async move {
    let h = History::new(&[("r1", R1.to_string()), ("r2", r2()), ("r3", r3())]);
    assert_eq!(h.run(&db, &["db", "upgrade", "r1"]).code, 0);
    db.exec("INSERT INTO items (id, name) VALUES (1, 'a')")
        .await;

    // SQLite rebuilds `items`, which drops its triggers with the old table: the plan
    // creates it again.
    let r = h.run(&db, &["db", "upgrade", "r2"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(trigger_names(&db).await, ["item_logged"]);
    assert_eq!(drift_of(&h, &db).0, 0);
    db.exec("INSERT INTO items (id, name) VALUES (2, 'b')")
        .await;
    assert_eq!(logged(&db).await, 2);

    let r = h.run(&db, &["db", "upgrade", "r3"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(trigger_names(&db).await.is_empty());
    if db.dialect == Dialect::Postgres {
        assert_eq!(
            db.count("SELECT COUNT(*) FROM pg_proc WHERE proname = 'item_logged'")
                .await,
            0,
            "the trigger's function goes with it"
        );
    }
    db.exec("INSERT INTO items (id, name) VALUES (3, 'c')")
        .await;
    assert_eq!(logged(&db).await, 2);
    assert_eq!(drift_of(&h, &db).0, 0);
});

/// A trigger survives the snapshot TOML round trip (parse → write → parse), Glance's bodies
/// included, and the written file says what it is.
#[test]
fn trigger_round_trip_through_snapshot_toml() {
    for (path, text) in [
        ("r1.toml", R1.to_string()),
        (
            "ocata_expand01.toml",
            include_str!("../revisions/ocata_expand01.toml").to_string(),
        ),
    ] {
        let s = snapshot::parse_str(path, &text, FileKind::Revision).unwrap();
        assert!(!s.schema.triggers.is_empty(), "{path}");
        let written = snapshot::snapshot_to_toml(&s.meta, &s.data_migrations, &s.schema);
        let again = snapshot::parse_str(path, &written, FileKind::Revision).unwrap();
        assert_eq!(again.schema, s.schema, "{path}:\n{written}");
        for t in &s.schema.triggers {
            assert!(
                written.contains(&format!("name = \"{}\"", t.name)),
                "{written}"
            );
        }
    }
    let s = snapshot::parse_str("r1.toml", R1, FileKind::Revision).unwrap();
    let t = &s.schema.triggers[0];
    assert_eq!(
        t.body,
        "BEGIN\n  INSERT INTO item_log (item_id) VALUES (NEW.id);\nEND"
    );
    assert!(
        t.bodies[&Dialect::Postgres].ends_with("RETURN NULL;\nEND;\n"),
        "{:?}",
        t.bodies
    );
}
