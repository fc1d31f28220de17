//! Error types. Every failure that reaches the user is a miette diagnostic that says what went
//! wrong and what to do; snapshot errors point at the file and line.

use std::ops::Range;
use std::path::Path;

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

/// A problem in a snapshot or revision file, with the place it was found.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
pub struct SnapshotError {
    pub message: String,
    #[source_code]
    pub src: Option<NamedSource<String>>,
    #[label("here")]
    pub span: Option<SourceSpan>,
    #[help]
    pub help: Option<String>,
    /// The file, for callers that report many errors.
    pub path: String,
}

impl SnapshotError {
    pub fn at(
        path: &str,
        text: &str,
        span: Range<usize>,
        message: String,
        help: Option<String>,
    ) -> SnapshotError {
        let span = clamp(span, text.len());
        SnapshotError {
            message: format!("{path}: {message}"),
            src: Some(NamedSource::new(path, text.to_string()).with_language("toml")),
            span: Some(span.into()),
            help,
            path: path.to_string(),
        }
    }

    pub fn io(path: &Path, e: &std::io::Error) -> SnapshotError {
        SnapshotError {
            message: format!("cannot read {}: {e}", path.display()),
            src: None,
            span: None,
            help: None,
            path: path.display().to_string(),
        }
    }

    pub fn plain(path: &str, message: String, help: Option<String>) -> SnapshotError {
        SnapshotError {
            message,
            src: None,
            span: None,
            help,
            path: path.to_string(),
        }
    }
}

/// The 1-based line of a byte offset, for messages that name a place in another file.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn clamp(span: Range<usize>, len: usize) -> Range<usize> {
    let start = span.start.min(len);
    let end = span.end.clamp(start, len);
    start..end
}

/// The file being parsed: every error made through it points into that file.
pub(super) struct Ctx<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

impl Ctx<'_> {
    pub fn err(&self, span: Range<usize>, msg: impl Into<String>) -> SnapshotError {
        SnapshotError::at(self.path, self.text, span, msg.into(), None)
    }
    pub fn err_help(
        &self,
        span: Range<usize>,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) -> SnapshotError {
        SnapshotError::at(self.path, self.text, span, msg.into(), Some(help.into()))
    }
}
