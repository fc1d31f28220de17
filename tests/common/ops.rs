//! One example of every step kind the planner emits, on a small parent/child pair of tables
//! (`hz_parent`, `hz_child`), for the hazard tests: the table-driven one and the ones that check
//! the table against real servers.
#![allow(dead_code)]

use glance_manage::plan::Op;
use glance_manage::schema::model::{
    Check, Column, ColumnType, DefaultValue, Dialect, EnumType, ForeignKey, Index, MysqlOptions,
    PrimaryKey, Table, Trigger, TriggerEvent, TriggerTiming, Unique,
};

pub fn col(name: &str, ty: ColumnType, nullable: bool) -> Column {
    let mut c = Column::new(name, ty);
    c.nullable = nullable;
    c
}

/// `hz_parent (id int pk, name varchar(36) null, n int not null default 0)`.
pub fn parent() -> Table {
    let mut t = Table::new("hz_parent");
    t.columns = vec![
        col("id", ColumnType::Integer, false),
        col("name", ColumnType::String(36), true),
        Column {
            default: Some(DefaultValue::Int(0)),
            ..col("n", ColumnType::Integer, false)
        },
    ];
    t.primary_key = Some(PrimaryKey {
        name: None,
        columns: vec!["id".into()],
    });
    t
}

/// `hz_child (id int pk, parent_id int null, note varchar(10) null)`.
pub fn child() -> Table {
    let mut t = Table::new("hz_child");
    t.columns = vec![
        col("id", ColumnType::Integer, false),
        col("parent_id", ColumnType::Integer, true),
        col("note", ColumnType::String(10), true),
    ];
    t.primary_key = Some(PrimaryKey {
        name: None,
        columns: vec!["id".into()],
    });
    t
}

pub fn fk() -> ForeignKey {
    ForeignKey {
        name: Some("hz_child_parent_fk".into()),
        columns: vec!["parent_id".into()],
        ref_table: "hz_parent".into(),
        ref_columns: vec!["id".into()],
        on_delete: Default::default(),
        on_update: Default::default(),
    }
}

pub fn index(name: &str, column: &str, unique: bool) -> Index {
    Index {
        name: name.into(),
        columns: vec![column.into()],
        unique,
        dialects: None,
    }
}

/// A new table referencing `hz_parent`.
pub fn create_table_with_fk() -> Op {
    let mut t = Table::new("hz_new");
    t.columns = vec![
        col("id", ColumnType::Integer, false),
        col("parent_id", ColumnType::Integer, true),
    ];
    t.primary_key = Some(PrimaryKey {
        name: None,
        columns: vec!["id".into()],
    });
    let mut f = fk();
    f.name = Some("hz_new_parent_fk".into());
    t.foreign_keys = vec![f.clone()];
    Op::CreateTable {
        table: Box::new(t),
        inline_foreign_keys: vec![f],
    }
}

pub fn create_table_plain() -> Op {
    let mut t = Table::new("hz_lone");
    t.columns = vec![col("id", ColumnType::Integer, false)];
    Op::CreateTable {
        table: Box::new(t),
        inline_foreign_keys: vec![],
    }
}

pub fn add_column_nullable() -> Op {
    Op::AddColumn {
        table: "hz_parent".into(),
        column: col("extra", ColumnType::String(20), true),
    }
}

pub fn add_column_not_null_no_default() -> Op {
    Op::AddColumn {
        table: "hz_parent".into(),
        column: col("strict_col", ColumnType::Integer, false),
    }
}

pub fn drop_column() -> Op {
    Op::DropColumn {
        table: "hz_child".into(),
        column: "note".into(),
    }
}

pub fn rename_column() -> Op {
    Op::RenameColumn {
        table: "hz_child".into(),
        from: "note".into(),
        to: "remark".into(),
    }
}

