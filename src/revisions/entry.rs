//! The revisions of a set as the set holds them: each one's head (the `[revision]` section and
//! the data migrations), always, and its whole snapshot (schema, object locations) once
//! something needs it.
//!
//! Reading Glance's 29 snapshots was ~92 % of a command's own CPU time, while most commands
//! need the graph and one or two schemas: `db version` none, `db sync` on a fresh database and
//! `db plan` at head the head's. So the built-in revisions, compiled into the binary, are read
//! lazily: their heads when the set is loaded ([`snapshot::parse_head`]), a snapshot on first
//! use. Every check of a full parse still holds for them: a unit test parses every built-in
//! file in full, the very bytes the binary embeds
//! (`tests::every_builtin_file_parses_and_its_head_is_the_quick_read`). A directory given on
//! the command line is read in full at load, as before: its broken files are reported by
//! every command.

use std::sync::OnceLock;

use crate::snapshot::{self, FileKind, RevisionHead, Snapshot, SnapshotError};

/// One revision of a set.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) head: RevisionHead,
    /// The text the snapshot is read from on first use (empty when it was read at load).
    lazy_text: &'static str,
    body: OnceLock<Snapshot>,
}

impl Entry {
    /// A revision read in full.
    pub(super) fn parsed(snapshot: Snapshot) -> Entry {
        Entry {
            head: snapshot.head(),
            lazy_text: "",
            body: OnceLock::from(snapshot),
        }
    }

    /// A revision whose snapshot is read from `text` on first use.
    pub(super) fn lazy(head: RevisionHead, text: &'static str) -> Entry {
        Entry {
            head,
            lazy_text: text,
            body: OnceLock::new(),
        }
    }

    /// The whole snapshot, read now if it was not yet.
    pub(super) fn snapshot(&self) -> &Snapshot {
        self.body.get_or_init(|| {
            snapshot::parse_str(&self.head.path, self.lazy_text, FileKind::Revision).unwrap_or_else(
                |e| {
                    // Only built-in files are read lazily, and a unit test parses each of them.
                    panic!(
                        "built-in revision {} does not parse (`cargo test --lib revisions` \
                         shows it): {e}",
                        self.head.path
                    )
                },
            )
        })
    }

    /// The file's text, for diagnostics.
    pub(super) fn text(&self) -> &str {
        self.body
            .get()
            .map_or(self.lazy_text, |s| s.source.text.as_str())
    }

    pub(super) fn is_read(&self) -> bool {
        self.body.get().is_some()
    }
}

/// Parses whole revision files, in file order.
pub(super) fn parse_all(files: &[(String, String)]) -> Vec<Result<Snapshot, SnapshotError>> {
    on_cores(files, |(path, text)| {
        snapshot::parse_str(path, text, FileKind::Revision)
    })
}

/// Reads every snapshot not read yet (a command that needs them all).
pub(super) fn read_all(entries: &[Entry]) {
    let unread: Vec<&Entry> = entries.iter().filter(|e| !e.is_read()).collect();
    on_cores(&unread, |e| {
        e.snapshot();
    });
}

/// `f` on every item, the items split across the machine's cores (up to 4): parsing is
/// nearly all of the work, so a command waits on the slowest share, not on the sum.
fn on_cores<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || items.len() < 4 {
        return items.iter().map(f).collect();
    }
    let share = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(share)
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(done) => done,
                // A parser panic is a bug; re-raise it on the calling thread as it would have been.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::revisions::load::unfinished;
    use crate::revisions::{BUILTIN, RevisionSet};

    fn builtin_files() -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = BUILTIN
            .files()
            .filter(|f| f.path().extension().is_some_and(|e| e == "toml"))
            .map(|f| {
                let text = std::str::from_utf8(f.contents()).expect("UTF-8");
                (format!("revisions/{}", f.path().display()), text.into())
            })
            .collect();
        files.sort();
        files
    }

    /// What makes reading the built-in revisions lazily safe: each parses in full without a
    /// diagnostic, and the quick read of its `[revision]` section is what the full parse says.
    #[test]
    fn every_builtin_file_parses_and_its_head_is_the_quick_read() {
        let files = builtin_files();
        assert_eq!(files.len(), 29);
        for (path, text) in &files {
            let full = snapshot::parse_str(path, text, FileKind::Revision)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(
                unfinished(&full).is_empty(),
                "{path}: unwritten data migration"
            );
            assert_eq!(
                snapshot::parse_head(path, text).as_ref(),
                Some(&full.head()),
                "{path}"
            );
        }
    }

    #[test]
    fn the_lazy_builtin_set_equals_the_set_read_in_full() {
        let lazy = RevisionSet::builtin().expect("built-in");
        let full = RevisionSet::from_sources("full", builtin_files()).expect("read in full");
        assert!(lazy.revisions.iter().all(|e| !e.lazy_text.is_empty()));
        assert!(full.revisions.iter().all(|e| e.lazy_text.is_empty()));
        let names = |s: &RevisionSet| s.names().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(names(&lazy), names(&full));
        assert_eq!(lazy.walk_order(), full.walk_order());
        assert_eq!(lazy.heads(), full.heads());
        assert_eq!(lazy.forks(), full.forks());
        for name in names(&full) {
            assert_eq!(lazy.meta(&name), full.meta(&name));
            assert_eq!(lazy.data_migrations(&name), full.data_migrations(&name));
            assert_eq!(lazy.children(&name), full.children(&name));
            assert_eq!(lazy.dependents(&name), full.dependents(&name));
            let (a, b) = (lazy.get(&name).unwrap(), full.get(&name).unwrap());
            assert_eq!(a.meta, b.meta, "{name}");
            assert_eq!(a.schema, b.schema, "{name}");
            assert_eq!(a.data_migrations, b.data_migrations, "{name}");
            assert_eq!(a.head(), b.head(), "{name}");
            assert_eq!(a.source.text, b.source.text, "{name}");
            assert_eq!(a.source.locations, b.source.locations, "{name}");
        }
    }

    /// Loading reads no schema; a command reads the snapshots it asks for, and no others.
    #[test]
    fn the_builtin_set_reads_a_snapshot_on_first_use() {
        let set = RevisionSet::builtin().expect("built-in");
        let read = |s: &RevisionSet| s.revisions.iter().filter(|e| e.is_read()).count();
        assert_eq!(read(&set), 0);
        // The graph answers from the `[revision]` sections.
        let all: BTreeSet<String> = set.names().map(str::to_string).collect();
        let heads = set.heads_of(&all);
        assert_eq!(heads, ["2024_1_contract01"]);
        assert!(set.meta("ocata_expand01").is_some());
        // So do the data migrations (`db plan`, `db check`: the steps still owed).
        let dm = set.data_migrations("ocata_expand01").expect("known");
        assert_eq!(dm[0].name, "ocata_migrate01_community_images");
        assert_eq!(read(&set), 0);
        // The schema at head (a fresh `db sync`'s target) is the head's snapshot alone.
        let head = set.expected_portable(&all);
        assert_eq!(read(&set), 1);
        assert_eq!(head, set.get("2024_1_contract01").unwrap().schema);
        set.read_all();
        assert_eq!(read(&set), 29);
    }

    #[test]
    #[should_panic(expected = "built-in revision revisions/r1.toml does not parse")]
    fn a_lazy_snapshot_that_does_not_parse_is_a_bug_not_a_silent_gap() {
        let text = "[revision]\nname = \"r1\"\n\n[tables.t]\ncolumns = []\n";
        let head = snapshot::parse_head("revisions/r1.toml", text).expect("the section is fine");
        Entry::lazy(head, text).snapshot();
    }
}
