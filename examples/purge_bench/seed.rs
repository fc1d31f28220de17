//! The seeded data: Glance's tables filled by set-based `INSERT … SELECT` over a numbers table
//! (PostgreSQL `generate_series`, MariaDB's `seq_1_to_N` sequence engine, SQLite a recursive
//! CTE), never row by row, so seeding stays small next to the runs it prepares.
//!
//! Shape (per `--images N`, default 100,000):
//! - `images`: N rows; every second one soft-deleted (`status 'deleted'`, `deleted_at` set).
//! - children per image: 8 `image_properties`, 4 `image_locations`, 4 `image_members`,
//!   4 `image_tags` (20 N rows), soft-deleted with their image and with the image's
//!   `deleted_at` (Glance's `image_destroy` stamps them all alike).
//! - `tasks`: N / 10 rows, every second one soft-deleted; one `task_info` row per task.
//! - metadef tables (never purged; checked to stay untouched): 100 namespaces, 10 resource
//!   types, 100 namespace/resource-type links, 1,000 objects, 5,000 properties, 1,000 tags.
//!
//! `deleted_at` differs per image and per task (2024-01-01 plus i seconds), so "the oldest M
//! rows" is one well-defined set for every contender: Glance orders `task_info` and `tasks` by
//! `tasks.deleted_at` without a tie-breaker, and with equal stamps its capped run could pick
//! different tasks in the two statements and fail on the foreign key.

use glance_manage::exec::Conn;
use glance_manage::schema::model::Dialect;

/// Child tables and rows per image.
pub const CHILDREN: [(&str, u64); 4] = [
    ("image_properties", 8),
    ("image_locations", 4),
    ("image_members", 4),
    ("image_tags", 4),
];

/// Every Glance table the benchmark counts before and after each run.
pub const TABLES: [&str; 13] = [
    "images",
    "image_properties",
    "image_locations",
    "image_members",
    "image_tags",
    "tasks",
    "task_info",
    "metadef_namespaces",
    "metadef_resource_types",
    "metadef_namespace_resource_types",
    "metadef_objects",
    "metadef_properties",
    "metadef_tags",
];

/// Metadef namespaces; each has 10 objects, 50 properties, 10 tags and one resource type.
const NAMESPACES: u64 = 100;
const RESOURCE_TYPES: u64 = 10;

/// Sizes of the seeded data.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub images: u64,
    pub tasks: u64,
}

impl Shape {
    /// Rows the seed inserts into the purgeable tables (metadef excluded).
    pub fn purgeable_rows(&self) -> u64 {
        self.images * (1 + CHILDREN.iter().map(|(_, n)| n).sum::<u64>()) + 2 * self.tasks
    }
}

fn ts(d: Dialect, s: &str) -> String {
    match d {
        // SQLAlchemy stores SQLite DATETIME as text with microseconds.
        Dialect::Sqlite => format!("'{s}.000000'"),
        _ => format!("TIMESTAMP '{s}'"),
    }
}

/// `base + secs` seconds, as the column type wants it.
fn ts_plus(d: Dialect, base: &str, secs: &str) -> String {
    match d {
        Dialect::Sqlite => {
            format!(
                "strftime('%Y-%m-%d %H:%M:%S', '{base}', '+' || ({secs}) || ' seconds') || '.000000'"
            )
        }
        Dialect::Postgres => format!("(TIMESTAMP '{base}' + ({secs}) * INTERVAL '1 second')"),
        Dialect::Mysql => format!("(TIMESTAMP '{base}' + INTERVAL ({secs}) SECOND)"),
    }
}

fn concat(d: Dialect, parts: &[&str]) -> String {
    match d {
        Dialect::Mysql => format!("CONCAT({})", parts.join(", ")),
        _ => format!("({})", parts.join(" || ")),
    }
}

/// `prefix` followed by `expr` zero-padded to 12 digits.
fn padded(d: Dialect, prefix: &str, expr: &str) -> String {
    match d {
        Dialect::Sqlite => format!("printf('{prefix}%012d', {expr})"),
        Dialect::Postgres => format!("('{prefix}' || lpad(({expr})::text, 12, '0'))"),
        Dialect::Mysql => format!("CONCAT('{prefix}', LPAD({expr}, 12, '0'))"),
    }
}

