//! Object for object: the schema the engine creates is the one real Glance creates.
//!
//! `fixtures/glance/<backend>/NN_<rev>.sql` are DDL dumps of databases that real Glance 33.0.0
//! upgraded one revision at a time in walk order (`fixtures/glance/regenerate.sh`). Each dump is
//! loaded into a fresh database and introspected WITHOUT normalization, then compared with a
//! database the engine built to the same state: table and column names, types, nullability,
//! defaults, column order, index names and columns, unique constraint names, foreign-key
//! names (PostgreSQL `<t>_<col>_fkey`, MariaDB `<t>_ibfk_<n>`), primary-key names, check
//! names (MariaDB `CONSTRAINT_<n>`), MariaDB engine/charset, PostgreSQL enum types, and
//! triggers: Glance's two Ocata MySQL triggers are in the MariaDB dumps 04–16 (created by
//! `ocata_expand01`, dropped by `ocata_contract01`), body text compared byte for byte.
//!
//! The dumps follow the walk order, so a contract revision's dump also holds every expand
//! revision. Two comparisons:
//! - a database the engine planned from nothing to `liberty`, `mitaka02`, `2024_1_expand01`
//!   (the expand head) and `2024_1_contract01` (the head): the revisions whose own closure is
//!   the state the dump shows;
//! - the engine walked one revision at a time like Glance was, compared after every one of the
//!   29 steps (plain ALTERs and SQLite table rebuilds must also give Glance's objects); where
//!   Glance's dump did not change, ours must not have changed either.

mod common;
mod engine_support;

use glance_manage::engine::is_bookkeeping;
use glance_manage::introspect;
use glance_manage::schema::model::{Dialect, Schema};

use engine_support::*;

const COMPARED: [(usize, &str); 4] = [
    (1, "liberty"),
    (3, "mitaka02"),
    (16, "2024_1_expand01"),
    (29, "2024_1_contract01"),
];

async fn raw(db: &common::TestDb) -> Schema {
    let mut conn = db.conn().await;
    let found = introspect::introspect(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("introspection on {}: {e}", db.dialect));
    conn.close().await;
    let mut s = found.schema;
    s.tables.retain(|name, _| !is_bookkeeping(name));
    assert!(
        found.unsupported.is_empty(),
        "{}: unsupported objects: {:?}",
        db.dialect,
        found.unsupported
    );
    s
}

async fn compare(dialect: Dialect, n: usize, rev: &str, ours: &Schema) -> Vec<String> {
    let Some(glance_db) = load_glance_dump(dialect, n, rev).await else {
        return vec![];
    };
    let glance = raw(&glance_db).await;
    // The comparison covers triggers: Glance's dumps 04–16 on MariaDB hold its two.
    let glances_triggers = if dialect == Dialect::Mysql && (4..=16).contains(&n) {
        2
    } else {
        0
    };
    assert_eq!(
        glance.triggers.len(),
        glances_triggers,
        "{dialect} dump {n:02}_{rev}: triggers {:?}",
        glance.triggers
    );
    raw_differences(&glance, ours)
        .into_iter()
        .map(|d| format!("{n:02}_{rev}: {d}"))
        .collect()
}

async fn same_as_glance(dialect: Dialect) {
    let revs = revs();
    let mut problems = Vec::new();
    for (n, rev) in COMPARED {
        assert_eq!(revs.walk_order()[n - 1], rev, "walk position of {rev}");
        let Some(db) = common::TestDb::create(dialect).await else {
            return;
        };
        upgrade(&db, &revs, rev).await;
        let ours = raw(&db).await;
        problems.extend(compare(dialect, n, rev, &ours).await);
    }
    assert!(
        problems.is_empty(),
        "{dialect}: the engine's schema differs from Glance's in {} place(s):\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
}

/// The engine walked one revision at a time, like the dumps were made, compared at every step.
async fn walk_same_as_glance(dialect: Dialect) {
    let revs = revs();
    let Some(db) = common::TestDb::create(dialect).await else {
        return;
    };
    let mut problems = Vec::new();
    let (mut previous_dump, mut previous_ours) = (String::new(), Schema::default());
    for (i, rev) in revs.walk_order().into_iter().enumerate() {
        upgrade(&db, &revs, rev).await;
        let ours = raw(&db).await;
        // Glance's dump did not change at this revision (apart from the version-row comment):
        // then ours must not have changed either, and loading the same DDL again proves
        // nothing new.
        let dump = glance_dump_text(dialect, i + 1, rev);
        if dump == previous_dump {
            for d in raw_differences(&previous_ours, &ours) {
                problems.push(format!(
                    "{:02}_{rev}: Glance's schema did not change, ours did: {d}",
                    i + 1
                ));
            }
        } else {
            problems.extend(compare(dialect, i + 1, rev, &ours).await);
        }
        previous_dump = dump;
        previous_ours = ours;
    }
    assert!(
        problems.is_empty(),
        "{dialect}: the walked schema differs from Glance's in {} place(s):\n- {}",
        problems.len(),
        problems.join("\n- ")
    );
}

per_dialect!(same_as_glance);

per_dialect!(walk_same_as_glance);
