//! Introspection + normalization against real databases: a schema created with the DDL Glance
//! (SQLAlchemy) emits must introspect, once normalized, to exactly the normalized snapshot.

mod common;

use glance_manage::introspect::{Introspected, introspect};
use glance_manage::normalize::normalize;
use glance_manage::revisions::RevisionSet;
use glance_manage::schema::model::{Dialect, Schema, Table};

/// Bookkeeping tables the engine filters out before diffing.
const BOOKKEEPING: [&str; 2] = ["alembic_version", "migrate_version"];

async fn read(db: &common::TestDb) -> Introspected {
    let mut conn = db.conn().await;
    let found = introspect(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("introspection failed on {}: {e}", db.dialect));
    conn.close().await;
    found
}

/// The snapshot of `revision`, resolved for `dialect` and normalized, restricted to `tables`
/// (all when None).
fn target(revision: &str, dialect: Dialect, tables: Option<&[&str]>) -> Schema {
    let set = RevisionSet::builtin().expect("builtin revisions");
    let snapshot = set
        .get(revision)
        .unwrap_or_else(|| panic!("no revision {revision}"));
    let mut schema = normalize(&snapshot.schema.resolve(dialect), dialect);
    if let Some(keep) = tables {
        schema
            .tables
            .retain(|name, _| keep.contains(&name.as_str()));
    }
    // Rename hints are snapshot-only.
    for t in schema.tables.values_mut() {
        t.renamed_from = None;
        for c in &mut t.columns {
            c.renamed_from = None;
        }
    }
    schema
}

/// Normalizes what was introspected and drops the bookkeeping tables.
fn live(found: &Introspected, dialect: Dialect) -> Schema {
    let mut schema = normalize(&found.schema, dialect);
    schema
        .tables
        .retain(|name, _| !BOOKKEEPING.contains(&name.as_str()));
    schema
}

