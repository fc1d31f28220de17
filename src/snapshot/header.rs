//! A revision file's head read on its own: its `[revision]` section (what the revision graph
//! needs: names, parents, dependencies, branches) and its `[[data_migrations]]` (what the
//! planning of data steps needs). Reading a whole snapshot is most of a command's own CPU time
//! (Glance's schema is ~20 KB of TOML per revision) and most commands need one schema or none.
//!
//! This is a shortcut, not a second parser: the head's lines are cut out of the file and
//! checked by the same code as in a full parse ([`super::parse`]). Whenever the cut cannot
//! vouch for its result the answer is `None` and the caller parses the whole file, whose
//! diagnostics are the ones users see.

use std::ops::Range;

use super::error::Ctx;
use super::parse::{parse_data_migrations, parse_meta};
use super::raw::RawHead;
use super::{FileKind, Locations, RevisionHead};

/// The head of a revision file, with its spans in `text`, or `None` when only a full parse can
/// tell: the file does not start (after comments) with a `[revision]` line followed by its
/// `[[data_migrations]]`, as `revision new` writes it; a `[revision…` or `[[data_migrations…`
/// header comes later; or the head has a TOML or metadata error. Otherwise the result equals
/// [`Snapshot::head`](super::Snapshot::head) of the full parse (a unit test checks that for
/// every built-in revision, the files this shortcut serves; a schema error is only found by
/// the full parse).
pub fn parse_head(path: &str, text: &str) -> Option<RevisionHead> {
    let section = head_section(text)?;
    let slice = &text[section.clone()];
    let raw: RawHead = toml::from_str(slice).ok()?;
    let cx = Ctx { path, text: slice };
    let (meta, name_span, parent_spans, depends_spans, built_on_span) =
        parse_meta(&cx, raw.revision, FileKind::Revision).ok()?;
    let data_migrations =
        parse_data_migrations(&cx, raw.data_migrations, &mut Locations::new()).ok()?;
    let at = |r: Range<usize>| r.start + section.start..r.end + section.start;
    Some(RevisionHead {
        meta,
        path: path.to_string(),
        name_span: at(name_span),
        parent_spans: parent_spans.into_iter().map(at).collect(),
        depends_spans: depends_spans.into_iter().map(at).collect(),
        built_on_span: built_on_span.map(at),
        data_migrations,
    })
}

/// From the `[revision]` line (only comments and blank lines before it) through the
/// `[[data_migrations]]` sections after it, to the next table header or the end.
fn head_section(text: &str) -> Option<Range<usize>> {
    let mut start = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        match start {
            None if t == "[revision]" => start = Some(offset),
            None if !(t.is_empty() || t.starts_with('#')) => return None,
            Some(s) if t.starts_with('[') && t != "[[data_migrations]]" => {
                // Nothing after the head may add to it (`[revision.built_on]`, a data
                // migration after the tables, a second `[revision]`).
                let rest = &text[offset..];
                if rest.contains("[revision") || rest.contains("[data_migrations") {
                    return None;
                }
                return Some(s..offset);
            }
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
    fn the_head_holds_the_data_migrations_and_may_be_the_whole_file() {
        let data = "[[data_migrations]]\nname = \"d1\"\nphase = \"migrate\"\nsql = [\n  \"UPDATE t SET id = 1\",\n]\n\n\
                    [[data_migrations]]\nname = \"d2\"\nphase = \"expand\"\nsqlite = [\"SELECT 1\"]\n\
                    postgresql = [\"SELECT 2\"]\nmysql = [\"SELECT 3\"]\ntodo = \"write it\"\n";
        let text = format!("[revision]\nname = \"r2\"\nparents = [\"r1\"]\n\n{data}\n{TABLE}");
        let head = parse_head("revisions/r2.toml", &text).expect("quick read");
        assert_eq!(head.data_migrations.len(), 2);
        assert_eq!(head, full(&text));
        let only = "[revision]\nname = \"r2\"\nparents = [\"r1\"]\n";
        assert_eq!(
            parse_head("revisions/r2.toml", only).map(|h| h.meta.name),
            Some("r2".into())
        );
    }

    #[test]
    fn anything_the_quick_read_cannot_vouch_for_is_left_to_the_full_parse() {
        let dm = "[[data_migrations]]\nname = \"d\"\nphase = \"migrate\"\nsql = [\"SELECT 1\"]\n";
        for text in [
            // No section, not on a line of its own, or not first.
            TABLE.to_string(),
            format!("[revision] # r2\nname = \"r2\"\n{TABLE}"),
            format!("{TABLE}[revision]\nname = \"r2\"\n"),
            format!("data_migrations = []\n[revision]\nname = \"r2\"\n{TABLE}"),
            // Later headers that add to the head.
            format!("[revision]\nname = \"r2\"\n{TABLE}[revision.built_on]\nr1 = \"x\"\n"),
            format!("[revision]\nname = \"r2\"\n{TABLE}{dm}"),
            format!("[revision]\nname = \"r2\"\n[revision]\nname = \"r3\"\n{TABLE}"),
            // A data migration the full parse refuses.
            format!(
                "[revision]\nname = \"r2\"\n{}\n{TABLE}",
                dm.replace("migrate", "later")
            ),
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
