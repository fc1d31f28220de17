//! Everything that talks to a live database on behalf of a migration: the connection
//! ([`connection`]), the migration lock ([`lock`]), the session that runs statements inside
//! transactions ([`session`]) and Glance's version tables ([`version_table`]). Planning never
//! comes here; the runner (`engine::runner`) drives a [`Session`].

pub mod connection;
pub mod lock;
pub mod session;
pub mod version_table;

pub use connection::{Conn, DbError, DbErrorKind, OpenMode};
pub use session::Session;
