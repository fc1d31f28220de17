//! Consecutive revisions: a database the engine brought to revision A, planned to the next
//! revision B in walk order. Two expectations for each of the 29 steps:
//! - self-consistency: the plan makes exactly the change B's snapshot makes to the schema of
//!   its ancestors (both come from our own snapshots, so this checks the planner against the
//!   snapshots, not against Glance), and no drift once it is applied;
//! - independent: the plan makes exactly the change real Glance's revision script made, i.e.
//!   the difference between Glance's schema dumps before and after B
//!   (`fixtures/glance/<backend>/NN_<rev>.sql`, produced by Glance 33.0.0, not by us).
//!
//! The same walk with rows in the tables must keep every row and compute `images.visibility`
//! the way Glance's Ocata migration does.

mod common;
mod engine_support;

use glance_manage::diff;
use glance_manage::engine::{self, Live, UpgradePlan};
use glance_manage::exec::Conn;
use glance_manage::schema::model::{Dialect, Schema};

use engine_support::*;

/// What a plan does, one line per change: a step's summary, or for a SQLite table rebuild the
/// changes it absorbs.
fn planned_changes(p: &UpgradePlan) -> Vec<String> {
    let mut out = Vec::new();
    for s in engine::all_steps(p) {
        if s.rebuild {
            let inner = s
                .summary
                .split_once(" (")
                .map(|(_, rest)| rest.strip_suffix(')').unwrap_or(rest))
                .unwrap_or_else(|| panic!("rebuild summary `{}`", s.summary));
            out.extend(inner.split("; ").map(str::to_string));
        } else {
            out.push(s.summary.clone());
        }
    }
    out.sort();
    out
}

/// Glance's schema after the `n`-th revision of the walk, as the engine reads a live database
/// (normalized, bookkeeping tables left out); the empty schema before the first.
async fn glance_live(dialect: Dialect, n: usize, rev: &str) -> Option<Live> {
    let db = load_glance_dump(dialect, n, rev).await?;
    Some(live_of(&db).await)
}

/// The changes Glance's script for the `n`-th revision made, one line each, sorted.
fn glance_changes(before: &Schema, after: &Schema) -> Vec<String> {
    let mut out: Vec<String> = diff::diff(before, after)
        .changes
        .iter()
        .map(|c| c.to_string())
        .collect();
    out.sort();
    out
}

async fn walk_pairs(dialect: Dialect) {
    let revs = revs();
    let Some(db) = common::TestDb::create(dialect).await else {
        return;
    };
    let order = revs.walk_order();
    let mut conn = db.conn().await;
    let mut applied = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    let mut glance_problems = Vec::new();
    // Glance's schema before the step (nothing before the first), and its dump text.
    let mut glance_before = Schema::default();
    let mut dump_before = String::new();
    let mut compared_with_glance = 0;
    for (i, b) in order.iter().enumerate() {
        let a = if i == 0 { "(empty)" } else { order[i - 1] };
        let live = read_live(&mut conn).await;
        let p = engine::plan_upgrade(&revs, &live, b)
            .unwrap_or_else(|e| panic!("{dialect} {a} -> {b}: {e}"));
        assert_eq!(p.revisions, vec![b.to_string()], "{dialect} {a} -> {b}");
        let mut want: Vec<String> = revision_delta(&revs, b, dialect)
            .iter()
            .map(|c| c.to_string())
            .collect();
        want.sort();
        let got = planned_changes(&p);
        if got != want {
            problems.push(format!(
                "{a} -> {b}: planned\n    {}\n  but the revision changes\n    {}",
                got.join("\n    "),
                want.join("\n    ")
            ));
        }
        // The independent expectation: what Glance's own script changed at this step.
        let dump = glance_dump_text(dialect, i + 1, b);
        if dump == dump_before {
            if !got.is_empty() {
                glance_problems.push(format!(
                    "{a} -> {b}: Glance's schema did not change, the plan does\n    {}",
                    got.join("\n    ")
                ));
            }
        } else {
            let Some(after) = glance_live(dialect, i + 1, b).await else {
                return;
            };
            let glance_want = glance_changes(&glance_before, &after.schema);
            if got != glance_want {
                glance_problems.push(format!(
                    "{a} -> {b}: planned\n    {}\n  but Glance's script changed\n    {}",
                    got.join("\n    "),
                    glance_want.join("\n    ")
                ));
            }
            compared_with_glance += 1;
            glance_before = after.schema;
        }
        dump_before = dump;
        assert!(p.left_alone.is_empty(), "{dialect} {b}: {:?}", p.left_alone);
        apply_plan(&db, &mut conn, &p).await;
        applied.insert(b.to_string());

        let live = read_live(&mut conn).await;
        let mut heads = live.heads();
        heads.sort();
        let mut want_heads = revs.heads_of(&applied);
        want_heads.sort();
        assert_eq!(heads, want_heads, "{dialect} after {b}: version rows");
        assert_no_drift(&revs, &live, &format!("{dialect} {a} -> {b}"));
        let again = engine::plan_upgrade(&revs, &live, b).unwrap();
        assert_nothing_to_do(&mut conn, &again, &format!("{dialect} at {b}")).await;
    }
    conn.close().await;
    assert!(
        problems.is_empty(),
        "{dialect}: {} step(s) differ from the revision's own change (self-consistency):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        glance_problems.is_empty(),
        "{dialect}: {} step(s) differ from what Glance's script changed:\n{}",
        glance_problems.len(),
        glance_problems.join("\n")
    );
    // 29 steps; at the other 20 Glance's dump did not change and neither may the plan.
    assert_eq!(order.len(), 29, "{dialect}: steps");
    assert_eq!(
        compared_with_glance, 9,
        "{dialect}: steps at which Glance's schema changed"
    );
}

