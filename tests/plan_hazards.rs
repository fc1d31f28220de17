//! The hazard table (`plan::hazard`): for every step kind the planner emits, the lock, its
//! backend name, the MariaDB algorithm, whether rows are copied or read, and the data hazards,
//! on each backend. `plan_hazards_servers.rs` checks the same table against real servers.

mod common;

use common::ops::{self, ALL_KINDS, kind};
use glance_manage::plan::Op;
use glance_manage::plan::hazard::{
    Algorithm, DataHazard, Hazard, Lock, NEW_TABLE, NO_TABLE, hazard,
};
use glance_manage::plan::sizes::{DurationClass, TableSize, duration_class};
use glance_manage::schema::model::Dialect;

/// Expected: lock, the backend's name for it, algorithm (MariaDB), rewrite, scan.
type E = (Lock, &'static str, Option<Algorithm>, bool, bool);

const AE: &str = "ACCESS EXCLUSIVE";
const SRE: &str = "SHARE ROW EXCLUSIVE";
const MDL: &str = "exclusive metadata lock";
const DB: &str = "database write lock";

fn pg(lock: Lock, name: &'static str, rewrite: bool, scan: bool) -> E {
    (lock, name, None, rewrite, scan)
}

fn maria(alg: Algorithm, lock: Lock, rewrite: bool, scan: bool) -> E {
    let name = match lock {
        Lock::None => "LOCK=NONE",
        Lock::Shared => "LOCK=SHARED",
        Lock::Exclusive => "LOCK=EXCLUSIVE",
    };
    (lock, name, Some(alg), rewrite, scan)
}

fn lite(rewrite: bool, scan: bool) -> E {
    (Lock::Shared, DB, None, rewrite, scan)
}

struct Row {
    name: &'static str,
    op: fn() -> Op,
    postgres: E,
    mysql: E,
    sqlite: E,
}

fn table() -> Vec<Row> {
    use Algorithm::*;
    use Lock::*;
    let none_new = (None, NEW_TABLE, Option::None, false, false);
    let none_type = (None, NO_TABLE, Option::None, false, false);
    let r = |name, op, postgres, mysql, sqlite| Row {
        name,
        op,
        postgres,
        mysql,
        sqlite,
    };
    vec![
        r(
            "create_enum",
            ops::create_enum,
            none_type,
            none_type,
            lite(false, false),
        ),
        r(
            "add_enum_values",
            ops::add_enum_values,
            none_type,
            none_type,
            lite(false, false),
        ),
        r(
            "drop_enum",
            ops::drop_enum,
            none_type,
            none_type,
            lite(false, false),
        ),
        r(
            "create_table",
            ops::create_table_plain,
            none_new,
            none_new,
            lite(false, false),
        ),
        r(
            "create_table (references an existing table)",
            ops::create_table_with_fk,
            pg(Shared, SRE, false, false),
            none_new,
            lite(false, false),
        ),
        r(
            "drop_table",
            ops::drop_table,
            pg(Exclusive, AE, false, false),
            (Exclusive, MDL, Option::None, false, false),
            lite(false, false),
        ),
        r(
            "rename_table",
            ops::rename_table,
            pg(Exclusive, AE, false, false),
            (Exclusive, MDL, Option::None, false, false),
            lite(false, false),
        ),
        r(
            "add_column",
            ops::add_column_nullable,
            pg(Exclusive, AE, false, false),
            maria(Instant, None, false, false),
            lite(false, false),
        ),
        r(
            "add_column (NOT NULL, no default)",
            ops::add_column_not_null_no_default,
            pg(Exclusive, AE, false, false),
            maria(Instant, None, false, false),
            lite(false, false),
        ),
        r(
            "drop_column",
            ops::drop_column,
            pg(Exclusive, AE, false, false),
            maria(Instant, None, false, false),
            lite(false, false),
        ),
        r(
            "rename_column",
            ops::rename_column,
            pg(Exclusive, AE, false, false),
            maria(Instant, None, false, false),
            lite(false, false),
        ),
        r(
            "alter_column (default)",
            ops::alter_default,
            pg(Exclusive, AE, false, false),
            maria(Instant, None, false, false),
            lite(false, false),
        ),
        r(
            "alter_column (SET NOT NULL)",
            ops::alter_set_not_null,
            pg(Exclusive, AE, false, true),
            maria(Inplace, None, true, false),
            lite(false, false),
        ),
        r(
            "alter_column (varchar widened)",
            ops::alter_widen,
            pg(Exclusive, AE, false, false),
            maria(Copy, Shared, true, false),
            lite(false, false),
        ),
        r(
            "alter_column (int to bigint)",
            ops::alter_int_to_bigint,
            pg(Exclusive, AE, true, false),
            maria(Copy, Shared, true, false),
            lite(false, false),
        ),
        r(
            "set_primary_key",
            ops::set_primary_key,
            pg(Exclusive, AE, false, true),
            maria(Inplace, None, true, false),
            lite(false, false),
        ),
        r(
            "add_index",
            ops::add_index,
            pg(Shared, "SHARE", false, true),
            maria(Nocopy, None, false, true),
            lite(false, true),
        ),
        r(
            "add_index (unique)",
            ops::add_unique_index,
            pg(Shared, "SHARE", false, true),
            maria(Nocopy, None, false, true),
            lite(false, true),
        ),
        r(
            "drop_index",
            ops::drop_index,
            pg(Exclusive, AE, false, false),
            maria(Nocopy, None, false, false),
            lite(false, false),
        ),
        r(
            "add_unique",
            ops::add_unique,
            pg(Exclusive, AE, false, true),
            maria(Nocopy, None, false, true),
            lite(false, false),
        ),
        r(
            "drop_unique",
            ops::drop_unique,
            pg(Exclusive, AE, false, false),
            maria(Nocopy, None, false, false),
            lite(false, false),
        ),
        r(
            "add_check",
            ops::add_check,
            pg(Exclusive, AE, false, true),
            maria(Copy, Shared, true, false),
            lite(false, false),
        ),
        r(
            "drop_check",
            ops::drop_check,
            pg(Exclusive, AE, false, false),
            maria(Instant, None, false, false),
            lite(false, false),
        ),
        r(
            "add_foreign_key",
            ops::add_foreign_key,
            pg(Shared, SRE, false, true),
            maria(Copy, Shared, true, false),
            lite(false, false),
        ),
        r(
            "drop_foreign_key",
            ops::drop_foreign_key,
            pg(Exclusive, AE, false, false),
            maria(Instant, None, false, false),
            lite(false, false),
        ),
        r(
            "alter_table_options",
            ops::table_options,
            pg(Exclusive, AE, true, false),
            maria(Copy, Shared, true, false),
            lite(false, false),
        ),
        r(
            "rebuild_table",
            ops::rebuild,
            pg(Exclusive, AE, true, false),
            maria(Copy, Shared, true, false),
            lite(true, false),
        ),
        r(
            "create_trigger",
            ops::create_trigger,
            pg(Shared, SRE, false, false),
            (Exclusive, MDL, Option::None, false, false),
            lite(false, false),
        ),
        r(
            "drop_trigger",
            ops::drop_trigger,
            pg(Exclusive, AE, false, false),
            (Exclusive, MDL, Option::None, false, false),
            lite(false, false),
        ),
    ]
}

fn got(h: &Hazard) -> E {
    (h.lock, h.lock_name, h.algorithm, h.rewrite, h.scan)
}

#[test]
fn every_step_kind_has_a_row() {
    let covered: std::collections::BTreeSet<&str> =
        table().iter().map(|r| kind(&(r.op)())).collect();
    let all: std::collections::BTreeSet<&str> = ALL_KINDS.iter().copied().collect();
    assert_eq!(covered, all, "step kinds without a row in the hazard table");
}

#[test]
fn hazard_table_per_backend() {
    let mut wrong = Vec::new();
    for row in table() {
        let op = (row.op)();
        for (dialect, want) in [
            (Dialect::Postgres, row.postgres),
            (Dialect::Mysql, row.mysql),
            (Dialect::Sqlite, row.sqlite),
        ] {
            let h = hazard(dialect, &op);
            if got(&h) != want {
                wrong.push(format!(
                    "{} on {dialect}: got {:?}, want {want:?}",
                    row.name,
                    got(&h)
                ));
            }
            // What the lock blocks follows from its level, on every backend.
            assert_eq!(h.blocks, h.lock.blocks(), "{} on {dialect}", row.name);
            // MariaDB DDL commits implicitly; the others do not.
            assert_eq!(h.implicit_commit, dialect == Dialect::Mysql, "{}", row.name);
            // A step that reads or copies rows names the table whose size matters.
            if h.touches_rows() {
                assert!(h.rows_of.is_some(), "{} on {dialect}", row.name);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "hazard table differs:\n{}",
        wrong.join("\n")
    );
}

fn data(op: &Op) -> Vec<DataHazard> {
    hazard(Dialect::Postgres, op).data
}

fn fails(reason: &str) -> DataHazard {
    DataHazard::MayFailOnRows {
        reason: reason.into(),
    }
}

fn drops(what: &str) -> DataHazard {
    DataHazard::DropsData { what: what.into() }
}

#[test]
fn data_hazards_per_step_kind() {
    let cases: Vec<(Op, Vec<DataHazard>)> = vec![
        (ops::drop_table(), vec![drops("table hz_child")]),
        (ops::drop_column(), vec![drops("column hz_child.note")]),
        (ops::add_column_nullable(), vec![]),
        (
            ops::add_column_not_null_no_default(),
            vec![fails("hz_parent.strict_col is NOT NULL without a default")],
        ),
        (ops::alter_default(), vec![]),
        (
            ops::alter_set_not_null(),
            vec![fails("NULLs in hz_parent.name")],
        ),
        (ops::alter_widen(), vec![]),
        (ops::alter_int_to_bigint(), vec![]),
        (
            ops::set_primary_key(),
            vec![fails(
                "duplicate or NULL values in hz_child (id, parent_id)",
            )],
        ),
        (ops::add_index(), vec![]),
        (
            ops::add_unique_index(),
            vec![fails("duplicate values in hz_parent (name)")],
        ),
        (
            ops::add_unique(),
            vec![fails("duplicate values in hz_parent (name)")],
        ),
        (
            ops::add_check(),
            vec![fails("rows of hz_parent that break CHECK (n >= 0)")],
        ),
        (
            ops::add_foreign_key(),
            vec![fails(
                "rows of hz_child (parent_id) without a matching row in hz_parent",
            )],
        ),
        (ops::drop_index(), vec![]),
        (ops::rename_table(), vec![]),
        (
            ops::rebuild(),
            vec![
                drops("column hz_child.note"),
                fails("NULLs in hz_child.parent_id"),
            ],
        ),
    ];
    for (op, want) in cases {
        assert_eq!(data(&op), want, "{}", kind(&op));
        // The data hazards are the same on every backend.
        assert_eq!(hazard(Dialect::Mysql, &op).data, want, "{}", kind(&op));
        assert_eq!(hazard(Dialect::Sqlite, &op).data, want, "{}", kind(&op));
    }
}

#[test]
fn narrowing_type_changes_may_fail() {
    use glance_manage::plan::hazard::narrows;
    use glance_manage::schema::model::ColumnType as T;
    let e = |v: &[&str]| T::Enum {
        name: None,
        values: v.iter().map(|s| s.to_string()).collect(),
    };
    for (from, to, want) in [
        (T::String(255), T::String(36), true),
        (T::String(36), T::String(255), false),
        (T::String(36), T::Text, false),
        (T::Text, T::String(255), true),
        (T::BigInt, T::Integer, true),
        (T::SmallInt, T::BigInt, false),
        (T::Integer, T::Boolean, true),
        (e(&["a", "b"]), e(&["a", "b", "c"]), false),
        (e(&["a", "b"]), e(&["a"]), true),
        (T::Float, T::Double, false),
    ] {
        assert_eq!(narrows(&from, &to), want, "{from:?} -> {to:?}");
    }
}

#[test]
fn duration_class_follows_rows_and_work() {
    let size = |rows: i64, bytes: i64| TableSize {
        rows: Some(rows),
        bytes: Some(bytes),
        exact: false,
    };
    let index = hazard(Dialect::Postgres, &ops::add_index());
    let add_col = hazard(Dialect::Postgres, &ops::add_column_nullable());
    // Metadata-only steps are instant on any table.
    assert_eq!(
        duration_class(&add_col, Some(&size(50_000_000, 1 << 40))),
        DurationClass::Instant
    );
    assert_eq!(
        duration_class(&index, Some(&size(500, 65_536))),
        DurationClass::Instant
    );
    assert_eq!(
        duration_class(&index, Some(&size(200_000, 40 << 20))),
        DurationClass::Seconds
    );
    assert_eq!(
        duration_class(&index, Some(&size(5_000_000, 40 << 20))),
        DurationClass::Minutes
    );
    // Few rows but many bytes (wide rows): the bytes decide.
    assert_eq!(
        duration_class(&index, Some(&size(5_000, 2 << 30))),
        DurationClass::Minutes
    );
    // Unknown size: not claimed instant.
    assert_eq!(duration_class(&index, None), DurationClass::Seconds);
}
