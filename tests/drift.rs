//! `db drift` and `db plan` through the built binary, on every backend.
//!
//! drift: exit 0 on an untouched synced database; exit 1 with a readable diff and the repair
//! DDL after a dropped index, an extra column, a changed type, a changed nullability, a
//! missing foreign key and an extra table; exit 2 when it cannot connect or the version row
//! names an unknown revision. `--format json` is valid JSON; colour only with `--color always`.
//!
//! plan: SQL up to the contract head on a fresh database, "nothing to do" at the head, valid
//! JSON with `--format json`, and it changes nothing.

mod common;
mod engine_support;

use std::time::Duration;

use glance_manage::engine;
use glance_manage::exec::Session;
use glance_manage::schema::model::Dialect;

use common::{Gm, Run, TestDb};
use engine_support::*;

const HEAD: &str = "2024_1_contract01";

/// Runs the binary with the user's colour environment (no `NO_COLOR`).
fn gm(url: &str, args: &[&str]) -> Run {
    Gm::new().url(url).args(args).with_color_env().run()
}

fn text(o: &Run) -> (String, String) {
    (o.stdout.clone(), o.stderr.clone())
}

fn code(o: &Run) -> i32 {
    o.code
}

/// A database the engine brought to the head.
async fn at_head(dialect: Dialect) -> Option<TestDb> {
    let db = TestDb::create(dialect).await?;
    upgrade(&db, &revs(), HEAD).await;
    Some(db)
}

/// SQLite cannot ALTER a column: edit the stored table SQL instead (test-only surgery), then
/// check that the file is still consistent.
async fn sqlite_edit_table_sql(db: &TestDb, table: &str, from: &str, to: &str) {
    let mut c = db.conn().await;
    let sql = format!(
        "PRAGMA writable_schema = ON; \
         UPDATE sqlite_master SET sql = replace(sql, '{from}', '{to}') WHERE type = 'table' AND name = '{table}'; \
         PRAGMA writable_schema = OFF;"
    );
    c.execute(&sql).await.expect("edit sqlite_master");
    c.close().await;
    let mut c = db.conn().await;
    let stored = c
        .query(&format!(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
        ))
        .await
        .unwrap();
    let stored = stored[0][0].text().unwrap();
    assert!(
        stored.contains(to),
        "edit of {table} did not apply: {stored}"
    );
    let ok = c.query("PRAGMA integrity_check").await.unwrap();
    assert_eq!(ok[0][0].text().as_deref(), Some("ok"));
    c.close().await;
}

async fn drop_index(db: &TestDb) {
    db.exec(match db.dialect {
        Dialect::Mysql => "DROP INDEX owner_image_idx ON images",
        _ => "DROP INDEX owner_image_idx",
    })
    .await;
}

async fn extra_column(db: &TestDb) {
    db.exec("ALTER TABLE images ADD COLUMN extra_col VARCHAR(10)")
        .await;
}

async fn changed_type(db: &TestDb) {
    match db.dialect {
        Dialect::Postgres => {
            db.exec("ALTER TABLE tasks ALTER COLUMN request_id TYPE VARCHAR(100)")
                .await
        }
        Dialect::Mysql => {
            db.exec("ALTER TABLE tasks MODIFY request_id VARCHAR(100) NULL")
                .await
        }
        Dialect::Sqlite => {
            sqlite_edit_table_sql(
                db,
                "tasks",
                "\"request_id\" VARCHAR(64)",
                "\"request_id\" VARCHAR(100)",
            )
            .await
        }
    }
}

async fn changed_nullability(db: &TestDb) {
    match db.dialect {
        Dialect::Postgres => {
            db.exec("ALTER TABLE tasks ALTER COLUMN user_id SET NOT NULL")
                .await
        }
        Dialect::Mysql => {
            db.exec("ALTER TABLE tasks MODIFY user_id VARCHAR(64) NOT NULL")
                .await
        }
        Dialect::Sqlite => {
            sqlite_edit_table_sql(
                db,
                "tasks",
                "\"user_id\" VARCHAR(64)",
                "\"user_id\" VARCHAR(64) NOT NULL",
            )
            .await
        }
    }
}

async fn missing_fk(db: &TestDb) {
    match db.dialect {
        Dialect::Postgres => {
            db.exec("ALTER TABLE image_tags DROP CONSTRAINT image_tags_image_id_fkey")
                .await
        }
        Dialect::Mysql => {
            db.exec("ALTER TABLE image_tags DROP FOREIGN KEY image_tags_ibfk_1")
                .await
        }
        Dialect::Sqlite => {
            sqlite_edit_table_sql(
                db,
                "image_tags",
                ", FOREIGN KEY (\"image_id\") REFERENCES \"images\" (\"id\")",
                "",
            )
            .await
        }
    }
}