/// Compares two schemas table by table and panics with every difference, readably.
fn assert_same_schema(actual: &Schema, expected: &Schema, context: &str) {
    let mut problems: Vec<String> = Vec::new();
    if actual.enums != expected.enums {
        problems.push(format!(
            "enums differ:\n  database: {:?}\n  snapshot: {:?}",
            actual.enums.values().collect::<Vec<_>>(),
            expected.enums.values().collect::<Vec<_>>()
        ));
    }
    for name in expected.tables.keys() {
        if !actual.tables.contains_key(name) {
            problems.push(format!("table `{name}` missing from the database"));
        }
    }
    for (name, a) in &actual.tables {
        match expected.tables.get(name) {
            None => problems.push(format!("table `{name}` not in the snapshot")),
            Some(e) => compare_table(a, e, &mut problems),
        }
    }
    assert!(
        problems.is_empty(),
        "{context}: {} difference(s) between database and snapshot:\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
}

fn compare_table(a: &Table, e: &Table, problems: &mut Vec<String>) {
    let t = &a.name;
    let names = |t: &Table| t.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    if names(a) != names(e) {
        problems.push(format!(
            "table `{t}`: columns\n    database: {:?}\n    snapshot: {:?}",
            names(a),
            names(e)
        ));
    }
    for ac in &a.columns {
        if let Some(ec) = e.column(&ac.name)
            && !ac.same_definition(ec)
        {
            problems.push(format!(
                "table `{t}`: column `{}`\n    database: {} nullable={} default={:?} autoincrement={}\n    snapshot: {} nullable={} default={:?} autoincrement={}",
                ac.name,
                ac.ty,
                ac.nullable,
                ac.default,
                ac.autoincrement,
                ec.ty,
                ec.nullable,
                ec.default,
                ec.autoincrement
            ));
        }
    }
    let mut part = |what: &str, da: String, de: String| {
        if da != de {
            problems.push(format!(
                "table `{t}`: {what}\n    database: {da}\n    snapshot: {de}"
            ));
        }
    };
    part(
        "primary key",
        format!("{:?}", a.primary_key),
        format!("{:?}", e.primary_key),
    );
    part(
        "unique constraints",
        format!("{:?}", a.uniques),
        format!("{:?}", e.uniques),
    );
    part(
        "indexes",
        format!("{:?}", a.indexes),
        format!("{:?}", e.indexes),
    );
    part(
        "foreign keys",
        format!("{:?}", a.foreign_keys),
        format!("{:?}", e.foreign_keys),
    );
    part(
        "checks",
        format!("{:?}", a.checks),
        format!("{:?}", e.checks),
    );
    part(
        "mysql options",
        format!("{:?}", a.mysql),
        format!("{:?}", e.mysql),
    );
    // Anything the readable comparison above did not cover.
    if problems.is_empty() && a != e {
        problems.push(format!(
            "table `{t}`:\n    database: {a:#?}\n    snapshot: {e:#?}"
        ));
    }
}

// -------------------------------------------------------------------------------------------
// A Glance subset created with the DDL SQLAlchemy emits (glance-reference.md §2.3)

const GLANCE_TABLES: [&str; 7] = [
    "images",
    "image_members",
    "metadef_namespaces",
    "metadef_resource_types",
    "metadef_namespace_resource_types",
    "node_reference",
    "cached_images",
];

const GLANCE_SQLITE: &str = "
CREATE TABLE images (
	id VARCHAR(36) NOT NULL, name VARCHAR(255), size INTEGER, status VARCHAR(30) NOT NULL,
	created_at DATETIME NOT NULL, updated_at DATETIME, deleted_at DATETIME, deleted BOOLEAN NOT NULL,
	disk_format VARCHAR(20), container_format VARCHAR(20), checksum VARCHAR(32), owner VARCHAR(255),
	min_disk INTEGER NOT NULL, min_ram INTEGER NOT NULL, protected BOOLEAN DEFAULT 0 NOT NULL,
	virtual_size INTEGER, visibility VARCHAR(9) DEFAULT 'shared' NOT NULL,
	os_hidden BOOLEAN DEFAULT 0 NOT NULL, os_hash_algo VARCHAR(64), os_hash_value VARCHAR(128),
	PRIMARY KEY (id)
);
CREATE INDEX checksum_image_idx ON images (checksum);
CREATE INDEX ix_images_deleted ON images (deleted);
CREATE INDEX owner_image_idx ON images (owner);
CREATE INDEX created_at_image_idx ON images (created_at);
CREATE INDEX updated_at_image_idx ON images (updated_at);
CREATE INDEX visibility_image_idx ON images (visibility);
CREATE INDEX os_hidden_image_idx ON images (os_hidden);
CREATE INDEX os_hash_value_image_idx ON images (os_hash_value);
CREATE TABLE image_members (
	id INTEGER NOT NULL, image_id VARCHAR(36) NOT NULL, member VARCHAR(255) NOT NULL,
	can_share BOOLEAN NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME,
	deleted_at DATETIME, deleted BOOLEAN NOT NULL, status VARCHAR(20) DEFAULT 'pending' NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(image_id) REFERENCES images (id),
	CONSTRAINT image_members_image_id_member_deleted_at_key UNIQUE (image_id, member, deleted_at),
	CHECK (can_share IN (0, 1)),
	CHECK (deleted IN (0, 1))
);
CREATE INDEX ix_image_members_deleted ON image_members (deleted);
CREATE INDEX ix_image_members_image_id ON image_members (image_id);
CREATE INDEX ix_image_members_image_id_member ON image_members (image_id, member);
CREATE TABLE metadef_namespaces (
	id INTEGER NOT NULL, namespace VARCHAR(80) NOT NULL, display_name VARCHAR(80),
	description TEXT, visibility VARCHAR(32), protected BOOLEAN, owner VARCHAR(255) NOT NULL,
	created_at DATETIME NOT NULL, updated_at DATETIME,
	PRIMARY KEY (id),
	CONSTRAINT uq_metadef_namespaces_namespace UNIQUE (namespace),
	CHECK (protected IN (0, 1))
);
CREATE INDEX ix_metadef_namespaces_owner ON metadef_namespaces (owner);
CREATE TABLE metadef_resource_types (
	id INTEGER NOT NULL, name VARCHAR(80) NOT NULL, protected BOOLEAN NOT NULL,
	created_at DATETIME NOT NULL, updated_at DATETIME,
	PRIMARY KEY (id),
	CONSTRAINT uq_metadef_resource_types_name UNIQUE (name),
	CHECK (protected IN (0, 1))
);
CREATE TABLE metadef_namespace_resource_types (
	resource_type_id INTEGER NOT NULL, namespace_id INTEGER NOT NULL,
	properties_target VARCHAR(80), prefix VARCHAR(80), created_at DATETIME NOT NULL,
	updated_at DATETIME,
	PRIMARY KEY (resource_type_id, namespace_id),
	FOREIGN KEY(namespace_id) REFERENCES metadef_namespaces (id),
	FOREIGN KEY(resource_type_id) REFERENCES metadef_resource_types (id)
);
CREATE INDEX ix_metadef_ns_res_types_namespace_id ON metadef_namespace_resource_types (namespace_id);
CREATE TABLE node_reference (
	node_reference_id INTEGER NOT NULL, node_reference_url VARCHAR(255) NOT NULL,
	PRIMARY KEY (node_reference_id),
	CONSTRAINT uq_node_reference_node_reference_url UNIQUE (node_reference_url)
);
CREATE TABLE cached_images (
	id INTEGER NOT NULL, image_id VARCHAR(36) NOT NULL, last_accessed DATETIME NOT NULL,
	last_modified DATETIME NOT NULL, size BIGINT NOT NULL, hits INTEGER NOT NULL,
	checksum VARCHAR(32), node_reference_id INTEGER NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(node_reference_id) REFERENCES node_reference (node_reference_id),
	CONSTRAINT ix_cached_images_image_id_node_reference_id UNIQUE (image_id, node_reference_id)
);
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL,
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
";

const GLANCE_POSTGRES: &str = "
CREATE TYPE image_visibility AS ENUM ('private', 'public', 'shared', 'community');
CREATE TABLE images (
	id VARCHAR(36) NOT NULL, name VARCHAR(255), size BIGINT, status VARCHAR(30) NOT NULL,
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, updated_at TIMESTAMP WITHOUT TIME ZONE,
	deleted_at TIMESTAMP WITHOUT TIME ZONE, deleted BOOLEAN NOT NULL,
	disk_format VARCHAR(20), container_format VARCHAR(20), checksum VARCHAR(32), owner VARCHAR(255),
	min_disk INTEGER NOT NULL, min_ram INTEGER NOT NULL, protected BOOLEAN DEFAULT false NOT NULL,
	virtual_size BIGINT, visibility image_visibility DEFAULT 'shared' NOT NULL,
	os_hidden BOOLEAN DEFAULT false NOT NULL, os_hash_algo VARCHAR(64), os_hash_value VARCHAR(128),
	PRIMARY KEY (id)
);
CREATE INDEX checksum_image_idx ON images (checksum);
CREATE INDEX ix_images_deleted ON images (deleted);
CREATE INDEX owner_image_idx ON images (owner);
CREATE INDEX created_at_image_idx ON images (created_at);
CREATE INDEX updated_at_image_idx ON images (updated_at);
CREATE INDEX visibility_image_idx ON images (visibility);
CREATE INDEX os_hidden_image_idx ON images (os_hidden);
CREATE INDEX os_hash_value_image_idx ON images (os_hash_value);
CREATE TABLE image_members (
	id SERIAL NOT NULL, image_id VARCHAR(36) NOT NULL, member VARCHAR(255) NOT NULL,
	can_share BOOLEAN NOT NULL, created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	updated_at TIMESTAMP WITHOUT TIME ZONE, deleted_at TIMESTAMP WITHOUT TIME ZONE,
	deleted BOOLEAN NOT NULL, status VARCHAR(20) DEFAULT 'pending' NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(image_id) REFERENCES images (id),
	CONSTRAINT image_members_image_id_member_deleted_at_key UNIQUE (image_id, member, deleted_at)
);
CREATE INDEX ix_image_members_deleted ON image_members (deleted);
CREATE INDEX ix_image_members_image_id ON image_members (image_id);
CREATE INDEX ix_image_members_image_id_member ON image_members (image_id, member);
CREATE TABLE metadef_namespaces (
	id SERIAL NOT NULL, namespace VARCHAR(80) NOT NULL, display_name VARCHAR(80),
	description TEXT, visibility VARCHAR(32), protected BOOLEAN, owner VARCHAR(255) NOT NULL,
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, updated_at TIMESTAMP WITHOUT TIME ZONE,
	PRIMARY KEY (id),
	CONSTRAINT uq_metadef_namespaces_namespace UNIQUE (namespace)
);
CREATE INDEX ix_metadef_namespaces_owner ON metadef_namespaces (owner);
CREATE TABLE metadef_resource_types (
	id SERIAL NOT NULL, name VARCHAR(80) NOT NULL, protected BOOLEAN NOT NULL,
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, updated_at TIMESTAMP WITHOUT TIME ZONE,
	PRIMARY KEY (id),
	CONSTRAINT uq_metadef_resource_types_name UNIQUE (name)
);
CREATE TABLE metadef_namespace_resource_types (
	resource_type_id INTEGER NOT NULL, namespace_id INTEGER NOT NULL,
	properties_target VARCHAR(80), prefix VARCHAR(80),
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, updated_at TIMESTAMP WITHOUT TIME ZONE,
	PRIMARY KEY (resource_type_id, namespace_id),
	FOREIGN KEY(namespace_id) REFERENCES metadef_namespaces (id),
	FOREIGN KEY(resource_type_id) REFERENCES metadef_resource_types (id)
);
CREATE INDEX ix_metadef_ns_res_types_namespace_id ON metadef_namespace_resource_types (namespace_id);
CREATE TABLE node_reference (
	node_reference_id BIGSERIAL NOT NULL, node_reference_url VARCHAR(255) NOT NULL,
	PRIMARY KEY (node_reference_id),
	CONSTRAINT uq_node_reference_node_reference_url UNIQUE (node_reference_url)
);
CREATE TABLE cached_images (
	id BIGSERIAL NOT NULL, image_id VARCHAR(36) NOT NULL,
	last_accessed TIMESTAMP WITHOUT TIME ZONE NOT NULL,
	last_modified TIMESTAMP WITHOUT TIME ZONE NOT NULL, size BIGINT NOT NULL,
	hits INTEGER NOT NULL, checksum VARCHAR(32), node_reference_id BIGINT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(node_reference_id) REFERENCES node_reference (node_reference_id),
	CONSTRAINT ix_cached_images_image_id_node_reference_id UNIQUE (image_id, node_reference_id)
);
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL,
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
";

const GLANCE_MYSQL: &str = "
CREATE TABLE images (
	id VARCHAR(36) NOT NULL, name VARCHAR(255), size BIGINT, status VARCHAR(30) NOT NULL,
	created_at DATETIME NOT NULL, updated_at DATETIME, deleted_at DATETIME, deleted BOOL NOT NULL,
	disk_format VARCHAR(20), container_format VARCHAR(20), checksum VARCHAR(32), owner VARCHAR(255),
	min_disk INTEGER NOT NULL, min_ram INTEGER NOT NULL, protected BOOL NOT NULL DEFAULT false,
	virtual_size BIGINT,
	visibility ENUM('private','public','shared','community') NOT NULL DEFAULT 'shared',
	os_hidden BOOL NOT NULL DEFAULT false, os_hash_algo VARCHAR(64), os_hash_value VARCHAR(128),
	PRIMARY KEY (id),
	CHECK (deleted IN (0, 1)),
	CHECK (protected IN (0, 1))
)ENGINE=InnoDB CHARSET=utf8;
CREATE INDEX checksum_image_idx ON images (checksum);
CREATE INDEX ix_images_deleted ON images (deleted);
CREATE INDEX owner_image_idx ON images (owner);
CREATE INDEX created_at_image_idx ON images (created_at);
CREATE INDEX updated_at_image_idx ON images (updated_at);
CREATE INDEX visibility_image_idx ON images (visibility);
CREATE INDEX os_hidden_image_idx ON images (os_hidden);
CREATE INDEX os_hash_value_image_idx ON images (os_hash_value);
CREATE TABLE image_members (
	id INTEGER NOT NULL AUTO_INCREMENT, image_id VARCHAR(36) NOT NULL,
	member VARCHAR(255) NOT NULL, can_share BOOL NOT NULL, created_at DATETIME NOT NULL,
	updated_at DATETIME, deleted_at DATETIME, deleted BOOL NOT NULL,
	status VARCHAR(20) NOT NULL DEFAULT 'pending',
	PRIMARY KEY (id),
	FOREIGN KEY(image_id) REFERENCES images (id),
	CONSTRAINT image_members_image_id_member_deleted_at_key UNIQUE (image_id, member, deleted_at),
	CHECK (can_share IN (0, 1)),
	CHECK (deleted IN (0, 1))
)ENGINE=InnoDB CHARSET=utf8;
CREATE INDEX ix_image_members_deleted ON image_members (deleted);
CREATE INDEX ix_image_members_image_id ON image_members (image_id);
CREATE INDEX ix_image_members_image_id_member ON image_members (image_id, member);
CREATE TABLE metadef_namespaces (
	id INTEGER NOT NULL AUTO_INCREMENT, namespace VARCHAR(80) NOT NULL,
	display_name VARCHAR(80), description TEXT, visibility VARCHAR(32), protected BOOL,
	owner VARCHAR(255) NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME,
	PRIMARY KEY (id),
	CONSTRAINT uq_metadef_namespaces_namespace UNIQUE (namespace),
	CHECK (protected IN (0, 1))
)ENGINE=InnoDB CHARSET=utf8;
CREATE INDEX ix_metadef_namespaces_owner ON metadef_namespaces (owner);
CREATE TABLE metadef_resource_types (
	id INTEGER NOT NULL AUTO_INCREMENT, name VARCHAR(80) NOT NULL, protected BOOL NOT NULL,
	created_at DATETIME NOT NULL, updated_at DATETIME,
	PRIMARY KEY (id),
	CONSTRAINT uq_metadef_resource_types_name UNIQUE (name),
	CHECK (protected IN (0, 1))
)ENGINE=InnoDB CHARSET=utf8;
CREATE TABLE metadef_namespace_resource_types (
	resource_type_id INTEGER NOT NULL, namespace_id INTEGER NOT NULL,
	properties_target VARCHAR(80), prefix VARCHAR(80), created_at DATETIME NOT NULL,
	updated_at DATETIME,
	PRIMARY KEY (resource_type_id, namespace_id),
	FOREIGN KEY(namespace_id) REFERENCES metadef_namespaces (id),
	FOREIGN KEY(resource_type_id) REFERENCES metadef_resource_types (id)
)ENGINE=InnoDB CHARSET=utf8;
CREATE INDEX ix_metadef_ns_res_types_namespace_id ON metadef_namespace_resource_types (namespace_id);
CREATE TABLE node_reference (
	node_reference_id BIGINT NOT NULL AUTO_INCREMENT, node_reference_url VARCHAR(255) NOT NULL,
	PRIMARY KEY (node_reference_id),
	CONSTRAINT uq_node_reference_node_reference_url UNIQUE (node_reference_url)
)ENGINE=InnoDB CHARSET=utf8;
CREATE TABLE cached_images (
	id BIGINT NOT NULL AUTO_INCREMENT, image_id VARCHAR(36) NOT NULL,
	last_accessed DATETIME NOT NULL, last_modified DATETIME NOT NULL, size BIGINT NOT NULL,
	hits INTEGER NOT NULL, checksum VARCHAR(32), node_reference_id BIGINT NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(node_reference_id) REFERENCES node_reference (node_reference_id),
	CONSTRAINT ix_cached_images_image_id_node_reference_id UNIQUE (image_id, node_reference_id)
)ENGINE=InnoDB CHARSET=utf8;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL,
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
";

for_each_backend!(
    glance_ddl_matches_snapshot,
    |db: common::TestDb| async move {
        let dialect = db.dialect;
        db.exec(match dialect {
            Dialect::Sqlite => GLANCE_SQLITE,
            Dialect::Postgres => GLANCE_POSTGRES,
            Dialect::Mysql => GLANCE_MYSQL,
        })
        .await;
        let found = read(&db).await;
        assert!(
            found.unsupported.is_empty(),
            "unexpected unsupported objects: {:?}",
            found.unsupported
        );
        assert!(found.schema.tables.contains_key("alembic_version"));
        // Introspection alone already gives the dialect's resolved form (before normalization).
        let images = &found.schema.tables["images"];
        let visibility = images.column("visibility").unwrap();
        match dialect {
            Dialect::Sqlite => {
                assert_eq!(visibility.ty.to_string(), "string(9)");
                let members = &found.schema.tables["image_members"];
                assert!(members.column("id").unwrap().autoincrement);
                assert_eq!(members.checks.len(), 2);
            }
            Dialect::Postgres => {
                assert_eq!(visibility.ty.to_string(), "enum(image_visibility)");
                assert_eq!(
                    images.primary_key.as_ref().unwrap().name.as_deref(),
                    Some("images_pkey")
                );
                assert!(found.schema.enums.contains_key("image_visibility"));
            }
            Dialect::Mysql => {
                assert_eq!(
                    visibility.ty.to_string(),
                    "enum['private','public','shared','community']"
                );
                assert_eq!(images.mysql.engine.as_deref(), Some("InnoDB"));
                assert_eq!(images.mysql.charset.as_deref(), Some("utf8mb3"));
                // MySQL's own index for the FK is reported by introspection…
                assert!(
                    found.schema.tables["cached_images"]
                        .index("node_reference_id")
                        .is_some()
                );
            }
        }
        let expected = target("2024_1_contract01", dialect, Some(&GLANCE_TABLES));
        assert_same_schema(
            &live(&found, dialect),
            &expected,
            &format!("{dialect}, hand-written Glance DDL"),
        );
        eprintln!(
            "{dialect}: {} tables introspected with {} queries",
            found.schema.tables.len(),
            found.queries
        );
    }
);

// -------------------------------------------------------------------------------------------
// Real Glance dumps (fixtures/glance/<backend>/NN_<revision>.sql, made by regenerate.sh)

/// Loads a dump written by `fixtures/glance/regenerate.sh` into the test database.
async fn load_dump(db: &common::TestDb, file: &str) {
    let dir = match db.dialect {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgresql",
        Dialect::Mysql => "mariadb",
    };
    let path = format!(
        "{}/fixtures/glance/{dir}/{file}.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let sql = match db.dialect {
        Dialect::Sqlite => text,
        // psql meta-commands (`\restrict …`) are not SQL.
        Dialect::Postgres => text
            .lines()
            .filter(|l| !l.starts_with('\\'))
            .collect::<Vec<_>>()
            .join("\n"),
        // SHOW CREATE TABLE output is in name order: parents may come after children.
        Dialect::Mysql => format!("SET FOREIGN_KEY_CHECKS = 0;\n{text}"),
    };
    db.exec(&sql).await;
}

async fn dump_matches_snapshot(db: common::TestDb, file: &str, revision: &str) {
    let dialect = db.dialect;
    load_dump(&db, file).await;
    let found = read(&db).await;
    assert!(
        found.unsupported.is_empty(),
        "{file}: unsupported objects: {:?}",
        found.unsupported
    );
    assert_same_schema(
        &live(&found, dialect),
        &target(revision, dialect, None),
        &format!("{dialect}, Glance dump {file} vs snapshot {revision}"),
    );
    eprintln!(
        "{dialect} {file}: {} tables, {} queries",
        found.schema.tables.len(),
        found.queries
    );
}

for_each_backend!(dump_liberty, |db: common::TestDb| async move {
    dump_matches_snapshot(db, "01_liberty", "liberty").await
});

for_each_backend!(dump_2024_1_expand01, |db: common::TestDb| async move {
    dump_matches_snapshot(db, "16_2024_1_expand01", "2024_1_expand01").await
});

for_each_backend!(dump_2024_1_contract01, |db: common::TestDb| async move {
    dump_matches_snapshot(db, "29_2024_1_contract01", "2024_1_contract01").await
});

// -------------------------------------------------------------------------------------------
// Cost and robustness

/// DDL for `n` tables `t_0000 … t_<n-1>`, each with a unique, an index, a check, an FK to
/// the previous table and a trigger: every object kind the readers query. (PostgreSQL's
/// triggers run `noop()`, created by [`NOOP_FUNCTION`].)
fn many_tables(dialect: Dialect, range: std::ops::Range<usize>) -> String {
    let suffix = if dialect == Dialect::Mysql {
        " ENGINE=InnoDB"
    } else {
        ""
    };
    let mut sql = String::new();
    for i in range {
        let fk = if i == 0 {
            String::new()
        } else {
            format!(", FOREIGN KEY (parent_id) REFERENCES t_{:04} (id)", i - 1)
        };
        sql.push_str(&format!(
            "CREATE TABLE t_{i:04} (id INTEGER NOT NULL, parent_id INTEGER, code VARCHAR(10) NOT NULL, \
             n INTEGER DEFAULT 0, PRIMARY KEY (id), UNIQUE (code), CHECK (n >= 0){fk}){suffix};\n\
             CREATE INDEX ix_t_{i:04}_n ON t_{i:04} (n);\n"
        ));
        sql.push_str(&match dialect {
            Dialect::Sqlite => format!(
                "CREATE TRIGGER tr_{i:04} AFTER INSERT ON t_{i:04} BEGIN SELECT 1; END;\n"
            ),
            Dialect::Postgres => format!(
                "CREATE TRIGGER tr_{i:04} AFTER INSERT ON t_{i:04} FOR EACH ROW EXECUTE FUNCTION noop();\n"
            ),
            Dialect::Mysql => {
                format!("CREATE TRIGGER tr_{i:04} AFTER INSERT ON t_{i:04} FOR EACH ROW SET @n = 1;\n")
            }
        });
    }
    sql
}

const NOOP_FUNCTION: &str =
    "CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$";

/// Catalog queries `introspect` issues, one per object kind: SQLite tables, columns, indexes,
/// foreign keys, triggers; PostgreSQL also enum types and constraints (checks with them);
/// MariaDB the server version, tables, columns, indexes, foreign keys (two views), checks,
/// triggers. `engine::read_live` adds one for the version rows.
fn catalog_queries(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Sqlite => 5,
        Dialect::Postgres => 6,
        Dialect::Mysql => 8,
    }
}

