//! Triggers are schema: created, dropped, introspected, compared and reported like every other
//! object, on SQLite, PostgreSQL and MariaDB.
//!
//! - A history of our own with a trigger on every backend (`--revisions`): `db drift` reports
//!   a missing, an extra and a changed trigger, not a respelled one; a SQLite table rebuild
//!   keeps the trigger; removing it from the history drops it (and its PostgreSQL function);
//!   the snapshot TOML round trip keeps it.

mod common;

use common::{TestDb, gm};
use glance_manage::schema::model::Dialect;
use glance_manage::snapshot::{self, FileKind};

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
        out.contains("to repair: drop trigger audit on items"),
        "{out}"
    );
    assert!(!out.contains("item_logged on items"), "{out}");
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

/// A trigger survives the snapshot TOML round trip (parse → write → parse), and the written
/// file says what it is.
#[test]
fn trigger_round_trip_through_snapshot_toml() {
    for (path, text) in [("r1.toml", R1.to_string())] {
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
