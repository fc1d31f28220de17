//! oslo.config's INI dialect, exactly (`oslo_config/iniparser.py` + `cfg.ConfigParser`).
//!
//! Hand-written because no INI crate implements this dialect, and every difference changes
//! which database an operator's `glance-api.conf` points at:
//! - lines end at `\n`, `\r\n` or `\r` (Python's universal newlines); trailing whitespace is
//!   dropped;
//! - a line starting with a space or tab continues the previous value (joined with `\n`),
//!   *even if it looks like a comment*; with no value open it is an error;
//! - a blank line ends a continuation;
//! - `#` and `;` start a comment only in the first column;
//! - `[name]` opens a section; the name is taken verbatim (`[ database ]` is the section
//!   ` database `), and looked up lower-cased (except `DEFAULT`);
//! - `key = value` or `key: value`, whichever separator comes first; key and value trimmed; one
//!   pair of matching surrounding quotes (`"…"` or `'…'`) is removed from the value;
//! - a key given twice: the last one wins.
//!
//! Errors carry oslo's own wording and the line number.

use std::path::{Path, PathBuf};

/// One `key = value` assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The section name as written.
    pub section: String,
    pub key: String,
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
}

/// A parsed file: its assignments in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniFile {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

/// oslo's group-name normalisation: lower case, except `DEFAULT`.
pub fn normalize_group(name: &str) -> String {
    if name == "DEFAULT" {
        name.to_string()
    } else {
        name.to_lowercase()
    }
}

impl IniFile {
    /// The value oslo.config reads for `group.key` from this file: the last assignment in a
    /// section whose normalised name is `group`.
    pub fn get(&self, group: &str, key: &str) -> Option<&Entry> {
        let group = normalize_group(group);
        self.entries
            .iter()
            .rev()
            .find(|e| e.key == key && normalize_group(&e.section) == group)
    }
}

/// A syntax error, worded as oslo.config words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniError {
    pub line: usize,
    pub message: &'static str,
    /// The offending line (trailing whitespace removed).
    pub text: String,
}

/// Splits text into lines the way Python's universal-newline reader does.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\n', '\r']) {
            Some(i) => {
                let line = &rest[..i];
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
                Some(line)
            }
            None => {
                let line = rest;
                rest = "";
                Some(line)
            }
        }
    })
}

/// Removes one pair of matching surrounding quotes, as oslo does. Like oslo, a value that is a
/// single quote character becomes empty.
fn strip_quotes(value: &str) -> &str {
    let b = value.as_bytes();
    if !b.is_empty() && (b[0] == b'"' || b[0] == b'\'') && b[0] == b[b.len() - 1] {
        if b.len() == 1 {
            ""
        } else {
            &value[1..value.len() - 1]
        }
    } else {
        value
    }
}

