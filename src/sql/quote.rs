//! Identifiers and string literals as SQL text. Every name and value that reaches a statement
//! goes through here (or is bound as a parameter), so a name such as `ix"; DROP TABLE images; --`
//! can never end its identifier early.

use crate::schema::model::Dialect;

/// Quotes an identifier for the dialect (quote characters inside the name are doubled).
pub fn quote(dialect: Dialect, ident: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("`{}`", ident.replace('`', "``")),
        _ => format!("\"{}\"", ident.replace('"', "\"\"")),
    }
}

/// A string literal for the dialect.
pub fn literal(dialect: Dialect, s: &str) -> String {
    match dialect {
        // MySQL treats backslash as an escape unless NO_BACKSLASH_ESCAPES is set.
        Dialect::Mysql => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
        _ => format!("'{}'", s.replace('\'', "''")),
    }
}

/// A comma-separated list of quoted identifiers.
pub fn quote_list(dialect: Dialect, idents: &[String]) -> String {
    idents
        .iter()
        .map(|c| quote(dialect, c))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_quote_characters() {
        assert_eq!(quote(Dialect::Postgres, "o\"brien"), "\"o\"\"brien\"");
        assert_eq!(quote(Dialect::Mysql, "a`b"), "`a``b`");
        assert_eq!(literal(Dialect::Mysql, "it's \\"), "'it''s \\\\'");
        assert_eq!(literal(Dialect::Sqlite, "it's"), "'it''s'");
    }
}