async fn extra_table(db: &TestDb) {
    db.exec("CREATE TABLE extra_table (id INTEGER NOT NULL, PRIMARY KEY (id))")
        .await;
}

/// Runs `db drift` after `damage` and checks exit 1, the change line, the diff lines and the
/// repair DDL.
async fn drift_after(
    dialect: Dialect,
    what: &str,
    damage: impl AsyncFnOnce(&TestDb),
    change: &str,
    diff_line: &str,
    repair: &str,
) {
    let Some(db) = at_head(dialect).await else {
        return;
    };
    damage(&db).await;
    let o = gm(&db.url, &["db", "drift"]);
    let (out, err) = text(&o);
    let ctx = format!("{dialect}, {what}:\nstdout:\n{out}\nstderr:\n{err}");
    assert_eq!(code(&o), 1, "{ctx}");
    assert!(
        out.contains(&format!(
            "Drift: the live schema differs from revision(s) {HEAD}:"
        )),
        "{ctx}"
    );
    assert!(
        out.lines().any(|l| l == format!("  - to repair: {change}")),
        "missing `  - to repair: {change}`\n{ctx}"
    );
    assert!(
        out.contains("--- expected (revision snapshot)") && out.contains("+++ live (introspected)"),
        "{ctx}"
    );
    assert!(
        out.lines().any(|l| l.trim_end() == diff_line),
        "missing diff line `{diff_line}`\n{ctx}"
    );
    assert!(out.contains("-- DDL that would repair it:"), "{ctx}");
    let ddl = out.split("-- DDL that would repair it:").nth(1).unwrap();
    assert!(ddl.contains(repair), "repair DDL lacks `{repair}`\n{ctx}");
    assert!(!out.contains('\x1b'), "colour in a pipe\n{ctx}");

    // The repair DDL repairs.
    let revs = revs();
    let mut conn = db.conn().await;
    let live = read_live(&mut conn).await;
    let d = engine::drift(&revs, &live).unwrap();
    let mut s = Session::begin(&mut conn, &db.db_url(), Duration::from_secs(10))
        .await
        .unwrap();
    s.begin_phase().await.unwrap();
    s.run_statements(&glance_manage::plan::statements(dialect, &d.repair))
        .await
        .unwrap_or_else(|e| panic!("{dialect}, {what}: repair failed: {e}"));
    s.commit_phase().await.unwrap();
    s.finish().await.unwrap();
    let live = read_live(&mut conn).await;
    assert_no_drift(&revs, &live, &format!("{dialect}, {what}, repaired"));
    conn.close().await;
}

fn q(dialect: Dialect, name: &str) -> String {
    glance_manage::sql::quote(dialect, name)
}

async fn all_drift_cases(dialect: Dialect) {
    let fk_line = "  { columns = [\"image_id\"], ref_table = \"images\", ref_columns = [\"id\"] },";
    drift_after(
        dialect,
        "dropped index",
        drop_index,
        "add index owner_image_idx on images (owner)",
        "-  { name = \"owner_image_idx\", columns = [\"owner\"] },",
        &format!("CREATE INDEX {}", q(dialect, "owner_image_idx")),
    )
    .await;

    drift_after(
        dialect,
        "changed type",
        changed_type,
        "alter column tasks.request_id: type string(100) -> string(64)",
        "+  { name = \"request_id\", type = \"string(100)\" },",
        match dialect {
            Dialect::Sqlite => "INSERT INTO \"_gm_rebuild_tasks\"",
            Dialect::Postgres => "ALTER COLUMN \"request_id\" TYPE VARCHAR(64)",
            Dialect::Mysql => "MODIFY `request_id` VARCHAR(64) NULL",
        },
    )
    .await;
    drift_after(
        dialect,
        "changed nullability",
        changed_nullability,
        "alter column tasks.user_id: nullable",
        "+  { name = \"user_id\", type = \"string(64)\", nullable = false },",
        match dialect {
            Dialect::Sqlite => "INSERT INTO \"_gm_rebuild_tasks\"",
            Dialect::Postgres => "ALTER COLUMN \"user_id\" DROP NOT NULL",
            Dialect::Mysql => "MODIFY `user_id` VARCHAR(64) NULL",
        },
    )
    .await;
    drift_after(
        dialect,
        "missing foreign key",
        missing_fk,
        "add foreign key image_tags(image_id) -> images(id)",
        &format!("-{fk_line}"),
        match dialect {
            Dialect::Sqlite => "INSERT INTO \"_gm_rebuild_image_tags\"",
            _ => "FOREIGN KEY",
        },
    )
    .await;
    unmanaged_objects_are_left_alone(dialect).await;
}

