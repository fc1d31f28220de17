//! The layering of `src/`: which top-level module uses which. The pipeline only works one way
//! if no module needs one that (directly or not) needs it back, so this test fails on any import
//! circle between the top-level modules and prints the cycle.
//!
//! "Uses" means the module's files mention `crate::<other>` (in a `use`, a path or a doc link
//! does not count: only code lines are read). Re-exports in `lib.rs` (`pub use a::b;`) are
//! followed, so an old path such as `crate::model` counts as the module that defines it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file under `src/` belongs to (`src/engine/runner.rs` → `engine`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// Code lines only: comments and doc comments dropped.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `crate::name` paths mentioned in `text`, plus names in `use crate::{a, b::c}` groups.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name = ident(after);
            if !name.is_empty() {
                out.insert(name);
            }
        }
        rest = after;
    }
    out
}

/// `pub use a::b;` and `pub use a::b as c;` in lib.rs: the alias `b`/`c` stands for `a`.
fn aliases(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in code(lib).lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim_end_matches(';');
        let (path, alias) = match rest.split_once(" as ") {
            Some((p, a)) => (p.trim(), Some(a.trim())),
            None => (rest.trim(), None),
        };
        let parts: Vec<&str> = path.split("::").collect();
        if parts.len() >= 2 {
            let alias = alias.unwrap_or(parts[parts.len() - 1]);
            out.insert(alias.to_string(), parts[0].to_string());
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let alias = aliases(&lib);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(m) = module_of(&src, f) else {
            continue;
        };
        let text = std::fs::read_to_string(f).expect("read");
        let entry = deps.entry(m.clone()).or_default();
        for r in crate_refs(&code(&text)) {
            let target = alias.get(&r).cloned().unwrap_or(r);
            if target != m && modules.contains(&target) {
                entry.insert(target);
            }
        }
    }
    deps
}

/// A cycle through `start`, if any (depth-first search).
fn cycle_from(
    deps: &BTreeMap<String, BTreeSet<String>>,
    start: &str,
    node: &str,
    path: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    for next in deps.get(node).into_iter().flatten() {
        if next == start {
            let mut c = path.clone();
            c.push(start.to_string());
            return Some(c);
        }
        if seen.insert(next.clone()) {
            path.push(next.clone());
            if let Some(c) = cycle_from(deps, start, next, path, seen) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn no_import_circles_between_top_level_modules() {
    let deps = graph();
    let mut cycles = Vec::new();
    for m in deps.keys() {
        let mut path = vec![m.clone()];
        if let Some(c) = cycle_from(&deps, m, m, &mut path, &mut BTreeSet::new()) {
            cycles.push(c.join(" -> "));
        }
    }
    let table: Vec<String> = deps
        .iter()
        .map(|(m, d)| {
            format!(
                "  {m} -> {}",
                d.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    // `cargo test --test architecture -- --nocapture` shows the layering.
    println!("module graph:\n{}", table.join("\n"));
    assert!(
        cycles.is_empty(),
        "import circles:\n  {}\nmodule graph:\n{}",
        cycles.join("\n  "),
        table.join("\n")
    );
}

/// For each module that is a directory (`src/engine/`), which of its files (other than
/// `mod.rs`, which declares them) use which siblings, through `super::x` or `crate::dir::x`.
fn sibling_graphs() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(&src).expect("read src") {
        let dir = e.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        let dname = dir.file_name().unwrap().to_string_lossy().to_string();
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        let names: BTreeSet<String> = files
            .iter()
            .filter(|f| f.parent() == Some(dir.as_path()))
            .map(|f| f.file_stem().unwrap().to_string_lossy().to_string())
            .filter(|n| n != "mod")
            .collect();
        let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            // A file in a deeper folder counts as its top folder under `dir`.
            let rel = f.strip_prefix(&dir).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let me = first.trim_end_matches(".rs").to_string();
            if me == "mod" {
                continue;
            }
            let text = code(&std::fs::read_to_string(f).expect("read"));
            let entry = deps.entry(me.clone()).or_default();
            let prefixes = ["super::".to_string(), format!("crate::{dname}::")];
            for prefix in &prefixes {
                let mut rest = text.as_str();
                while let Some(i) = rest.find(prefix.as_str()) {
                    let after = &rest[i + prefix.len()..];
                    let mut used: Vec<String> = Vec::new();
                    if let Some(group) = after.strip_prefix('{') {
                        let end = group.find('}').unwrap_or(group.len());
                        used.extend(group[..end].split(',').map(|p| {
                            p.trim()
                                .chars()
                                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                                .collect()
                        }));
                    } else {
                        used.push(
                            after
                                .chars()
                                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                                .collect(),
                        );
                    }
                    for u in used {
                        if names.contains(&u) && u != me {
                            entry.insert(u);
                        }
                    }
                    rest = after;
                }
            }
        }
        out.insert(dname, deps);
    }
    out
}

#[test]
fn no_import_circles_between_files_of_a_module() {
    let mut cycles = Vec::new();
    for (dir, deps) in sibling_graphs() {
        for m in deps.keys() {
            let mut path = vec![m.clone()];
            if let Some(c) = cycle_from(&deps, m, m, &mut path, &mut BTreeSet::new()) {
                cycles.push(format!("{dir}: {}", c.join(" -> ")));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import circles:\n  {}",
        cycles.join("\n  ")
    );
}

#[test]
fn the_reader_sees_crate_paths() {
    let refs = crate_refs("use crate::{model::Dialect, sql};\nlet x = crate::engine::read();");
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        vec!["engine", "model", "sql"]
    );
    let a = aliases("pub use schema::model;\npub use exec::connection as db;\n");
    assert_eq!(a["model"], "schema");
    assert_eq!(a["db"], "exec");
}
