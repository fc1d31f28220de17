//! A second, independent reader of the catalogs: sea-schema's discovery (a dev-dependency only,
//! see docs/sea-schema.md for why it does not drive introspection) and ours must agree on a
//! database `db sync` brought to the head, on everything both represent reliably. A regression
//! in one of our catalog queries makes the readers disagree.
//!
//! - PostgreSQL: tables, column names and nullability, primary-key columns in order, foreign
//!   keys (name, columns, referenced table and columns, actions), unique constraints and unique
//!   indexes (name, columns), enum types with their values in order.
//! - MariaDB: tables, column names in order and nullability, primary-key columns in order,
//!   foreign keys (name, columns, referenced table and columns, actions, RESTRICT ≡ NO ACTION),
//!   every other index (name, columns in order, uniqueness).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{TestDb, gm};
use glance_manage::introspect::introspect;
use glance_manage::schema::model::{Dialect, FkAction, Schema};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// A foreign key as both readers can describe it.
type Fk = (String, Vec<String>, String, Vec<String>, String, String);

/// What one reader saw of one table.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    /// Column names (in order where the reader guarantees it) with nullability.
    columns: Vec<(String, bool)>,
    primary_key: Vec<String>,
    foreign_keys: BTreeSet<Fk>,
    /// (name, columns, unique).
    indexes: BTreeSet<(String, Vec<String>, bool)>,
}

fn action(a: FkAction, mysql: bool) -> String {
    let a = match a {
        FkAction::Restrict if mysql => FkAction::NoAction,
        other => other,
    };
    format!("{a:?}")
}

/// The same names for sea-schema's actions (`Cascade`, `SetNull`, …: its `Debug`).
fn their_action(debug: String, mysql: bool) -> String {
    if mysql && debug == "Restrict" {
        "NoAction".into()
    } else {
        debug
    }
}

/// Our introspection, reduced to what sea-schema can be compared on for `dialect`.
fn ours(schema: &Schema, dialect: Dialect) -> BTreeMap<String, Seen> {
    let mysql = dialect == Dialect::Mysql;
    schema
        .tables
        .values()
        .map(|t| {
            let mut columns: Vec<(String, bool)> = t
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.nullable))
                .collect();
            if !mysql {
                // sea-schema does not order PostgreSQL columns (no ORDER BY in its query).
                columns.sort();
            }
            let mut indexes: BTreeSet<(String, Vec<String>, bool)> = t
                .uniques
                .iter()
                .filter_map(|u| Some((u.name.clone()?, u.columns.clone(), true)))
                .collect();
            for i in &t.indexes {
                // PostgreSQL: sea-schema reports unique indexes only.
                if mysql || i.unique {
                    indexes.insert((i.name.clone(), i.columns.clone(), i.unique));
                }
            }
            let seen = Seen {
                columns,
                primary_key: t
                    .primary_key
                    .as_ref()
                    .map(|p| p.columns.clone())
                    .unwrap_or_default(),
                foreign_keys: t
                    .foreign_keys
                    .iter()
                    .map(|f| {
                        (
                            f.name.clone().unwrap_or_default(),
                            f.columns.clone(),
                            f.ref_table.clone(),
                            f.ref_columns.clone(),
                            action(f.on_delete, mysql),
                            action(f.on_update, mysql),
                        )
                    })
                    .collect(),
                indexes,
            };
            (t.name.clone(), seen)
        })
        .collect()
}

async fn postgres_theirs(db: &TestDb) -> (BTreeMap<String, Seen>, BTreeMap<String, Vec<String>>) {
    use sea_schema::postgres::discovery::SchemaDiscovery;
    let url = db.db_url();
    let mut opts = PgConnectOptions::new()
        .host(url.host.as_deref().unwrap_or("localhost"))
        .database(&url.database);
    if let Some(p) = url.port {
        opts = opts.port(p);
    }
    if let Some(u) = &url.username {
        opts = opts.username(u);
    }
    if let Some(p) = &url.password {
        opts = opts.password(p);
    }
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(opts)
        .await
        .expect("sea-schema pool");
    let schema = SchemaDiscovery::new(pool.clone(), "public")
        .discover()
        .await
        .expect("sea-schema discovery");
    pool.close().await;
    let tables = schema
        .tables
        .iter()
        .map(|t| {
            let mut columns: Vec<(String, bool)> = t
                .columns
                .iter()
                .map(|c| (c.name.clone(), c.not_null.is_none()))
                .collect();
            columns.sort();
            let seen = Seen {
                columns,
                primary_key: t
                    .primary_key_constraints
                    .first()
                    .map(|p| p.columns.clone())
                    .unwrap_or_default(),
                foreign_keys: t
                    .reference_constraints
                    .iter()
                    .map(|r| {
                        let act = |a: &Option<_>| match a {
                            Some(a) => format!("{a:?}"),
                            None => "NoAction".to_string(),
                        };
                        (
                            r.name.clone(),
                            r.columns.clone(),
                            r.table.clone(),
                            r.foreign_columns.clone(),
                            act(&r.on_delete),
                            act(&r.on_update),
                        )
                    })
                    .collect(),
                indexes: t
                    .unique_constraints
                    .iter()
                    .filter(|u| !u.is_partial)
                    .map(|u| (u.name.clone(), u.columns.clone(), true))
                    .collect(),
            };
            (t.info.name.clone(), seen)
        })
        .collect();
    let enums = schema
        .enums
        .iter()
        .map(|e| (e.typename.clone(), e.values.clone()))
        .collect();
    (tables, enums)
}

