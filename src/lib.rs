//! glance-manage: a declarative schema-diff re-implementation of OpenStack Glance's
//! `glance-manage db`.
//!
//! The pipeline, one way (see `docs/architecture.md`):
//!
//! ```text
//! revisions/*.toml ─ snapshot ─▶ schema::model ─ resolve ─┐
//!                                                         ├ normalize ─ diff ─ plan (typed
//! database ─ exec::connection ─ introspect ───────────────┘   steps) ─ plan::render ─ exec
//! ```
//!
//! [`cli`] parses arguments once and prints; [`engine`] plans upgrades and runs them
//! ([`engine::runner`], reporting through [`observe`] events) on an [`exec::Session`];
//! [`purge`] plans and runs batched deletes the same way. [`sql`] (lexer, expression
//! canonicaliser, quoting) and [`schema`] are shared by every stage and depend on nothing else.

// Snapshot diagnostics carry their file text so miette can point at the line; they travel only
// on the error path, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod cli;
pub mod config;
pub mod diff;
pub mod engine;
pub mod exec;
pub mod introspect;
pub mod normalize;
pub mod observe;
pub mod plan;
pub mod purge;
pub mod revisions;
pub mod schema;
pub mod snapshot;
pub mod sql;

// Paths of the previous layout (`glance_manage::db::Conn`, `glance_manage::model::Dialect`),
// kept so code written against it (parallel branches, `config.rs`) builds unchanged.
pub use exec::connection as db;
pub use schema::model;