/// A column, a table, an index and a constraint no revision declares (an operator's, or
/// another application's) are listed as unmanaged, shown in the diff, and never dropped by the
/// repair; the repair of a real difference next to them still works.
async fn unmanaged_objects_are_left_alone(dialect: Dialect) {
    let Some(db) = at_head(dialect).await else {
        return;
    };
    extra_column(&db).await;
    extra_table(&db).await;
    drop_index(&db).await;
    db.exec(&format!(
        "CREATE INDEX {} ON {} ({})",
        q(dialect, "ops_name_idx"),
        q(dialect, "images"),
        q(dialect, "name")
    ))
    .await;
    if dialect != Dialect::Sqlite {
        db.exec(&format!(
            "ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({})",
            q(dialect, "extra_table"),
            q(dialect, "uq_extra"),
            q(dialect, "id")
        ))
        .await;
        db.exec(&format!(
            "ALTER TABLE {} ADD CONSTRAINT {} CHECK (min_disk >= 0)",
            q(dialect, "images"),
            q(dialect, "ops_min_disk_check")
        ))
        .await;
    }
    let o = gm(&db.url, &["db", "drift"]);
    let (out, err) = text(&o);
    let ctx = format!(
        "{dialect}:
stdout:
{out}
stderr:
{err}"
    );
    assert_eq!(code(&o), 1, "{ctx}");
    for object in [
        "column images.extra_col",
        "table extra_table",
        "index ops_name_idx on table images",
    ] {
        assert!(
            out.contains(&format!(
                "  - unmanaged: {object} (no revision declares it; left alone, not repaired)"
            )),
            "missing unmanaged {object}\n{ctx}"
        );
    }
    if dialect != Dialect::Sqlite {
        assert!(
            out.contains("  - unmanaged: check constraint ops_min_disk_check on table images"),
            "{ctx}"
        );
    }
    assert!(out.contains("+[tables.extra_table]"), "{ctx}");
    assert!(
        out.lines()
            .any(|l| l == "  - to repair: add index owner_image_idx on images (owner)"),
        "{ctx}"
    );
    let ddl = out
        .split("-- DDL that would repair it:")
        .nth(1)
        .unwrap_or("");
    for forbidden in [
        "extra_table",
        "extra_col",
        "ops_name_idx",
        "ops_min_disk_check",
        "DROP",
    ] {
        assert!(
            !ddl.contains(forbidden),
            "repair touches `{forbidden}`\n{ctx}"
        );
    }
    // JSON lists them too.
    let j: serde_json::Value =
        serde_json::from_str(&gm(&db.url, &["db", "drift", "--format", "json"]).stdout).unwrap();
    let unmanaged: Vec<&str> = j["unmanaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(unmanaged.contains(&"table extra_table"), "{j}");
    assert!(unmanaged.contains(&"column images.extra_col"), "{j}");
    assert_eq!(j["drift"], true);
}

async fn drift_exit_codes(dialect: Dialect) {
    // 0 on an untouched database synced by the CLI.
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let o = gm(&db.url, &["db", "sync"]);
    assert_eq!(code(&o), 0, "{dialect}: db sync: {:?}", text(&o));
    let o = gm(&db.url, &["db", "drift"]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "{dialect}: {out}\n{err}");
    assert_eq!(
        out,
        format!("No drift: the live schema matches revision(s) {HEAD}.\n")
    );

    // JSON without drift.
    let o = gm(&db.url, &["db", "drift", "--format", "json"]);
    assert_eq!(code(&o), 0);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).expect("valid JSON");
    assert_eq!(j["drift"], false);
    assert_eq!(j["heads"], serde_json::json!([HEAD]));

    // Drift as JSON: valid, `drift: true`, the repair DDL.
    drop_index(&db).await;
    let o = gm(&db.url, &["db", "drift", "--format", "json"]);
    assert_eq!(code(&o), 1, "{:?}", text(&o));
    let j: serde_json::Value = serde_json::from_str(&o.stdout).expect("valid JSON");
    assert_eq!(j["drift"], true);
    assert_eq!(
        j["changes"],
        serde_json::json!(["add index owner_image_idx on images (owner)"])
    );
    let repair = j["repair"].as_array().expect("repair list");
    assert_eq!(repair.len(), 1, "{j:#}");
    assert!(
        repair[0].as_str().unwrap().starts_with("CREATE INDEX"),
        "{j:#}"
    );
    assert!(j["diff"].as_str().unwrap().contains("owner_image_idx"));

    // Colour: none in a pipe, ANSI escapes with --color always, none with never.
    let plain = gm(&db.url, &["db", "drift"]);
    assert!(!plain.stdout.contains('\x1b'));
    let colored = gm(&db.url, &["--color", "always", "db", "drift"]);
    assert_eq!(code(&colored), 1);
    let colored_out = &colored.stdout;
    assert!(colored_out.contains("\x1b[31m-"), "{colored_out}");
    let never = gm(&db.url, &["db", "drift", "--color", "never"]);
    assert!(!never.stdout.contains('\x1b'));

    // 2 on a version row this history does not know.
    db.exec("UPDATE alembic_version SET version_num = '2099_1_contract01'")
        .await;
    let o = gm(&db.url, &["db", "drift"]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 2, "{dialect}: {out}\n{err}");
    assert!(err.contains("2099_1_contract01"), "{err}");

    // 2 when it cannot connect.
    let bad = match dialect {
        Dialect::Sqlite => format!(
            "sqlite:///{}/no/such/dir/glance.sqlite",
            std::env::temp_dir().display()
        ),
        Dialect::Postgres => "postgresql://postgres@127.0.0.1:1/glance".into(),
        Dialect::Mysql => "mysql+pymysql://root:secret@127.0.0.1:1/glance".into(),
    };
    let o = gm(&bad, &["db", "drift"]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 2, "{dialect}: {out}\n{err}");
    assert!(!err.contains("secret"), "password printed: {err}");
}

