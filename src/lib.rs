//! glance-manage: a declarative schema-diff re-implementation of OpenStack Glance's
//! `glance-manage db`.
//!
//! Data flows one way: TOML snapshot ([`snapshot`]) → schema [`model`] ← introspected database
//! (`introspect`); model + model → `diff` → ordered `plan` → SQL per dialect (`render`) →
//! executor (`apply`). Purge: model FK graph → delete plan → executor.

// Snapshot diagnostics carry their file text so miette can point at the line; they travel only
// on the error path, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod cli;
pub mod config;
pub mod diff;
pub mod engine;

pub mod exec;
pub mod introspect;
pub mod model;
pub mod normalize;
pub mod observe;
pub mod plan;
pub mod purge;

pub mod revisions;
pub mod snapshot;
pub mod sql;

// Paths of the previous layout, kept while branches written against it are merged: the
// connection was `db`, the model is `schema::model`'s only module so far.
pub use exec::connection as db;
