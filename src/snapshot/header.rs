//! A revision file's `[revision]` section read on its own: the revision graph (names, parents,
//! dependencies, branches) needs nothing else, and reading a whole snapshot is most of a
//! command's own CPU time (Glance's schema is ~20 KB of TOML per revision).
//!
//! This is a shortcut, not a second parser: the section's lines are cut out of the file and
//! checked by the same code as in a full parse ([`super::parse`]). Whenever the cut cannot
//! vouch for its result (no `[revision]` line, a TOML or metadata error) the answer is `None`
//! and the caller parses the whole file, whose diagnostics are the ones users see.

use std::ops::Range;

use super::error::Ctx;
use super::parse::parse_meta;
use super::raw::RawHead;
use super::{FileKind, RevisionHead};

/// The `[revision]` section of a revision file, with its spans in `text`, or `None` when only
/// a full parse can tell (see the module docs). For a valid file written as `revision new`
/// writes them (the section from its `[revision]` line to the next table header) the result
/// equals [`Snapshot::head`](super::Snapshot::head) of the full parse; a unit test checks
/// that for every built-in revision, the files this shortcut serves.
pub fn parse_head(path: &str, text: &str) -> Option<RevisionHead> {
    let section = revision_section(text)?;
    let slice = &text[section.clone()];
    let raw: RawHead = toml::from_str(slice).ok()?;
    let cx = Ctx { path, text: slice };
    let (meta, name_span, parent_spans, depends_spans, built_on_span) =
        parse_meta(&cx, raw.revision, FileKind::Revision).ok()?;
    let at = |r: Range<usize>| r.start + section.start..r.end + section.start;
    Some(RevisionHead {
        meta,
        path: path.to_string(),
        name_span: at(name_span),
        parent_spans: parent_spans.into_iter().map(at).collect(),
        depends_spans: depends_spans.into_iter().map(at).collect(),
        built_on_span: built_on_span.map(at),
    })
}

/// From the `[revision]` line to the next line that opens a table (`[` first), or the end.
fn revision_section(text: &str) -> Option<Range<usize>> {
    let mut start = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        match start {
            None if trimmed == "[revision]" => start = Some(offset),
            Some(s) if trimmed.starts_with('[') => return Some(s..offset),
            _ => {}
        }
        offset += line.len();
    }
    start.map(|s| s..text.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::parse_str;

    const TABLE: &str = "[tables.t]\ncolumns = [{ name = \"id\", type = \"integer\" }]\n";

    fn full(text: &str) -> RevisionHead {
        parse_str("revisions/r2.toml", text, FileKind::Revision)
            .expect("valid")
            .head()
    }

    #[test]
    fn the_section_alone_gives_the_full_parse_head() {
        let text = format!(
            "# r2\n[revision]\nname = \"r2\"\nparents = [\n  \"r1\",\n]\ndepends_on = [\"r0\"]\n\
             branch = \"contract\"\ndescription = \"\"\"two\nlines\"\"\"\n\
             built_on = {{ r1 = \"sha256:00\", r0 = \"sha256:01\" }}\n\n{TABLE}"
        );
        let head = parse_head("revisions/r2.toml", &text).expect("quick read");
        assert_eq!(head, full(&text));
        assert_eq!(&text[head.name_span.clone()], "\"r2\"");
        assert_eq!(&text[head.parent_spans[0].clone()], "\"r1\"");
    }

    #[test]
    fn the_section_may_end_the_file_or_follow_the_schema() {
        let last = format!("{TABLE}\n[revision]\nname = \"r2\"\nparents = [\"r1\"]\n");
        assert_eq!(parse_head("revisions/r2.toml", &last), Some(full(&last)));
    }

    #[test]
    fn anything_the_quick_read_cannot_vouch_for_is_left_to_the_full_parse() {
        for text in [
            // No section, or not on a line of its own.
            TABLE.to_string(),
            format!("[revision] # r2\nname = \"r2\"\n{TABLE}"),
            // What the full parse reports with its line: metadata and TOML errors.
            format!("[revision]\nname = \"r 2\"\n{TABLE}"),
            format!("[revision]\nname = \"r2\"\nbranch = \"sideways\"\n{TABLE}"),
            format!("[revision]\nname = \"r2\"\nparents = [\"r1\", \"r1\"]\n{TABLE}"),
            format!("[revision]\nname = \"r2\"\nparent = [\"r1\"]\n{TABLE}"),
            format!("[revision]\nname = \"r2\"\nparents = [\"r1\"\n{TABLE}"),
            // A multi-line string holding a `[` line: the cut lands inside it.
            format!("[revision]\nname = \"r2\"\ndescription = \"\"\"a\n[b]\n\"\"\"\n{TABLE}"),
        ] {
            assert_eq!(parse_head("revisions/r2.toml", &text), None, "{text}");
        }
    }
}