fn name_col(ty: ColumnType, nullable: bool, default: Option<&str>) -> Column {
    Column {
        default: default.map(|d| DefaultValue::Str(d.into())),
        ..col("name", ty, nullable)
    }
}

/// `hz_parent.name`: a new default only.
pub fn alter_default() -> Op {
    Op::AlterColumn {
        table: "hz_parent".into(),
        from: name_col(ColumnType::String(36), true, None),
        to: name_col(ColumnType::String(36), true, Some("k")),
    }
}

/// `hz_parent.name`: NULL → NOT NULL.
pub fn alter_set_not_null() -> Op {
    Op::AlterColumn {
        table: "hz_parent".into(),
        from: name_col(ColumnType::String(36), true, None),
        to: name_col(ColumnType::String(36), false, None),
    }
}

/// `hz_parent.name`: varchar(36) → varchar(255).
pub fn alter_widen() -> Op {
    Op::AlterColumn {
        table: "hz_parent".into(),
        from: name_col(ColumnType::String(36), true, None),
        to: name_col(ColumnType::String(255), true, None),
    }
}

/// `hz_parent.n`: int → bigint.
pub fn alter_int_to_bigint() -> Op {
    let n = |ty| Column {
        default: Some(DefaultValue::Int(0)),
        ..col("n", ty, false)
    };
    Op::AlterColumn {
        table: "hz_parent".into(),
        from: n(ColumnType::Integer),
        to: n(ColumnType::BigInt),
    }
}

pub fn set_primary_key() -> Op {
    Op::SetPrimaryKey {
        table: "hz_child".into(),
        from_name: Some("hz_child_pkey".into()),
        to: Some(PrimaryKey {
            name: None,
            columns: vec!["id".into(), "parent_id".into()],
        }),
    }
}

pub fn add_index() -> Op {
    Op::AddIndex {
        table: "hz_parent".into(),
        index: index("hz_parent_name_idx", "name", false),
    }
}

pub fn add_unique_index() -> Op {
    Op::AddIndex {
        table: "hz_parent".into(),
        index: index("hz_parent_name_uidx", "name", true),
    }
}

pub fn drop_index() -> Op {
    Op::DropIndex {
        table: "hz_parent".into(),
        name: "hz_parent_n_idx".into(),
    }
}

pub fn add_unique() -> Op {
    Op::AddUnique {
        table: "hz_parent".into(),
        unique: Unique {
            name: Some("hz_parent_name_uq".into()),
            columns: vec!["name".into()],
        },
    }
}

pub fn drop_unique() -> Op {
    Op::DropUnique {
        table: "hz_parent".into(),
        name: "hz_parent_n_uq".into(),
    }
}

pub fn add_check() -> Op {
    Op::AddCheck {
        table: "hz_parent".into(),
        check: Check::new(Some("hz_parent_n_ck".into()), "n >= 0"),
    }
}

pub fn drop_check() -> Op {
    Op::DropCheck {
        table: "hz_parent".into(),
        name: "hz_parent_n_pos".into(),
    }
}

pub fn add_foreign_key() -> Op {
    Op::AddForeignKey {
        table: "hz_child".into(),
        fk: fk(),
    }
}

pub fn drop_foreign_key() -> Op {
    Op::DropForeignKey {
        table: "hz_child".into(),
        name: "hz_child_old_fk".into(),
    }
}

pub fn drop_table() -> Op {
    Op::DropTable {
        table: "hz_child".into(),
    }
}

pub fn rename_table() -> Op {
    Op::RenameTable {
        from: "hz_child".into(),
        to: "hz_kid".into(),
    }
}

pub fn create_enum() -> Op {
    Op::CreateEnum {
        enum_type: EnumType {
            name: "hz_mood_new".into(),
            values: vec!["ok".into(), "sad".into()],
        },
    }
}

pub fn add_enum_values() -> Op {
    Op::AddEnumValues {
        name: "hz_mood".into(),
        values: vec!["glad".into()],
    }
}