for_each_backend!(query_count_is_flat, |db: common::TestDb| async move {
    let dialect = db.dialect;
    if dialect == Dialect::Postgres {
        db.exec(NOOP_FUNCTION).await;
    }
    db.exec(&many_tables(dialect, 0..2)).await;
    let small = read(&db).await;
    assert_eq!(small.schema.tables.len(), 2);
    db.exec(&many_tables(dialect, 2..200)).await;
    let large = read(&db).await;
    assert_eq!(large.schema.tables.len(), 200);
    let last = &large.schema.tables["t_0199"];
    assert_eq!(last.foreign_keys.len(), 1);
    assert_eq!(last.uniques.len(), 1);
    assert_eq!(last.checks.len(), 1);
    assert_eq!(large.schema.triggers.len(), 200);
    assert_eq!(
        small.queries, large.queries,
        "queries for 2 tables vs 200 tables on {dialect}"
    );
    assert_eq!(large.queries, catalog_queries(dialect));
    eprintln!(
        "{dialect}: {} queries for 2 tables, {} for 200",
        small.queries, large.queries
    );
});

for_each_backend!(odd_identifiers, |db: common::TestDb| async move {
    let dialect = db.dialect;
    // The table is `o'brien"x`, a column is `select`; the child's index is `ix'"`.
    let q = |name: &str| match dialect {
        Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    };
    let (odd, select, child, ix) = (q("o'brien\"x"), q("select"), q("child)"), q("ix'\""));
    db.exec(&format!(
        "CREATE TABLE {odd} (id INTEGER NOT NULL, {select} VARCHAR(20) DEFAULT 'it''s', \
           PRIMARY KEY (id), CONSTRAINT {u} UNIQUE ({select}), CHECK ({select} <> 'x,)'));\n\
         CREATE TABLE {child} (id INTEGER NOT NULL, odd_id INTEGER, PRIMARY KEY (id), \
           CONSTRAINT {fk} FOREIGN KEY (odd_id) REFERENCES {odd} (id));\n\
         CREATE INDEX {ix} ON {child} (odd_id);\n",
        u = q("uq,(odd"),
        fk = q("fk \"odd\""),
    ))
    .await;
    let found = read(&db).await;
    let table = found
        .schema
        .tables
        .get("o'brien\"x")
        .expect("odd table introspected");
    let column = table.column("select").expect("column `select`");
    assert_eq!(
        column.default,
        Some(glance_manage::schema::model::DefaultValue::Str(
            "it's".into()
        ))
    );
    assert_eq!(table.uniques.len(), 1);
    assert_eq!(table.uniques[0].columns, vec!["select"]);
    assert_eq!(table.uniques[0].name.as_deref(), Some("uq,(odd"));
    assert_eq!(table.checks.len(), 1);
    let child = &found.schema.tables["child)"];
    let fk = &child.foreign_keys[0];
    assert_eq!(fk.ref_table, "o'brien\"x");
    assert_eq!(fk.name.as_deref(), Some("fk \"odd\""));
    assert!(child.index("ix'\"").is_some(), "{:?}", child.indexes);
    // Normalization keeps the meaning of the odd check.
    let normalized = normalize(&found.schema, dialect);
    assert_eq!(
        normalized.tables["o'brien\"x"].checks[0].expr,
        "\"select\" <> 'x,)'"
    );
});

