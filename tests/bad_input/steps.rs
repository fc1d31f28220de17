//! Statements that fail while applying: nothing is left half-done (on SQLite the whole
//! run is one transaction).

use super::*;

pub(super) fn cases(v: &mut Vec<Case>) {
    // The same one-table revision the graph cases in snapshots.rs build.
    let r = |name: &str, parents: &[&str]| format!("{}{TABLE_T}", header(name, parents));
    // --- statements that fail while applying: nothing half-done (SQLite: one transaction) ---
    let bad_check = format!(
        "{}{TABLE_T}checks = [ {{ expr = \"id >>> 0\" }} ]\n",
        header("r1", &[])
    );
    v.push(
        case(
            "invalid check expression",
            &["--revisions", "{REVS}", "db", "sync"],
        )
        .rev("r1", &bad_check)
        .fresh(&[], &[])
        .err("statement failed")
        .post(no_tables),
    );
    let bad_default = format!(
        "{}[tables.t]\ncolumns = [ {{ name = \"at\", type = \"datetime\", default = {{ expr = \"NO_SUCH_FUNCTION(\" }} }} ]\n",
        header("r1", &[])
    );
    v.push(
        case(
            "invalid default expression",
            &["--revisions", "{REVS}", "db", "sync"],
        )
        .rev("r1", &bad_default)
        .fresh(&[], &[])
        .err("statement failed")
        .post(no_tables),
    );
    let r2_bad_data = format!(
        "[revision]\nname = \"r2\"\nparents = [\"r1\"]\n\n[[data_migrations]]\nname = \"boom\"\nphase = \"expand\"\nsql = [\"UPDATE t SET v = 'x'\", \"UPDATE no_such_table SET x = 1\"]\n\n{}",
        TABLE_T.replacen(
            "  { name = \"v\", type = \"string(10)\" },\n",
            "  { name = \"v\", type = \"string(10)\" },\n  { name = \"w\", type = \"integer\" },\n",
            1
        )
    );
    v.push(
        case(
            "failing data migration rolls back",
            &["--revisions", "{REVS}", "db", "sync"],
        )
        .rev("r1", &r("r1", &[]))
        .rev("r2", &r2_bad_data)
        .fresh(&[&["--revisions", "{REVS}", "db", "upgrade", "r1"]], &[])
        .err("statement failed"),
    );
}

fn no_tables(_dir: &Path, url: &str) {
    let t: Vec<String> = sqlite_tables(url)
        .into_iter()
        .filter(|t| t != "alembic_version")
        .collect();
    assert!(t.is_empty(), "{t:?}");
}
