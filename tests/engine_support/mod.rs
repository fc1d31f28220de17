//! Helpers for the engine tests: plan and apply in-process the way `db upgrade` does, read the
//! live state, and describe differences readably.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use glance_manage::diff::{self, Change};
use glance_manage::engine::{self, DataStep, Live, UpgradePlan};
use glance_manage::exec::Conn;
use glance_manage::exec::Session;
use glance_manage::normalize::normalize;
use glance_manage::revisions::RevisionSet;
use glance_manage::schema::model::{Dialect, Schema};

use crate::common::TestDb;

pub fn revs() -> RevisionSet {
    RevisionSet::builtin().expect("builtin revisions")
}

/// Backend directory name used by `fixtures/glance/` and `fixtures/schemas/`.
pub fn backend_dir(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgresql",
        Dialect::Mysql => "mariadb",
    }
}

/// `fixtures/glance/<backend>/NN_<rev>.sql`: the schema real Glance had after revision `rev`,
/// the `n`-th of its walk (see `fixtures/glance/README.md`).
pub fn glance_dump_path(dialect: Dialect, n: usize, rev: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/glance")
        .join(backend_dir(dialect))
        .join(format!("{n:02}_{rev}.sql"))
}

/// A Glance dump without its trailing `-- alembic_version: …` line.
pub fn glance_dump_text(dialect: Dialect, n: usize, rev: &str) -> String {
    let path = glance_dump_path(dialect, n, rev);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.starts_with("-- alembic_version:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fresh database holding what Glance created at dump `n`.
pub async fn load_glance_dump(dialect: Dialect, n: usize, rev: &str) -> Option<TestDb> {
    let path = glance_dump_path(dialect, n, rev);
    let sql = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let db = TestDb::create(dialect).await?;
    let sql = match dialect {
        // SHOW CREATE TABLE output is in name order: referenced tables may come later.
        Dialect::Mysql => format!("SET FOREIGN_KEY_CHECKS=0;\n{sql}"),
        _ => sql,
    };
    db.exec(&sql).await;
    Some(db)
}

pub async fn read_live(conn: &mut Conn) -> Live {
    engine::read_live(conn)
        .await
        .unwrap_or_else(|e| panic!("read_live failed: {e}"))
}

pub async fn live_of(db: &TestDb) -> Live {
    let mut conn = db.conn().await;
    let live = read_live(&mut conn).await;
    conn.close().await;
    live
}

/// Runs data steps whose `pending` query finds rows (as `db upgrade` does).
async fn run_data(session: &mut Session<'_>, steps: &[DataStep]) {
    for s in steps {
        if let Some(q) = &s.pending {
            let n = session
                .conn
                .query_i64(q)
                .await
                .unwrap_or_else(|e| panic!("pending query of {} failed: {e}", s.name));
            if n.unwrap_or(0) == 0 {
                continue;
            }
        }
        for st in &s.statements {
            session
                .run_statement(st)
                .await
                .unwrap_or_else(|e| panic!("data step {} failed: {e}\n{st}", s.name));
        }
    }
}

fn all_sql(p: &UpgradePlan) -> String {
    p.script()
}

/// Applies a plan the way `db upgrade` does: expand DDL + expand data + version rows, the
/// migrate data steps, then contract DDL + version rows; each phase in one transaction where
/// the backend allows, under the migration lock.
pub async fn apply_plan(db: &TestDb, conn: &mut Conn, p: &UpgradePlan) {
    let url = db.db_url();
    let mut s = Session::begin(conn, &url, Duration::from_secs(10))
        .await
        .expect("migration lock");
    let ctx = || format!("applying plan on {}:\n{}", p.dialect, all_sql(p));
    if p.fresh {
        s.begin_phase().await.unwrap();
        s.run_statements(&glance_manage::plan::statements(p.dialect, &p.expand))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", ctx()));
        s.write_heads(&[], &p.final_heads).await.unwrap();
        s.commit_phase().await.unwrap();
    } else {
        s.begin_phase().await.unwrap();
        s.run_statements(&glance_manage::plan::statements(p.dialect, &p.expand))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", ctx()));
        run_data(&mut s, &p.expand_data).await;
        if p.from_heads != p.expand_heads {
            s.write_heads(&p.from_heads, &p.expand_heads).await.unwrap();
        }
        s.commit_phase().await.unwrap();
        s.begin_phase().await.unwrap();
        run_data(&mut s, &p.migrate).await;
        s.commit_phase().await.unwrap();
        s.begin_phase().await.unwrap();
        s.run_statements(&glance_manage::plan::statements(p.dialect, &p.contract))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", ctx()));
        if p.expand_heads != p.final_heads {
            s.write_heads(&p.expand_heads, &p.final_heads)
                .await
                .unwrap();
        }
        s.commit_phase().await.unwrap();
    }
    s.finish()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", ctx()));
}

/// Plans `target` against the live database and applies it; returns the plan.
pub async fn upgrade(db: &TestDb, revs: &RevisionSet, target: &str) -> UpgradePlan {
    let mut conn = db.conn().await;
    let live = read_live(&mut conn).await;
    let p = engine::plan_upgrade(revs, &live, target)
        .unwrap_or_else(|e| panic!("planning {target} on {}: {e}", db.dialect));
    apply_plan(db, &mut conn, &p).await;
    conn.close().await;
    p
}

/// Asserts that the live database has no drift against its version rows.
pub fn assert_no_drift(revs: &RevisionSet, live: &Live, context: &str) {
    let d = engine::drift(revs, live).unwrap_or_else(|e| panic!("{context}: drift failed: {e}"));
    if !d.changes.is_empty() || !d.unsupported.is_empty() {
        let diff = similar::TextDiff::from_lines(&d.expected_toml, &d.live_toml)
            .unified_diff()
            .context_radius(2)
            .header("expected", "live")
            .to_string();
        panic!(
            "{context}: drift on {} at {:?}:\n  changes: {:#?}\n  unsupported: {:#?}\n{diff}",
            live.dialect, d.heads, d.changes, d.unsupported
        );
    }
}

/// Every step summary of a plan, one line each (for messages).
pub fn plan_summary(p: &UpgradePlan) -> String {
    engine::all_steps(p)
        .iter()
        .map(|s| format!("  [{}] {}", s.phase, s.summary))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The change revision `name` makes to the schema of its ancestors, normalized for `dialect`:
/// what Glance's revision script does.
pub fn revision_delta(revs: &RevisionSet, name: &str, dialect: Dialect) -> Vec<Change> {
    let before = engine::expected(revs, &revs.ancestors(name), dialect);
    let snap = revs.get(name).expect("revision");
    let after = normalize(&snap.schema.resolve(dialect), dialect);
    diff::diff(&before, &after).changes
}

/// The normalized schema expected after exactly `applied`.
pub fn expected(revs: &RevisionSet, applied: &BTreeSet<String>, dialect: Dialect) -> Schema {
    engine::expected(revs, applied, dialect)
}

/// A schema without snapshot-only hints, so a live schema and a snapshot compare equal.
pub fn strip_hints(s: &Schema) -> Schema {
    let mut s = s.clone();
    for t in s.tables.values_mut() {
        t.renamed_from = None;
        for c in &mut t.columns {
            c.renamed_from = None;
        }
    }
    s
}

/// Asserts that a plan has nothing to do: no revision to apply, no DDL, nothing left alone,
/// and the data migrations it still lists (those of applied expand revisions whose contract
/// counterpart is not applied) find no pending rows.
pub async fn assert_nothing_to_do(conn: &mut Conn, p: &UpgradePlan, context: &str) {
    assert!(
        p.revisions.is_empty()
            && p.expand.is_empty()
            && p.contract.is_empty()
            && p.expand_data.is_empty()
            && p.left_alone.is_empty()
            && p.unsupported.is_empty(),
        "{context}: the plan is not empty:\n{}\nrevisions: {:?}\nleft alone: {:?}\nunsupported: {:?}",
        plan_summary(p),
        p.revisions,
        p.left_alone,
        p.unsupported
    );
    for m in &p.migrate {
        let q = m
            .pending
            .as_ref()
            .unwrap_or_else(|| panic!("{context}: data step {} has no pending query", m.name));
        let n = conn.query_i64(q).await.unwrap().unwrap_or(0);
        assert_eq!(n, 0, "{context}: data step {} has pending rows", m.name);
    }
}

/// Every difference between two *raw* (not normalized) introspected schemas, object for
/// object: tables, columns (name, type, nullability, default, autoincrement, position), primary
/// key (with its name), unique constraints, indexes, foreign keys and checks (with their
/// names, generated ones included), MySQL table options, PostgreSQL enum types, and triggers
/// (table, timing, event and the body text exactly as the catalog holds it).
pub fn raw_differences(glance: &Schema, ours: &Schema) -> Vec<String> {
    use std::fmt::Debug;
    let mut out = Vec::new();
    let trigger = |t: &glance_manage::schema::model::Trigger| {
        format!(
            "{} on {} ({} {}, function {:?}):\n{}",
            t.name, t.table, t.timing, t.event, t.function, t.body
        )
    };
    let (g, o): (Vec<String>, Vec<String>) = (
        glance.triggers.iter().map(trigger).collect(),
        ours.triggers.iter().map(trigger).collect(),
    );
    for x in g.iter().filter(|x| !o.contains(x)) {
        out.push(format!("trigger only in Glance's: {x}"));
    }
    for x in o.iter().filter(|x| !g.contains(x)) {
        out.push(format!("trigger only in ours: {x}"));
    }
    if glance.enums != ours.enums {
        out.push(format!(
            "enum types: Glance {:?}, ours {:?}",
            glance.enums.values().collect::<Vec<_>>(),
            ours.enums.values().collect::<Vec<_>>()
        ));
    }
    for name in glance.tables.keys() {
        if !ours.tables.contains_key(name) {
            out.push(format!("table `{name}`: missing from ours"));
        }
    }
    for name in ours.tables.keys() {
        if !glance.tables.contains_key(name) {
            out.push(format!("table `{name}`: not in Glance's"));
        }
    }
    fn list<T: Debug>(out: &mut Vec<String>, table: &str, what: &str, glance: &[T], ours: &[T]) {
        let g: Vec<String> = glance.iter().map(|x| format!("{x:?}")).collect();
        let o: Vec<String> = ours.iter().map(|x| format!("{x:?}")).collect();
        for x in &g {
            if !o.contains(x) {
                out.push(format!("table `{table}`: {what} only in Glance's: {x}"));
            }
        }
        for x in &o {
            if !g.contains(x) {
                out.push(format!("table `{table}`: {what} only in ours: {x}"));
            }
        }
    }
    for (name, g) in &glance.tables {
        let Some(o) = ours.tables.get(name) else {
            continue;
        };
        let gcols: Vec<&str> = g.columns.iter().map(|c| c.name.as_str()).collect();
        let ocols: Vec<&str> = o.columns.iter().map(|c| c.name.as_str()).collect();
        if gcols != ocols {
            out.push(format!(
                "table `{name}`: columns (in order) Glance {gcols:?}, ours {ocols:?}"
            ));
        }
        for gc in &g.columns {
            if let Some(oc) = o.column(&gc.name)
                && !gc.same_definition(oc)
            {
                {
                    out.push(format!(
                        "table `{name}`: column `{}`: Glance {} null={} default={:?} ai={}, ours {} null={} default={:?} ai={}",
                        gc.name,
                        gc.ty,
                        gc.nullable,
                        gc.default,
                        gc.autoincrement,
                        oc.ty,
                        oc.nullable,
                        oc.default,
                        oc.autoincrement
                    ));
                }
            }
        }
        if g.primary_key != o.primary_key {
            out.push(format!(
                "table `{name}`: primary key Glance {:?}, ours {:?}",
                g.primary_key, o.primary_key
            ));
        }
        list(&mut out, name, "unique", &g.uniques, &o.uniques);
        list(&mut out, name, "index", &g.indexes, &o.indexes);
        list(
            &mut out,
            name,
            "foreign key",
            &g.foreign_keys,
            &o.foreign_keys,
        );
        list(&mut out, name, "check", &g.checks, &o.checks);
        if g.mysql != o.mysql {
            out.push(format!(
                "table `{name}`: options Glance {:?}, ours {:?}",
                g.mysql, o.mysql
            ));
        }
    }
    out
}
