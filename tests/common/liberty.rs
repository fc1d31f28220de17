//! A liberty-era Glance database with rows in every table a data migration touches, and what
//! must hold once `db sync` has converged it (the crash tests: `tests/crash.rs`,
//! `tests/crash_sigkill.rs`).

use glance_manage::engine;
use glance_manage::introspect;
use glance_manage::revisions::RevisionSet;
use glance_manage::schema::model::Dialect;

use super::{Run, TestDb, gm};

pub const HEAD: &str = "2024_1_contract01";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// An empty database.
    Fresh,
    /// `db upgrade liberty`, then rows in images, members, properties, tags, locations, tasks,
    /// task_info and metadef_resource_types.
    Liberty,
}

/// A column rendered as text the same way before and after the upgrade.
pub fn txt(d: Dialect, col: &str) -> String {
    match d {
        Dialect::Mysql => format!("CAST({col} AS CHAR)"),
        _ => format!("CAST({col} AS TEXT)"),
    }
}

pub async fn seed_liberty(db: &TestDb) {
    db.exec(
        "INSERT INTO images (id, name, size, status, is_public, created_at, updated_at, deleted_at, deleted, \
         disk_format, container_format, checksum, owner, min_disk, min_ram, protected, virtual_size) VALUES \
         ('img-public', 'pub', 1024, 'active', TRUE, '2015-10-01 00:00:00', '2015-10-03 04:05:06', NULL, FALSE, 'qcow2', 'bare', 'd41d8cd98f00b204e9800998ecf8427e', 'tenant-a', 0, 0, FALSE, 4096), \
         ('img-shared', 'sh', NULL, 'active', FALSE, '2015-10-01 00:00:00', NULL, NULL, FALSE, 'raw', 'bare', NULL, 'tenant-a', 0, 0, FALSE, NULL), \
         ('img-private', 'pr''ivate', 5, 'queued', FALSE, '2015-10-01 00:00:00', NULL, NULL, FALSE, NULL, NULL, NULL, 'tenant-b', 0, 0, FALSE, NULL), \
         ('img-gone-member', 'gm', 7, 'active', FALSE, '2015-10-01 00:00:00', NULL, NULL, FALSE, 'iso', 'ovf', NULL, NULL, 1, 2, TRUE, 9), \
         ('img-deleted', 'old', 3, 'deleted', TRUE, '2015-09-01 00:00:00', NULL, '2015-09-02 00:00:00', TRUE, NULL, NULL, NULL, 'tenant-c', 0, 0, FALSE, NULL)",
    )
    .await;
    db.exec(
        "INSERT INTO image_members (image_id, member, can_share, created_at, deleted, status) VALUES \
         ('img-shared', 'tenant-x', FALSE, '2015-10-02 00:00:00', FALSE, 'accepted'), \
         ('img-shared', 'tenant-y', TRUE, '2015-10-02 00:00:00', FALSE, 'pending'), \
         ('img-gone-member', 'tenant-z', FALSE, '2015-10-02 00:00:00', TRUE, 'accepted')",
    )
    .await;
    db.exec(
        "INSERT INTO image_properties (image_id, name, value, created_at, deleted) VALUES \
         ('img-public', 'os_distro', 'debian', '2015-10-01 00:00:00', FALSE), \
         ('img-public', 'hw_disk_bus', 'virtio', '2015-10-01 00:00:00', FALSE), \
         ('img-private', 'note', 'quote '' and ; -- inside', '2015-10-01 00:00:00', FALSE)",
    )
    .await;
    db.exec(
        "INSERT INTO image_tags (image_id, value, created_at, deleted) VALUES \
         ('img-public', 'gold', '2015-10-01 00:00:00', FALSE), ('img-shared', 'beta', '2015-10-01 00:00:00', FALSE)",
    )
    .await;
    db.exec(
        "INSERT INTO image_locations (image_id, value, created_at, deleted, meta_data, status) VALUES \
         ('img-public', 'file:///var/lib/glance/images/img-public', '2015-10-01 00:00:00', FALSE, '{\"backend\": \"fast\"}', 'active'), \
         ('img-shared', 'rbd://pool/img-shared', '2015-10-01 00:00:00', FALSE, '{}', 'active')",
    )
    .await;
    db.exec(
        "INSERT INTO tasks (id, type, status, owner, expires_at, created_at, deleted) VALUES \
         ('task-1', 'import', 'success', 'tenant-a', '2015-11-01 00:00:00', '2015-10-01 00:00:00', FALSE), \
         ('task-2', 'import', 'failure', 'tenant-b', NULL, '2015-10-01 00:00:00', TRUE)",
    )
    .await;
    db.exec(
        "INSERT INTO task_info (task_id, input, result, message) VALUES \
         ('task-1', '{\"import_from\": \"http://example.com/x.img\"}', '{\"image_id\": \"img-public\"}', 'done')",
    )
    .await;
    db.exec(
        "INSERT INTO metadef_resource_types (name, protected, created_at) VALUES \
         ('OS::Nova::Instance', TRUE, '2015-10-01 00:00:00'), ('OS::Glance::Image', TRUE, '2015-10-01 00:00:00')",
    )
    .await;
}

