//! Identifiers with SQL special characters, keywords, unicode and 63-byte names: quoted,
//! never injected.

use super::*;

pub(super) fn cases(v: &mut Vec<Case>) {
    // --- identifiers: SQL special characters and long names are quoted, never injected -----
    let weird = format!(
        "{}[tables.images]\nprimary_key = [\"id\"]\ncolumns = [ {{ name = \"id\", type = \"string(36)\", nullable = false }} ]\n\n\
         [tables.'a\"b;DROP TABLE images;--']\nprimary_key = [\"id\"]\ncolumns = [\n  {{ name = \"id\", type = \"integer\", nullable = false }},\n  \
         {{ name = \"x'); DROP TABLE images; --\", type = \"string(10)\" }},\n  {{ name = \"`c`\", type = \"string(20)\" }},\n  {{ name = \"img\", type = \"string(36)\" }},\n]\n\
         indexes = [ {{ name = \"ix_'q\\\"`; DROP TABLE images; --\", columns = [\"`c`\"] }} ]\n\
         unique = [ {{ name = \"uq_\\\"`;--\", columns = [\"x'); DROP TABLE images; --\"] }} ]\n\
         foreign_keys = [ {{ columns = [\"img\"], ref_table = \"images\", ref_columns = [\"id\"] }} ]\n\
         checks = [ {{ name = \"ck_\\\"`;--\", expr = \"id > 0\" }} ]\n",
        header("r1", &[])
    );
    v.push(
        case(
            "weird identifiers are quoted",
            &["--revisions", "{REVS}", "db", "sync"],
        )
        .rev("r1", &weird)
        .fresh(&[], &[])
        .code(0)
        .out("Database is synced successfully.")
        .post(weird_names_created),
    );
    let long_names = format!(
        "{}[tables.{t}]\nprimary_key = [\"id\"]\ncolumns = [\n  {{ name = \"id\", type = \"integer\", nullable = false }},\n  {{ name = \"{c}\", type = \"string(10)\" }},\n]\nindexes = [ {{ name = \"{i}\", columns = [\"{c}\"] }} ]\n",
        header("r1", &[]),
        t = "t".repeat(63),
        c = "c".repeat(63),
        i = "i".repeat(63)
    );
    v.push(
        case(
            "63-byte names work",
            &["--revisions", "{REVS}", "db", "sync"],
        )
        .rev("r1", &long_names)
        .fresh(&[], &[])
        .code(0)
        .out("Database is synced successfully.")
        .post(long_names_created),
    );
    let keywords = format!(
        "{}[tables.select]\nprimary_key = [\"from\"]\ncolumns = [ {{ name = \"from\", type = \"integer\", nullable = false }}, {{ name = \"where\", type = \"text\" }} ]\nindexes = [ {{ name = \"order\", columns = [\"from\", \"where\"] }} ]\n\n\
         [tables.\"my table.x\"]\ncolumns = [ {{ name = \"a column\", type = \"integer\" }} ]\n\n\
         [tables.\"tâble_ü\"]\ncolumns = [ {{ name = \"çolonne\", type = \"string(5)\" }} ]\n\n\
         [tables.\"a`b\"]\ncolumns = [ {{ name = \"c`d\", type = \"integer\" }} ]\nindexes = [ {{ name = \"ix`e\", columns = [\"c`d\"] }} ]\n",
        header("r1", &[])
    );
    v.push(
        case(
            "keywords, spaces, unicode and backticks",
            &["--revisions", "{REVS}", "db", "sync"],
        )
        .rev("r1", &keywords)
        .fresh(&[], &[])
        .code(0)
        .out("Database is synced successfully.")
        .post(keyword_names_created),
    );
}

/// The weird table exists under its exact name, images is still there, the weird columns work,
/// and there is no drift.
fn weird_names_created(dir: &Path, url: &str) {
    let tables = sqlite_tables(url);
    assert!(tables.contains(&"images".to_string()), "{tables:?}");
    assert!(
        tables.contains(&"a\"b;DROP TABLE images;--".to_string()),
        "{tables:?}"
    );
    exec_sql(
        url,
        "INSERT INTO \"a\"\"b;DROP TABLE images;--\" (id, \"x'); DROP TABLE images; --\", \"`c`\") VALUES (1, 'v', 'w')",
    );
    let r = rows(
        url,
        "SELECT \"x'); DROP TABLE images; --\" FROM \"a\"\"b;DROP TABLE images;--\"",
    );
    assert_eq!(r, vec![vec!["v".to_string()]]);
    let idx = rows(
        url,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix%' ORDER BY name",
    );
    assert_eq!(
        idx,
        vec![vec!["ix_'q\"`; DROP TABLE images; --".to_string()]]
    );
    let d = run(
        &[
            "--database-url".into(),
            url.into(),
            "--revisions".into(),
            dir.join("revs").display().to_string(),
            "db".into(),
            "drift".into(),
        ],
        &[],
        dir,
        false,
    );
    assert_eq!(d.code, 0, "drift after weird names: {d:?}");
}

fn long_names_created(_dir: &Path, url: &str) {
    let tables = sqlite_tables(url);
    assert!(tables.contains(&"t".repeat(63)), "{tables:?}");
    let cols = rows(
        url,
        &format!("SELECT name FROM pragma_table_info('{}')", "t".repeat(63)),
    );
    assert!(cols.iter().any(|c| c[0] == "c".repeat(63)), "{cols:?}");
}

fn keyword_names_created(_dir: &Path, url: &str) {
    let tables = sqlite_tables(url);
    for t in ["select", "my table.x", "tâble_ü", "a`b"] {
        assert!(tables.contains(&t.to_string()), "{t}: {tables:?}");
    }
}
