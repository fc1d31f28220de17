//! Everything that talks to a live database on behalf of a migration: the connection
//! ([`connection`], with [`galera`] detection), the migration lock ([`lock`]; on Galera a lease
//! row, [`lease`]), the session that runs statements inside transactions ([`session`]),
//! retries of transient errors ([`retry`]), data migrations in key-range batches ([`batch`])
//! and Glance's version tables ([`version_table`]). Planning never
//! comes here; the runner (`engine::runner`) drives a [`Session`].

pub mod batch;
pub mod connection;
pub mod galera;
pub mod lease;
pub mod lock;
pub mod retry;
pub mod session;
pub mod version_table;

pub use connection::{Conn, DbError, DbErrorKind, OpenMode};
pub use session::Session;
