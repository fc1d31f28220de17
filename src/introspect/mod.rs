//! Reads the live schema of a database into the model (the resolved form for its dialect).
//!
//! One query per object kind (tables, columns, indexes, foreign keys, checks, enums), never one
//! per table: introspection cost stays flat as the schema grows (`../shared/prior-art.md` §4.1).
