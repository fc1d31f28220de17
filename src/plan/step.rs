//! The typed step IR: what the planner decides, before any SQL exists. An [`Op`] names the
//! objects it touches with everything the renderer needs (the name the database gave a
//! constraint, the table as it will be after a SQLite rebuild), so rendering never looks
//! anything up again. [`Stage`] orders ops within a phase: its variant order is the execution
//! order.

use std::fmt;

use serde::Serialize;

use crate::schema::model::{
    Check, Column, EnumType, ForeignKey, Index, MysqlOptions, PrimaryKey, Table, Trigger, Unique,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Additive: safe while old code still runs.
    Expand,
    /// Data migrations.
    Migrate,
    /// Destructive: drops, tightening alters, renames.
    Contract,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Expand => "expand",
            Phase::Migrate => "migrate",
            Phase::Contract => "contract",
        })
    }
}

/// When an op runs within its phase, earliest first. Drops of what blocks a change come
/// before it (a foreign key before the index it uses), referenced objects before the
/// objects that reference them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    CreateEnums,
    AddEnumValues,
    RenameTables,
    /// Before anything they read is renamed, altered or dropped.
    DropTriggers,
    RenameColumns,
    DropForeignKeys,
    DropChecks,
    DropIndexesAndUniques,
    /// Referenced tables first.
    CreateTables,
    AddColumns,
    AlterColumns,
    /// SQLite: after the in-place alters of other tables.
    RebuildTables,
    SetPrimaryKeys,
    AddIndexesUniquesChecks,
    /// After every table they point at exists.
    AddForeignKeys,
    DropColumns,
    /// Referencing tables first.
    DropTables,
    DropEnums,
    TableOptions,
    /// Last: after every column, table and rebuild they read.
    CreateTriggers,
}

/// One schema operation, dialect-neutral; `plan::render` turns it into SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// PostgreSQL `CREATE TYPE … AS ENUM`.
    CreateEnum {
        enum_type: EnumType,
    },
    /// PostgreSQL `ALTER TYPE … ADD VALUE`, one statement per value.
    AddEnumValues {
        name: String,
        values: Vec<String>,
    },
    DropEnum {
        name: String,
    },
    /// `CREATE TABLE` with the given foreign keys inline (the others are added later), then
    /// the table's indexes.
    CreateTable {
        table: Box<Table>,
        inline_foreign_keys: Vec<ForeignKey>,
    },
    DropTable {
        table: String,
    },
    RenameTable {
        from: String,
        to: String,
    },
    AddColumn {
        table: String,
        column: Column,
    },
    DropColumn {
        table: String,
        column: String,
    },
    RenameColumn {
        table: String,
        from: String,
        to: String,
    },
    /// PostgreSQL `ALTER COLUMN`s / MySQL `MODIFY` (never SQLite: that is a rebuild).
    AlterColumn {
        table: String,
        from: Column,
        to: Column,
    },
    /// `from_name`: the name of the key being replaced, as the database knows it.
    SetPrimaryKey {
        table: String,
        from_name: Option<String>,
        to: Option<PrimaryKey>,
    },
    AddIndex {
        table: String,
        index: Index,
    },
    DropIndex {
        table: String,
        name: String,
    },
    AddUnique {
        table: String,
        unique: Unique,
    },
    DropUnique {
        table: String,
        name: String,
    },
    AddCheck {
        table: String,
        check: Check,
    },
    DropCheck {
        table: String,
        name: String,
    },
    AddForeignKey {
        table: String,
        fk: ForeignKey,
    },
    DropForeignKey {
        table: String,
        name: String,
    },
    /// MySQL engine / charset / collation.
    AlterTableOptions {
        table: String,
        from: MysqlOptions,
        to: MysqlOptions,
    },
    /// SQLite's table rebuild: `to` is the table after all of its changes, with the
    /// database's own spelling of what it keeps.
    RebuildTable {
        from: Box<Table>,
        to: Box<Table>,
    },
    /// `CREATE TRIGGER` (on PostgreSQL with its function, named after it).
    CreateTrigger {
        trigger: Box<Trigger>,
    },
    /// `DROP TRIGGER`; on PostgreSQL also `function`, the trigger's own function, when it has
    /// one (a function named otherwise may serve other triggers and is left alone).
    DropTrigger {
        table: String,
        name: String,
        function: Option<String>,
    },
}

impl Op {
    /// When the op runs within its phase.
    pub fn stage(&self) -> Stage {
        match self {
            Op::CreateEnum { .. } => Stage::CreateEnums,
            Op::AddEnumValues { .. } => Stage::AddEnumValues,
            Op::RenameTable { .. } => Stage::RenameTables,
            Op::RenameColumn { .. } => Stage::RenameColumns,
            Op::DropForeignKey { .. } => Stage::DropForeignKeys,
            Op::DropCheck { .. } => Stage::DropChecks,
            Op::DropIndex { .. } | Op::DropUnique { .. } => Stage::DropIndexesAndUniques,
            Op::CreateTable { .. } => Stage::CreateTables,
            Op::AddColumn { .. } => Stage::AddColumns,
            Op::AlterColumn { .. } => Stage::AlterColumns,
            Op::RebuildTable { .. } => Stage::RebuildTables,
            Op::SetPrimaryKey { .. } => Stage::SetPrimaryKeys,
            Op::AddIndex { .. } | Op::AddUnique { .. } | Op::AddCheck { .. } => {
                Stage::AddIndexesUniquesChecks
            }
            Op::AddForeignKey { .. } => Stage::AddForeignKeys,
            Op::DropColumn { .. } => Stage::DropColumns,
            Op::DropTable { .. } => Stage::DropTables,
            Op::DropEnum { .. } => Stage::DropEnums,
            Op::AlterTableOptions { .. } => Stage::TableOptions,
            Op::DropTrigger { .. } => Stage::DropTriggers,
            Op::CreateTrigger { .. } => Stage::CreateTriggers,
        }
    }
}

/// A planned step: one op, its phase, and what it does in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStep {
    pub phase: Phase,
    /// What the step does, in words.
    pub summary: String,
    /// The snapshot element that caused it (`tables.images.columns.visibility`).
    pub source: String,
    pub op: Op,
}

impl PlannedStep {
    /// A SQLite table rebuild: the executor turns foreign keys off around its transaction and
    /// runs `PRAGMA foreign_key_check` before committing.
    pub fn is_rebuild(&self) -> bool {
        matches!(self.op, Op::RebuildTable { .. })
    }
}

/// A step rendered for one dialect: statements that belong together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub phase: Phase,
    pub summary: String,
    pub source: String,
    pub statements: Vec<String>,
    /// A SQLite table rebuild (see [`PlannedStep::is_rebuild`]).
    pub rebuild: bool,
}