/// The numbers table `bench_n(i)` holding 1..=n, built the backend's fastest way.
fn numbers(d: Dialect, n: u64) -> Vec<String> {
    let create = "CREATE TABLE bench_n (i INTEGER NOT NULL PRIMARY KEY)".to_string();
    let fill = match d {
        Dialect::Sqlite => format!(
            "INSERT INTO bench_n (i) WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s"
        ),
        Dialect::Postgres => format!("INSERT INTO bench_n (i) SELECT generate_series(1, {n})"),
        Dialect::Mysql => format!("INSERT INTO bench_n (i) SELECT seq FROM seq_1_to_{n}"),
    };
    vec![create, fill]
}

/// The statements that fill a freshly synced database.
pub fn statements(d: Dialect, s: Shape) -> Vec<String> {
    let created = ts(d, "2023-06-01 00:00:00");
    let base = "2024-01-01 00:00:00";
    let del_at = format!(
        "CASE WHEN n.i % 2 = 0 THEN {} ELSE NULL END",
        ts_plus(d, base, "n.i")
    );
    let del = "(n.i % 2 = 0)";
    let image_id = padded(d, "00000000-0000-4000-8000-", "n.i");
    let task_id = padded(d, "11111111-0000-4000-8000-", "n.i");
    let max = s.images.max(s.tasks).max(100);
    let mut sql = numbers(d, max);
    sql.push(format!(
        "INSERT INTO images (id, name, size, status, created_at, updated_at, deleted_at, deleted, \
         disk_format, container_format, checksum, owner, min_disk, min_ram, protected, \
         virtual_size, visibility, os_hidden, os_hash_algo, os_hash_value) \
         SELECT {image_id}, {}, 1073741824 + n.i, CASE WHEN n.i % 2 = 0 THEN 'deleted' ELSE 'active' END, \
         {created}, {created}, {del_at}, {del}, 'qcow2', 'bare', {}, {}, 0, 0, FALSE, \
         2147483648 + n.i, 'shared', FALSE, 'sha512', {} \
         FROM bench_n n WHERE n.i <= {}",
        concat(d, &["'image-'", "n.i"]),
        padded(d, "5eb63bbbe01e", "n.i"),
        concat(d, &["'project-'", "(n.i % 1000)"]),
        padded(d, &"ab".repeat(58), "n.i"),
        s.images
    ));
    for (table, per) in CHILDREN {
        let (cols, vals) = match table {
            "image_properties" => (
                "name, value",
                format!(
                    "{}, {}",
                    concat(d, &["'property_'", "k.i"]),
                    concat(d, &["'value of property '", "k.i", "' of image '", "n.i"])
                ),
            ),
            "image_locations" => (
                "value, meta_data, status",
                format!(
                    "{}, '{{}}', 'active'",
                    concat(
                        d,
                        &["'rbd://b0c1d2e3/images/'", &image_id, "'/snap'", "k.i"]
                    )
                ),
            ),
            "image_members" => (
                "member, can_share, status",
                format!("{}, FALSE, 'accepted'", concat(d, &["'project-'", "k.i"])),
            ),
            _ => ("value", concat(d, &["'tag-'", "k.i"])),
        };
        sql.push(format!(
            "INSERT INTO {table} (image_id, {cols}, created_at, deleted_at, deleted) \
             SELECT {image_id}, {vals}, {created}, {del_at}, {del} \
             FROM bench_n n CROSS JOIN bench_n k WHERE n.i <= {} AND k.i <= {per} ORDER BY n.i, k.i",
            s.images
        ));
    }
    sql.push(format!(
        "INSERT INTO tasks (id, type, status, owner, expires_at, created_at, updated_at, deleted_at, deleted) \
         SELECT {task_id}, 'import', 'success', {}, {created}, {created}, {created}, {del_at}, {del} \
         FROM bench_n n WHERE n.i <= {}",
        concat(d, &["'project-'", "(n.i % 1000)"]),
        s.tasks
    ));
    sql.push(format!(
        "INSERT INTO task_info (task_id, input, result, message) \
         SELECT {task_id}, '{{\"import_from\": \"https://example.com/image.qcow2\"}}', \
         '{{\"image_id\": \"00000000-0000-4000-8000-000000000001\"}}', '' \
         FROM bench_n n WHERE n.i <= {}",
        s.tasks
    ));
    sql.extend(metadefs(d, &created));
    sql.push("DROP TABLE bench_n".into());
    sql
}