/// Every seeded column that survives to the head unchanged, as text, in a stable order.
pub async fn stable_rows(db: &TestDb) -> Vec<Vec<String>> {
    let d = db.dialect;
    let t = |c: &str| txt(d, c);
    let mut all = Vec::new();
    let queries = [
        format!(
            "SELECT id, {}, {}, status, {}, {}, {}, {}, disk_format, container_format, checksum, owner, {}, {}, {}, {} FROM images WHERE id NOT LIKE 'bulk-%' ORDER BY id",
            t("name"),
            t("size"),
            t("created_at"),
            t("updated_at"),
            t("deleted_at"),
            t("deleted"),
            t("min_disk"),
            t("min_ram"),
            t("protected"),
            t("virtual_size")
        ),
        format!(
            "SELECT image_id, member, {}, {}, {}, status FROM image_members ORDER BY image_id, member",
            t("can_share"),
            t("created_at"),
            t("deleted")
        ),
        format!(
            "SELECT image_id, name, value, {} FROM image_properties ORDER BY image_id, name",
            t("deleted")
        ),
        format!(
            "SELECT image_id, value, {} FROM image_tags ORDER BY image_id, value",
            t("created_at")
        ),
        "SELECT image_id, value, status FROM image_locations ORDER BY image_id".to_string(),
        format!(
            "SELECT id, type, status, owner, {}, {}, {} FROM tasks ORDER BY id",
            t("expires_at"),
            t("created_at"),
            t("deleted")
        ),
        format!(
            "SELECT task_id, {}, {}, message FROM task_info ORDER BY task_id",
            t("input"),
            t("result")
        ),
    ];
    for q in &queries {
        let rows = db.rows(q).await;
        all.push(vec![format!("-- {q}: {} row(s)", rows.len())]);
        all.extend(rows);
    }
    all
}