async fn mysql_theirs(db: &TestDb) -> BTreeMap<String, Seen> {
    use sea_schema::mysql::discovery::SchemaDiscovery;
    let url = db.db_url();
    let mut opts = MySqlConnectOptions::new()
        .host(url.host.as_deref().unwrap_or("localhost"))
        .database(&url.database);
    if let Some(p) = url.port {
        opts = opts.port(p);
    }
    if let Some(u) = &url.username {
        opts = opts.username(u);
    }
    if let Some(p) = &url.password {
        opts = opts.password(p);
    }
    let pool = MySqlPoolOptions::new()
        .max_connections(2)
        .connect_with(opts)
        .await
        .expect("sea-schema pool");
    let schema = SchemaDiscovery::new(pool.clone(), &url.database)
        .discover()
        .await
        .expect("sea-schema discovery");
    pool.close().await;
    schema
        .tables
        .iter()
        .map(|t| {
            let cols = |i: &sea_schema::mysql::def::IndexInfo| -> Vec<String> {
                i.parts.iter().map(|p| p.column.clone()).collect()
            };
            let seen = Seen {
                columns: t.columns.iter().map(|c| (c.name.clone(), c.null)).collect(),
                primary_key: t
                    .indexes
                    .iter()
                    .find(|i| i.name == "PRIMARY")
                    .map(cols)
                    .unwrap_or_default(),
                foreign_keys: t
                    .foreign_keys
                    .iter()
                    .map(|f| {
                        (
                            f.name.clone(),
                            f.columns.clone(),
                            f.referenced_table.clone(),
                            f.referenced_columns.clone(),
                            their_action(format!("{:?}", f.on_delete), true),
                            their_action(format!("{:?}", f.on_update), true),
                        )
                    })
                    .collect(),
                indexes: t
                    .indexes
                    .iter()
                    .filter(|i| i.name != "PRIMARY")
                    .map(|i| (i.name.clone(), cols(i), i.unique))
                    .collect(),
            };
            (t.info.name.clone(), seen)
        })
        .collect()
}

/// Every difference between the two readers, one line each.
fn differences(ours: &BTreeMap<String, Seen>, theirs: &BTreeMap<String, Seen>) -> Vec<String> {
    let mut out = Vec::new();
    let names = |m: &BTreeMap<String, Seen>| m.keys().cloned().collect::<Vec<_>>();
    if names(ours) != names(theirs) {
        out.push(format!(
            "tables: ours {:?}, sea-schema {:?}",
            names(ours),
            names(theirs)
        ));
    }
    for (name, o) in ours {
        let Some(t) = theirs.get(name) else { continue };
        if o.columns != t.columns {
            out.push(format!(
                "{name}: columns ours {:?}, sea-schema {:?}",
                o.columns, t.columns
            ));
        }
        if o.primary_key != t.primary_key {
            out.push(format!(
                "{name}: primary key ours {:?}, sea-schema {:?}",
                o.primary_key, t.primary_key
            ));
        }
        if o.foreign_keys != t.foreign_keys {
            out.push(format!(
                "{name}: foreign keys ours {:?}, sea-schema {:?}",
                o.foreign_keys, t.foreign_keys
            ));
        }
        if o.indexes != t.indexes {
            out.push(format!(
                "{name}: indexes ours {:?}, sea-schema {:?}",
                o.indexes, t.indexes
            ));
        }
    }
    out
}

async fn both_readers_agree(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let r = gm(&db.url, &["db", "sync"]);
    assert_eq!(r.code, 0, "{dialect}: db sync: {r:?}");
    let mut conn = db.conn().await;
    let found = introspect(&mut conn).await.expect("our introspection");
    conn.close().await;
    let ours_seen = ours(&found.schema, dialect);
    // Glance's schema is what is compared: a test that compares nothing proves nothing.
    assert!(ours_seen.len() >= 15, "{dialect}: {:?}", ours_seen.keys());
    assert!(
        ours_seen.values().any(|s| !s.foreign_keys.is_empty())
            && ours_seen.values().any(|s| !s.indexes.is_empty()),
        "{dialect}: no foreign keys or indexes to compare"
    );
    let problems = match dialect {
        Dialect::Postgres => {
            let (theirs, enums) = postgres_theirs(&db).await;
            let mut p = differences(&ours_seen, &theirs);
            let our_enums: BTreeMap<String, Vec<String>> = found
                .schema
                .enums
                .values()
                .map(|e| (e.name.clone(), e.values.clone()))
                .collect();
            assert!(!our_enums.is_empty(), "Glance's schema has an enum type");
            if our_enums != enums {
                p.push(format!("enums: ours {our_enums:?}, sea-schema {enums:?}"));
            }
            p
        }
        Dialect::Mysql => differences(&ours_seen, &mysql_theirs(&db).await),
        Dialect::Sqlite => unreachable!("sea-schema's SQLite discovery loses too much to compare"),
    };
    assert!(
        problems.is_empty(),
        "{dialect}: our introspection and sea-schema's disagree:\n  {}",
        problems.join("\n  ")
    );
}

per_dialect!(servers: sea_schema_agrees => both_readers_agree());