fn metadefs(d: Dialect, created: &str) -> Vec<String> {
    let ns = NAMESPACES;
    let rt = RESOURCE_TYPES;
    vec![
        format!(
            "INSERT INTO metadef_namespaces (id, namespace, display_name, description, visibility, protected, owner, created_at) \
             SELECT n.i, {}, {}, 'benchmark namespace', 'public', FALSE, 'admin', {created} FROM bench_n n WHERE n.i <= {ns}",
            concat(d, &["'OS::Bench::'", "n.i"]),
            concat(d, &["'Bench '", "n.i"])
        ),
        format!(
            "INSERT INTO metadef_resource_types (id, name, protected, created_at) \
             SELECT n.i, {}, TRUE, {created} FROM bench_n n WHERE n.i <= {rt}",
            concat(d, &["'OS::Bench::Type'", "n.i"])
        ),
        format!(
            "INSERT INTO metadef_namespace_resource_types (resource_type_id, namespace_id, properties_target, prefix, created_at) \
             SELECT 1 + n.i % {rt}, n.i, 'image', 'bench_', {created} FROM bench_n n WHERE n.i <= {ns}"
        ),
        format!(
            "INSERT INTO metadef_objects (namespace_id, name, description, required, json_schema, created_at) \
             SELECT n.i, {}, 'object', '[]', '{{}}', {created} \
             FROM bench_n n CROSS JOIN bench_n k WHERE n.i <= {ns} AND k.i <= 10 ORDER BY n.i, k.i",
            concat(d, &["'object_'", "k.i"])
        ),
        format!(
            "INSERT INTO metadef_properties (namespace_id, name, json_schema, created_at) \
             SELECT n.i, {}, '{{\"type\": \"string\"}}', {created} \
             FROM bench_n n CROSS JOIN bench_n k WHERE n.i <= {ns} AND k.i <= 50 ORDER BY n.i, k.i",
            concat(d, &["'property_'", "k.i"])
        ),
        format!(
            "INSERT INTO metadef_tags (namespace_id, name, created_at) \
             SELECT n.i, {}, {created} \
             FROM bench_n n CROSS JOIN bench_n k WHERE n.i <= {ns} AND k.i <= 10 ORDER BY n.i, k.i",
            concat(d, &["'tag_'", "k.i"])
        ),
    ]
}

/// Statistics, as a long-lived database has them (and, on PostgreSQL, hint bits and the
/// visibility map set, so the first contender does not pay for them).
pub fn analyze(d: Dialect) -> Vec<String> {
    match d {
        Dialect::Sqlite => vec!["ANALYZE".into()],
        Dialect::Postgres => vec!["VACUUM ANALYZE".into()],
        Dialect::Mysql => vec![format!("ANALYZE TABLE {}", TABLES.join(", "))],
    }
}

/// Fills the database behind `conn` (synced to head, empty).
pub async fn seed(conn: &mut Conn, s: Shape) -> Result<(), String> {
    let d = conn.dialect();
    for stmt in statements(d, s).iter().chain(&analyze(d)) {
        // ANALYZE TABLE answers with a result set on MariaDB: read it as a query.
        let r = if stmt.starts_with("ANALYZE TABLE") {
            conn.query(stmt).await.map(|_| 0)
        } else {
            conn.execute(stmt).await
        };
        r.map_err(|e| format!("seeding failed: {e}\n{stmt}"))?;
    }
    Ok(())
}
