//! The schema model ([`model`]: tables, columns, keys, indexes, constraints, enum types;
//! [`trigger`]: row triggers; [`types`]: dialects, column types, defaults) and the typed
//! changes between two schemas ([`change`]). Plain data, no I/O: every other stage reads or
//! produces these.

pub mod change;
pub mod model;
pub mod trigger;
pub mod types;