/// The data migrations' results at the head.
pub async fn assert_migrated(db: &TestDb, ctx: &str) {
    let vis = db
        .rows("SELECT id, visibility FROM images WHERE id NOT LIKE 'bulk-%' ORDER BY id")
        .await;
    let got: Vec<(String, String)> = vis.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let want: Vec<(String, String)> = [
        ("img-deleted", "public"),
        ("img-gone-member", "private"),
        ("img-private", "private"),
        ("img-public", "public"),
        ("img-shared", "shared"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(got, want, "{ctx}: visibility");
    let types = db
        .rows("SELECT name FROM metadef_resource_types ORDER BY name")
        .await;
    assert_eq!(
        types,
        vec![
            vec!["OS::Glance::Image".to_string()],
            vec!["OS::Nova::Server".to_string()]
        ],
        "{ctx}: metadef rename"
    );
    let meta = db
        .rows(&format!(
            "SELECT image_id, {} FROM image_locations ORDER BY image_id",
            txt(db.dialect, "meta_data")
        ))
        .await;
    assert_eq!(
        meta,
        vec![
            vec![
                "img-public".to_string(),
                "{\"store\": \"fast\"}".to_string()
            ],
            vec!["img-shared".to_string(), "{}".to_string()],
        ],
        "{ctx}: backend -> store"
    );
}

pub async fn prepare(dialect: Dialect, scenario: Scenario) -> Option<TestDb> {
    let db = TestDb::create(dialect).await?;
    if scenario == Scenario::Liberty {
        let r = gm(&db.url, &["db", "upgrade", "liberty"]);
        assert_eq!(r.code, 0, "upgrade liberty: {r:?}");
        seed_liberty(&db).await;
    }
    Some(db)
}

/// `db drift`'s verdict, computed in-process (one CLI start less per kill point).
pub async fn assert_no_drift(db: &TestDb, revs: &RevisionSet, ctx: &str) {
    let mut c = db.conn().await;
    let live = engine::read_live(&mut c).await.expect("introspect");
    c.close().await;
    let d = engine::drift(revs, &live).expect("drift");
    assert!(
        d.changes.is_empty() && d.unsupported.is_empty(),
        "{ctx}: drift after convergence: {:?} {:?}",
        d.changes,
        d.unsupported
    );
}

/// After an interrupted run: the next `db sync` converges. `revs`: check drift in-process
/// (else through `db drift`).
pub async fn assert_converges(
    db: &TestDb,
    scenario: Scenario,
    before: &[Vec<String>],
    revs: Option<&RevisionSet>,
    ctx: &str,
) {
    let r = gm(&db.url, &["db", "sync"]);
    assert_eq!(r.code, 0, "{ctx}: second sync: {r:?}");
    let last = r.lines().last().copied().unwrap_or_default();
    assert!(
        last == "Database is synced successfully."
            || last == "Database is up to date. No migrations needed.",
        "{ctx}: second sync: {r:?}"
    );
    assert_no_panic(&r, ctx);
    match revs {
        Some(revs) => assert_no_drift(db, revs, ctx).await,
        None => {
            let d = gm(&db.url, &["db", "drift"]);
            assert_eq!(d.code, 0, "{ctx}: drift after convergence: {d:?}");
        }
    }
    assert_eq!(db.version_rows().await, vec![HEAD], "{ctx}: version rows");
    if scenario == Scenario::Liberty {
        assert_eq!(stable_rows(db).await, before, "{ctx}: seeded rows changed");
        assert_migrated(db, ctx).await;
    }
}

pub fn assert_no_panic(r: &Run, ctx: &str) {
    assert!(
        !r.stderr.contains("panicked") && !r.stderr.contains("RUST_BACKTRACE"),
        "{ctx}: {r:?}"
    );
}

/// Adds `n` more liberty-era images (`bulk-000001`…), every third public, so that the data
/// migrations and the `images` rebuilds have real work: a run long enough to be killed mid-way.
pub async fn seed_bulk_images(db: &TestDb, n: usize) {
    let numbers = match db.dialect {
        // MariaDB's SEQUENCE engine; recursive CTEs elsewhere.
        Dialect::Mysql => format!("SELECT seq AS i FROM seq_1_to_{n}"),
        _ => format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s"
        ),
    };
    let id = match db.dialect {
        Dialect::Mysql => "CONCAT('bulk-', LPAD(i, 6, '0'))",
        Dialect::Postgres => "'bulk-' || LPAD(CAST(i AS TEXT), 6, '0')",
        Dialect::Sqlite => "'bulk-' || SUBSTR('000000' || i, -6)",
    };
    db.exec(&format!(
        "INSERT INTO images (id, name, size, status, is_public, created_at, deleted, min_disk, min_ram, protected) \
         SELECT {id}, 'bulk', i, 'active', CASE WHEN i % 3 = 0 THEN TRUE ELSE FALSE END, \
         '2015-10-01 00:00:00', FALSE, 0, 0, FALSE FROM ({numbers}) AS n"
    ))
    .await;
}

/// The bulk images after the upgrade: (visibility, count), every row still there.
pub async fn bulk_visibility(db: &TestDb) -> Vec<Vec<String>> {
    db.rows(
        "SELECT visibility, COUNT(*) FROM images WHERE id LIKE 'bulk-%' GROUP BY visibility ORDER BY visibility",
    )
    .await
}

/// Everything a crash could have changed, as one comparable text: the version rows, the raw
/// schema (every table, column, index, constraint, trigger) and the rows of the tables the
/// data migrations touch. Two databases with the same text are in the same state.
pub async fn state(db: &TestDb) -> String {
    let mut c = db.conn().await;
    let found = introspect::introspect(&mut c).await.expect("introspect");
    c.close().await;
    let has = |t: &str| found.schema.tables.contains_key(t);
    let mut out = format!("{:?}\n", found.schema);
    if has("alembic_version") {
        out.push_str(&format!("versions {:?}\n", db.version_rows().await));
    }
    for (table, order) in [
        ("images", "id"),
        ("metadef_resource_types", "name"),
        ("image_locations", "image_id"),
    ] {
        if has(table) {
            let rows = db
                .rows(&format!("SELECT * FROM {table} ORDER BY {order}"))
                .await;
            out.push_str(&format!("{table} {rows:?}\n"));
        }
    }
    out
}
