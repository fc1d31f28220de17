//! SQL text handling shared by every stage that reads or writes SQL: the tokenizer
//! ([`lexer`]), the canonical form of expressions ([`expr`]) and quoting of identifiers and
//! literals ([`quote`](mod@quote)). It depends on nothing but the [`Dialect`](crate::schema::model::Dialect), so
//! both introspection (reading) and normalization/rendering (comparing, writing) can use it
//! without depending on each other.

pub mod expr;
pub mod lexer;
pub mod quote;

pub use quote::{literal, quote};