/// Parses one file's text.
pub fn parse(path: &Path, text: &str) -> Result<IniFile, IniError> {
    struct Open {
        key: String,
        parts: Vec<String>,
        line: usize,
    }
    let mut entries = Vec::new();
    let mut section: Option<String> = None;
    let mut open: Option<Open> = None;
    let err = |line: usize, message: &'static str, text: &str| IniError {
        line,
        message,
        text: text.to_string(),
    };
    // Flushes the open assignment; oslo raises "Section must be started" at this point.
    let flush = |open: &mut Option<Open>,
                 section: &Option<String>,
                 entries: &mut Vec<Entry>|
     -> Result<(), IniError> {
        if let Some(o) = open.take() {
            let Some(s) = section else {
                return Err(IniError {
                    line: o.line,
                    message: "Section must be started before assignment",
                    text: o.key,
                });
            };
            entries.push(Entry {
                section: s.clone(),
                key: o.key,
                value: o.parts.join("\n"),
                line: o.line,
            });
        }
        Ok(())
    };
    for (i, raw) in lines(text).enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end();
        if line.is_empty() {
            flush(&mut open, &section, &mut entries)?;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match &mut open {
                Some(o) => o.parts.push(line.trim_start().to_string()),
                None => return Err(err(line_no, "Unexpected continuation line", line)),
            }
            continue;
        }
        flush(&mut open, &section, &mut entries)?;
        if line.starts_with('[') {
            if !line.ends_with(']') {
                return Err(err(line_no, "Invalid section (must end with ])", line));
            }
            if line.len() <= 2 {
                return Err(err(line_no, "Empty section name", line));
            }
            section = Some(line[1..line.len() - 1].to_string());
        } else if line.starts_with(['#', ';']) {
            // comment
        } else {
            let colon = line.find(':');
            let equal = line.find('=');
            let at = match (colon, equal) {
                (None, None) => {
                    return Err(err(line_no, "No ':' or '=' found in assignment", line));
                }
                (Some(c), Some(e)) => c.min(e),
                (Some(c), None) => c,
                (None, Some(e)) => e,
            };
            let key = line[..at].trim();
            if key.is_empty() {
                return Err(err(line_no, "Key cannot be empty", line));
            }
            let value = strip_quotes(line[at + 1..].trim());
            open = Some(Open {
                key: key.to_string(),
                parts: vec![value.to_string()],
                line: line_no,
            });
        }
    }
    flush(&mut open, &section, &mut entries)?;
    Ok(IniFile {
        path: path.to_path_buf(),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<IniFile, IniError> {
        parse(Path::new("t.conf"), text)
    }
    fn conn(text: &str) -> Option<String> {
        p(text)
            .unwrap()
            .get("database", "connection")
            .map(|e| e.value.clone())
    }

    #[test]
    fn quotes_are_stripped_once() {
        assert_eq!(
            conn("[database]\nconnection = \"mysql://a:b@h/d\"\n").as_deref(),
            Some("mysql://a:b@h/d")
        );
        assert_eq!(conn("[database]\nconnection = 'x'\n").as_deref(), Some("x"));
        assert_eq!(
            conn("[database]\nconnection = \"\"x\"\"\n").as_deref(),
            Some("\"x\"")
        );
        // Unmatched quotes stay.
        assert_eq!(
            conn("[database]\nconnection = \"x'\n").as_deref(),
            Some("\"x'")
        );
        assert_eq!(conn("[database]\nconnection = \"\n").as_deref(), Some(""));
    }

    #[test]
    fn continuation_rules() {
        // An indented `#` line continues the value; a blank line ends it.
        let f = p("[database]\nconnection = a\n  # b\n\n  \nother = c\n").unwrap();
        assert_eq!(f.get("database", "connection").unwrap().value, "a\n# b");
        assert_eq!(f.get("database", "other").unwrap().value, "c");
        // With no value open, an indented line is an error, even a comment-looking one.
        let e = p("[database]\n  # indented comment\nconnection = x\n").unwrap_err();
        assert_eq!((e.line, e.message), (2, "Unexpected continuation line"));
        // A first-column comment closes the value; an indented line after it is an error.
        let e = p("[database]\nconnection = x\n# c\n  y\n").unwrap_err();
        assert_eq!(e.line, 4);
    }

    #[test]
    fn section_names_are_not_trimmed_but_are_case_folded() {
        assert_eq!(conn("[ database ]\nconnection = x\n"), None);
        assert_eq!(conn("[DATABASE]\nconnection = x\n").as_deref(), Some("x"));
        assert_eq!(conn("[Database]\nconnection = x\n").as_deref(), Some("x"));
        // Keys are case-sensitive.
        assert_eq!(conn("[database]\nConnection = x\n"), None);
    }

    #[test]
    fn separators_and_last_wins() {
        assert_eq!(
            conn("[database]\nconnection: mysql://u:p@h:3306/d\n").as_deref(),
            Some("mysql://u:p@h:3306/d")
        );
        // `=` before `:`: split at `=`.
        assert_eq!(
            conn("[database]\nconnection=mysql://h/d\n").as_deref(),
            Some("mysql://h/d")
        );
        assert_eq!(
            conn("[database]\nconnection = a\n[other]\nx = 1\n[database]\nconnection = b\n")
                .as_deref(),
            Some("b")
        );
    }

    #[test]
    fn line_endings() {
        assert_eq!(
            conn("[database]\r\nconnection = a\r\n").as_deref(),
            Some("a")
        );
        assert_eq!(conn("[database]\rconnection = a\r").as_deref(), Some("a"));
    }

    #[test]
    fn errors_are_oslos() {
        let cases = [
            ("key = 1\n", 1, "Section must be started before assignment"),
            ("[a\n", 1, "Invalid section (must end with ])"),
            ("[database] # c\n", 1, "Invalid section (must end with ])"),
            ("[]\n", 1, "Empty section name"),
            ("[a]\nnovalue\n", 2, "No ':' or '=' found in assignment"),
            ("[a]\n = v\n", 2, "Unexpected continuation line"),
            ("[a]\n= v\n", 2, "Key cannot be empty"),
        ];
        for (text, line, message) in cases {
            let e = p(text).unwrap_err();
            assert_eq!((e.line, e.message), (line, message), "{text:?}");
        }
    }
}