pub fn drop_enum() -> Op {
    Op::DropEnum {
        name: "hz_mood".into(),
    }
}

pub fn table_options() -> Op {
    Op::AlterTableOptions {
        table: "hz_parent".into(),
        from: MysqlOptions {
            engine: Some("InnoDB".into()),
            charset: Some("utf8mb4".into()),
            collation: None,
        },
        to: MysqlOptions {
            engine: Some("InnoDB".into()),
            charset: Some("utf8mb3".into()),
            collation: None,
        },
    }
}

/// A rebuild of `hz_child` (SQLite) that drops `note` and makes `parent_id` NOT NULL.
pub fn rebuild() -> Op {
    let from = child();
    let mut to = child();
    to.columns.retain(|c| c.name != "note");
    to.columns[1].nullable = false;
    Op::RebuildTable {
        from: Box::new(from),
        to: Box::new(to),
    }
}

pub fn create_trigger() -> Op {
    create_trigger_for(Dialect::Mysql)
}

/// A `BEFORE UPDATE` trigger on `hz_parent` with a body `dialect` accepts.
pub fn create_trigger_for(dialect: Dialect) -> Op {
    let body = match dialect {
        Dialect::Postgres => "BEGIN NEW.n := NEW.n; RETURN NEW; END",
        Dialect::Mysql => "SET NEW.n = NEW.n",
        Dialect::Sqlite => "BEGIN SELECT 1; END",
    };
    Op::CreateTrigger {
        trigger: Box::new(Trigger::new(
            "hz_parent_touch",
            "hz_parent",
            TriggerTiming::Before,
            TriggerEvent::Update,
            body,
        )),
    }
}

pub fn drop_trigger() -> Op {
    Op::DropTrigger {
        table: "hz_parent".into(),
        name: "hz_parent_old_trg".into(),
        function: None,
    }
}

/// The kind of an op, by an exhaustive match: a new step kind fails to compile here until
/// the hazard tests cover it.
pub fn kind(op: &Op) -> &'static str {
    match op {
        Op::CreateEnum { .. } => "create_enum",
        Op::AddEnumValues { .. } => "add_enum_values",
        Op::DropEnum { .. } => "drop_enum",
        Op::CreateTable { .. } => "create_table",
        Op::DropTable { .. } => "drop_table",
        Op::RenameTable { .. } => "rename_table",
        Op::AddColumn { .. } => "add_column",
        Op::DropColumn { .. } => "drop_column",
        Op::RenameColumn { .. } => "rename_column",
        Op::AlterColumn { .. } => "alter_column",
        Op::SetPrimaryKey { .. } => "set_primary_key",
        Op::AddIndex { .. } => "add_index",
        Op::DropIndex { .. } => "drop_index",
        Op::AddUnique { .. } => "add_unique",
        Op::DropUnique { .. } => "drop_unique",
        Op::AddCheck { .. } => "add_check",
        Op::DropCheck { .. } => "drop_check",
        Op::AddForeignKey { .. } => "add_foreign_key",
        Op::DropForeignKey { .. } => "drop_foreign_key",
        Op::AlterTableOptions { .. } => "alter_table_options",
        Op::RebuildTable { .. } => "rebuild_table",
        Op::CreateTrigger { .. } => "create_trigger",
        Op::DropTrigger { .. } => "drop_trigger",
    }
}

pub const ALL_KINDS: &[&str] = &[
    "create_enum",
    "add_enum_values",
    "drop_enum",
    "create_table",
    "drop_table",
    "rename_table",
    "add_column",
    "drop_column",
    "rename_column",
    "alter_column",
    "set_primary_key",
    "add_index",
    "drop_index",
    "add_unique",
    "drop_unique",
    "add_check",
    "drop_check",
    "add_foreign_key",
    "drop_foreign_key",
    "alter_table_options",
    "rebuild_table",
    "create_trigger",
    "drop_trigger",
];