async fn count_tables(db: &TestDb) -> i64 {
    let sql = match db.dialect {
        Dialect::Sqlite => {
            if !glance_manage::config::sqlite_path(&db.db_url()).exists() {
                return -1;
            }
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
        }
        Dialect::Postgres => {
            "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
        }
        Dialect::Mysql => {
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        }
    };
    let mut c = db.conn().await;
    let n = c.query_i64(sql).await.unwrap().unwrap();
    c.close().await;
    n
}

async fn plan_cases(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    // Fresh: the whole schema, straight to the contract head; nothing is created (on SQLite
    // not even the file).
    let before = count_tables(&db).await;
    let o = gm(&db.url, &["db", "plan"]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "{dialect}: {out}\n{err}");
    assert!(
        out.starts_with(&format!(
            "-- glance-manage plan: (empty) -> {HEAD} on {dialect}\n"
        )),
        "{out}"
    );
    assert_eq!(out.matches("CREATE TABLE").count(), 15, "{out}");
    assert!(!out.contains("DROP "), "{out}");
    assert_eq!(
        count_tables(&db).await,
        before,
        "db plan changed the database"
    );

    let o = gm(&db.url, &["db", "plan", "--format", "json"]);
    assert_eq!(code(&o), 0);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).expect("valid JSON");
    assert_eq!(j["to"], serde_json::json!([HEAD]));
    assert_eq!(j["from"], serde_json::json!([]));
    let steps = j["steps"].as_array().unwrap();
    assert!(steps.len() >= 15, "{j:#}");
    assert!(steps.iter().all(|s| s["statements"].is_array()));
    assert_eq!(
        count_tables(&db).await,
        before,
        "db plan changed the database"
    );

    // From liberty: expand DDL, the data migrations, then the contract phase last.
    upgrade(&db, &revs(), "liberty").await;
    let before = count_tables(&db).await;
    let o = gm(&db.url, &["db", "plan"]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "{dialect}: {out}\n{err}");
    let phases: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("-- phase: "))
        .collect();
    assert_eq!(phases.first(), Some(&"expand"), "{out}");
    assert_eq!(phases.last(), Some(&"contract"), "{out}");
    assert!(
        out.contains("-- data migration ocata_migrate01_community_images"),
        "{out}"
    );
    let contract = out.rsplit("-- phase: contract\n").next().unwrap();
    assert!(contract.contains("DROP TABLE"), "{contract}");
    assert!(contract.contains("is_public"), "{contract}");
    assert_eq!(
        count_tables(&db).await,
        before,
        "db plan changed the database"
    );
    let live = live_of(&db).await;
    assert_eq!(live.heads(), vec!["liberty".to_string()]);
    assert!(live.schema.tables["images"].has_column("is_public"));

    // At the head: nothing to do.
    upgrade(&db, &revs(), HEAD).await;
    let o = gm(&db.url, &["db", "plan"]);
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "{dialect}: {out}\n{err}");
    assert_eq!(
        out,
        "-- nothing to do: the database is at the target revision\n"
    );
    let o = gm(&db.url, &["db", "plan", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(&o.stdout).expect("valid JSON");
    assert_eq!(j["steps"], serde_json::json!([]));
}

per_dialect!(all_drift_cases);
per_dialect!(drift_exit_codes);
per_dialect!(plan_cases);
