//! Row triggers: a name, the table, BEFORE/AFTER, INSERT/UPDATE/DELETE, and the body each
//! dialect runs for every row.
//!
//! What a body is differs per backend, and is what the backend's catalog reports back:
//! - MySQL/MariaDB: the statement after `FOR EACH ROW` (`BEGIN … END`), which
//!   `information_schema.TRIGGERS.ACTION_STATEMENT` returns as written;
//! - SQLite: the text after `FOR EACH ROW` (an optional `WHEN` clause, then `BEGIN … END`), as
//!   kept in `sqlite_master.sql`;
//! - PostgreSQL: the PL/pgSQL body of the trigger function (`pg_proc.prosrc`); the function is
//!   named after the trigger and created with it.
//!
//! Like a check, a trigger keeps its body as written (DDL is rendered from it) and
//! normalization adds a comparison form in which whitespace, comments and the case of keywords
//! do not count.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::types::Dialect;

/// When the trigger fires relative to the row change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerTiming {
    Before,
    After,
}

impl TriggerTiming {
    pub fn parse(s: &str) -> Option<TriggerTiming> {
        match s.trim().to_ascii_lowercase().as_str() {
            "before" => Some(TriggerTiming::Before),
            "after" => Some(TriggerTiming::After),
            _ => None,
        }
    }

    /// The SQL keyword.
    pub fn sql(self) -> &'static str {
        match self {
            TriggerTiming::Before => "BEFORE",
            TriggerTiming::After => "AFTER",
        }
    }

    /// The snapshot spelling.
    pub fn key(self) -> &'static str {
        match self {
            TriggerTiming::Before => "before",
            TriggerTiming::After => "after",
        }
    }
}

/// The row change that fires the trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerEvent {
    Insert,
    Update,
    Delete,
}

impl TriggerEvent {
    pub fn parse(s: &str) -> Option<TriggerEvent> {
        match s.trim().to_ascii_lowercase().as_str() {
            "insert" => Some(TriggerEvent::Insert),
            "update" => Some(TriggerEvent::Update),
            "delete" => Some(TriggerEvent::Delete),
            _ => None,
        }
    }

    pub fn sql(self) -> &'static str {
        match self {
            TriggerEvent::Insert => "INSERT",
            TriggerEvent::Update => "UPDATE",
            TriggerEvent::Delete => "DELETE",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            TriggerEvent::Insert => "insert",
            TriggerEvent::Update => "update",
            TriggerEvent::Delete => "delete",
        }
    }
}

impl fmt::Display for TriggerTiming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl fmt::Display for TriggerEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A `FOR EACH ROW` trigger. Equality compares the comparison form of the body when
/// normalization has set one ([`Trigger::canonical`]), the written body otherwise.
#[derive(Debug, Clone, Serialize)]
pub struct Trigger {
    pub name: String,
    pub table: String,
    pub timing: TriggerTiming,
    pub event: TriggerEvent,
    /// The body as written (see the module documentation for what it holds per dialect). In a
    /// portable snapshot, the body of every dialect without its own in [`Trigger::bodies`].
    pub body: String,
    /// Per-dialect bodies of a portable snapshot; empty once resolved.
    pub bodies: BTreeMap<Dialect, String>,
    /// Restricts the trigger to some dialects (None = all).
    pub dialects: Option<Vec<Dialect>>,
    /// PostgreSQL: the trigger function when it is not the one named after the trigger (as
    /// introspected; normalization clears it when it is).
    pub function: Option<String>,
    /// The body's comparison form; set by normalization.
    pub canonical: Option<String>,
}

impl Trigger {
    pub fn new(
        name: &str,
        table: &str,
        timing: TriggerTiming,
        event: TriggerEvent,
        body: &str,
    ) -> Trigger {
        Trigger {
            name: name.to_string(),
            table: table.to_string(),
            timing,
            event,
            body: body.to_string(),
            bodies: BTreeMap::new(),
            dialects: None,
            function: None,
            canonical: None,
        }
    }

    /// Whether the trigger exists on `dialect`.
    pub fn applies_to(&self, dialect: Dialect) -> bool {
        self.dialects.as_ref().is_none_or(|d| d.contains(&dialect))
    }

    /// The body `dialect` runs: its own, else the portable one.
    pub fn body_for(&self, dialect: Dialect) -> &str {
        self.bodies.get(&dialect).unwrap_or(&self.body)
    }

    /// The trigger as `dialect` holds it, or None when it does not exist there.
    pub fn resolve(&self, dialect: Dialect) -> Option<Trigger> {
        if !self.applies_to(dialect) {
            return None;
        }
        Some(Trigger {
            body: self.body_for(dialect).to_string(),
            bodies: BTreeMap::new(),
            dialects: None,
            ..self.clone()
        })
    }

    /// The text bodies are compared by.
    pub fn compared_body(&self) -> &str {
        self.canonical.as_deref().unwrap_or(&self.body)
    }

    /// The PostgreSQL function that runs the body: the live one, else the trigger's name.
    pub fn function_name(&self) -> &str {
        self.function.as_deref().unwrap_or(&self.name)
    }

    /// Whether this is the trigger `table`.`name` (PostgreSQL names triggers per table).
    pub fn is(&self, table: &str, name: &str) -> bool {
        self.table == table && self.name == name
    }
}

impl PartialEq for Trigger {
    fn eq(&self, other: &Trigger) -> bool {
        self.name == other.name
            && self.table == other.table
            && self.timing == other.timing
            && self.event == other.event
            && self.compared_body() == other.compared_body()
            && self.bodies == other.bodies
            && self.dialects == other.dialects
            && self.function == other.function
    }
}

impl Eq for Trigger {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_per_dialect() {
        let mut t = Trigger::new(
            "t_ins",
            "t",
            TriggerTiming::Before,
            TriggerEvent::Insert,
            "BEGIN END",
        );
        t.bodies
            .insert(Dialect::Postgres, "BEGIN RETURN NEW; END".into());
        t.dialects = Some(vec![Dialect::Postgres, Dialect::Mysql]);
        assert!(t.resolve(Dialect::Sqlite).is_none());
        assert_eq!(
            t.resolve(Dialect::Postgres).unwrap().body,
            "BEGIN RETURN NEW; END"
        );
        let my = t.resolve(Dialect::Mysql).unwrap();
        assert_eq!(my.body, "BEGIN END");
        assert!(my.bodies.is_empty() && my.dialects.is_none());
    }

    #[test]
    fn equality_uses_the_comparison_form() {
        let a = Trigger::new("n", "t", TriggerTiming::After, TriggerEvent::Delete, "x");
        let mut b = a.clone();
        b.body = "y".into();
        assert_ne!(a, b);
        let (mut a, mut b) = (a, b);
        a.canonical = Some("same".into());
        b.canonical = Some("same".into());
        assert_eq!(a, b);
        assert_eq!(TriggerTiming::parse("BEFORE"), Some(TriggerTiming::Before));
        assert_eq!(TriggerEvent::parse("update"), Some(TriggerEvent::Update));
        assert_eq!(TriggerEvent::parse("truncate"), None);
    }
}