per_dialect!(consecutive_pairs => walk_pairs());

// ---------------------------------------------------------------------------------------------
// The same walk with data

const ROWS_AT_LIBERTY: &str = "\
INSERT INTO images (id, name, status, is_public, created_at, deleted, min_disk, min_ram, protected) \
  VALUES ('11111111-1111-1111-1111-111111111111', 'public image', 'active', TRUE, '2015-10-01 10:00:00', FALSE, 0, 0, FALSE);
INSERT INTO images (id, name, status, is_public, created_at, deleted, min_disk, min_ram, protected) \
  VALUES ('22222222-2222-2222-2222-222222222222', 'shared image', 'active', FALSE, '2015-10-01 10:00:00', FALSE, 0, 0, TRUE);
INSERT INTO images (id, name, status, is_public, created_at, deleted, min_disk, min_ram, protected) \
  VALUES ('33333333-3333-3333-3333-333333333333', 'private image', 'queued', FALSE, '2015-10-01 10:00:00', FALSE, 1, 2, FALSE);
INSERT INTO image_members (image_id, member, can_share, created_at, deleted, status) \
  VALUES ('22222222-2222-2222-2222-222222222222', 'tenant-b', FALSE, '2015-10-02 10:00:00', FALSE, 'accepted');
INSERT INTO image_properties (image_id, name, value, created_at, deleted) \
  VALUES ('33333333-3333-3333-3333-333333333333', 'os_distro', 'debian', '2015-10-01 10:00:00', FALSE);
INSERT INTO image_tags (image_id, value, created_at, deleted) \
  VALUES ('11111111-1111-1111-1111-111111111111', 'gold', '2015-10-01 10:00:00', FALSE);
INSERT INTO image_locations (image_id, value, created_at, deleted, meta_data, status) \
  VALUES ('11111111-1111-1111-1111-111111111111', 'file:///a', '2015-10-01 10:00:00', FALSE, '{\"backend\": \"fast\"}', 'active')";

async fn rows(conn: &mut Conn, sql: &str) -> Vec<Vec<String>> {
    conn.query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.text().unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}

async fn walk_with_data(dialect: Dialect) {
    let revs = revs();
    let Some(db) = common::TestDb::create(dialect).await else {
        return;
    };
    let order = revs.walk_order();
    for (i, rev) in order.iter().enumerate() {
        upgrade(&db, &revs, rev).await;
        let mut conn = db.conn().await;
        if i == 0 {
            conn.execute(ROWS_AT_LIBERTY)
                .await
                .unwrap_or_else(|e| panic!("{dialect}: inserting rows: {e}"));
        }
        let n = |t: &str| format!("SELECT COUNT(*) FROM {t}");
        for (t, want) in [
            ("images", 3),
            ("image_members", 1),
            ("image_properties", 1),
            ("image_tags", 1),
            ("image_locations", 1),
        ] {
            assert_eq!(
                conn.query_i64(&n(t)).await.unwrap(),
                Some(want),
                "{dialect} after {rev}: rows of {t}"
            );
        }
        let live = read_live(&mut conn).await;
        assert_no_drift(&revs, &live, &format!("{dialect} with rows, after {rev}"));
        conn.close().await;
    }
    let mut conn = db.conn().await;
    assert_eq!(
        rows(
            &mut conn,
            "SELECT id, name, status, visibility, min_disk, min_ram, protected, os_hidden FROM images ORDER BY id"
        )
        .await,
        vec![
            vec![
                "11111111-1111-1111-1111-111111111111",
                "public image",
                "active",
                "public",
                "0",
                "0",
                bool_text(dialect, false),
                bool_text(dialect, false)
            ],
            vec![
                "22222222-2222-2222-2222-222222222222",
                "shared image",
                "active",
                "shared",
                "0",
                "0",
                bool_text(dialect, true),
                bool_text(dialect, false)
            ],
            vec![
                "33333333-3333-3333-3333-333333333333",
                "private image",
                "queued",
                "private",
                "1",
                "2",
                bool_text(dialect, false),
                bool_text(dialect, false)
            ],
        ],
        "{dialect}: images after the walk"
    );
    assert_eq!(
        rows(
            &mut conn,
            "SELECT image_id, member, status FROM image_members"
        )
        .await,
        vec![vec![
            "22222222-2222-2222-2222-222222222222",
            "tenant-b",
            "accepted"
        ]],
    );
    assert_eq!(
        rows(
            &mut conn,
            "SELECT image_id, name, value FROM image_properties"
        )
        .await,
        vec![vec![
            "33333333-3333-3333-3333-333333333333",
            "os_distro",
            "debian"
        ]],
    );
    assert_eq!(
        rows(&mut conn, "SELECT image_id, value FROM image_tags").await,
        vec![vec!["11111111-1111-1111-1111-111111111111", "gold"]],
    );
    // train_migrate01 renamed the location's `backend` key to `store`.
    assert_eq!(
        rows(
            &mut conn,
            "SELECT value, meta_data, status FROM image_locations"
        )
        .await,
        vec![vec!["file:///a", "{\"store\": \"fast\"}", "active"]],
    );
    conn.close().await;
}

/// How the driver hands back a boolean column.
fn bool_text(dialect: Dialect, b: bool) -> &'static str {
    match (dialect, b) {
        (Dialect::Postgres, true) => "true",
        (Dialect::Postgres, false) => "false",
        (_, true) => "1",
        (_, false) => "0",
    }
}

per_dialect!(walk_keeps_rows => walk_with_data());