for_each_backend!(
    unsupported_objects_are_reported,
    |db: common::TestDb| async move {
        let dialect = db.dialect;
        let ddl = match dialect {
            Dialect::Sqlite => {
                "CREATE TABLE u (id INTEGER PRIMARY KEY, t TIMESTAMP, n INTEGER);\n\
             CREATE INDEX ix_partial ON u (n) WHERE n > 0;\n\
             CREATE INDEX ix_expr ON u (lower(t));\n\
             CREATE INDEX ix_desc ON u (n DESC);"
            }
            Dialect::Postgres => {
                "CREATE TABLE u (id SERIAL PRIMARY KEY, t TSVECTOR, n INTEGER);\n\
             CREATE INDEX ix_partial ON u (n) WHERE n > 0;\n\
             CREATE INDEX ix_expr ON u ((n + 1));\n\
             CREATE INDEX ix_desc ON u (n DESC);"
            }
            Dialect::Mysql => {
                "CREATE TABLE u (id INTEGER AUTO_INCREMENT PRIMARY KEY, t MEDIUMTEXT, n INTEGER, \
               s VARCHAR(100));\n\
             CREATE INDEX ix_prefix ON u (s(10));\n\
             CREATE INDEX ix_desc ON u (n DESC);"
            }
        };
        db.exec(ddl).await;
        let found = read(&db).await;
        let notes = found.unsupported.join("\n");
        assert!(notes.contains("column `t` has type"), "{notes}");
        let expected_index_notes: &[&str] = match dialect {
            Dialect::Mysql => &["ix_prefix", "ix_desc"],
            _ => &["ix_partial", "ix_expr", "ix_desc"],
        };
        for name in expected_index_notes {
            assert!(
                notes.contains(&format!("index `{name}`")),
                "{name}: {notes}"
            );
        }
        let u = &found.schema.tables["u"];
        assert!(matches!(
            u.column("t").unwrap().ty,
            glance_manage::schema::model::ColumnType::Unsupported(_)
        ));
        assert!(u.column("id").unwrap().autoincrement);
    }
);

// Every expand revision's dump, not just the three above. The dumps 17–28 are not compared:
// `glance-manage` runs every expand before the first contract, so those databases hold the
// 2024.1 expand schema plus the contracts so far, a state no single snapshot describes.
for_each_backend!(
    every_expand_dump_matches_its_snapshot,
    |db: common::TestDb| async move {
        let dialect = db.dialect;
        drop(db);
        let dir = match dialect {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgresql",
            Dialect::Mysql => "mariadb",
        };
        let path = format!("{}/fixtures/glance/{dir}", env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<String> = std::fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|f| f.strip_suffix(".sql").map(str::to_string))
            .filter(|f| f.as_str() < "17" || f.starts_with("29_"))
            .collect();
        files.sort();
        assert_eq!(files.len(), 17, "{path}: {files:?}");
        for file in files {
            let Some((_, revision)) = file.split_once('_') else {
                panic!("{file}: not NN_<revision>")
            };
            let db = common::TestDb::create(dialect)
                .await
                .expect("test database");
            dump_matches_snapshot(db, &file, revision).await;
        }
    }
);
