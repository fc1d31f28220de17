//! glance-manage: a declarative schema-diff re-implementation of OpenStack Glance's
//! `glance-manage db`.
//!
//! Data flows one way: TOML snapshot ([`snapshot`]) → schema [`model`] ← introspected database
//! (`introspect`); model + model → `diff` → ordered `plan` → SQL per dialect (`render`) →
//! executor (`apply`). Purge: model FK graph → delete plan → executor.

pub mod config;
pub mod db;
pub mod error;
pub mod model;
pub mod revisions;
pub mod snapshot;
pub mod introspect;
pub mod normalize;
pub mod purge;
