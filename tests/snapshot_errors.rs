//! Every malformed snapshot gives a diagnostic naming the file, the line and the problem.

mod common;

use glance_manage::snapshot::{FileKind, parse_str};

/// Parses `body` under a valid [revision] header and returns the rendered diagnostic.
fn error_of(body: &str) -> String {
    let text = format!("[revision]\nname = \"r1\"\nparents = []\n\n{body}");
    match parse_str("revisions/r1.toml", &text, FileKind::Revision) {
        Ok(_) => panic!("expected an error for:\n{body}"),
        Err(e) => common::render_diagnostic(&e),
    }
}

/// The 1-based line the diagnostic's label points at (miette prints `file:LINE:COL`).
fn line_of(rendered: &str) -> usize {
    let at = rendered
        .find("[revisions/r1.toml:")
        .expect("location in output");
    rendered[at + "[revisions/r1.toml:".len()..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

const GOOD_TABLE: &str = "[tables.t]\nprimary_key = [\"id\"]\ncolumns = [\n  { name = \"id\", type = \"integer\", nullable = false },\n  { name = \"v\", type = \"string(10)\" },\n]\n";

#[test]
fn a_valid_snapshot_parses() {
    let text = format!("[revision]\nname = \"r1\"\nparents = []\n\n{GOOD_TABLE}");
    let s = parse_str("r1.toml", &text, FileKind::Revision).unwrap();
    assert_eq!(s.schema.tables["t"].columns.len(), 2);
}

#[test]
fn bad_toml_syntax() {
    let e = error_of("[tables.t\ncolumns = []\n");
    assert!(e.contains("invalid snapshot TOML"), "{e}");
    assert_eq!(line_of(&e), 5);
}

#[test]
fn truncated_file() {
    let e = error_of("[tables.t]\ncolumns = [\n  { name = \"id\", type = \"integer\" ");
    assert!(e.contains("invalid snapshot TOML"), "{e}");
}

#[test]
fn unknown_key_is_named_with_help() {
    let e = error_of(
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"integer\", nulable = false } ]\n",
    );
    assert!(e.contains("unknown field `nulable`"), "{e}");
    assert!(e.contains("docs/snapshot-format.md"), "{e}");
    assert_eq!(line_of(&e), 6);
}

#[test]
fn unknown_type() {
    let e = error_of("[tables.t]\ncolumns = [\n  { name = \"id\", type = \"integr\" },\n]\n");
    assert!(e.contains("unknown type `integr`"), "{e}");
    assert_eq!(line_of(&e), 7);
}

#[test]
fn duplicate_column() {
    let e = error_of(
        "[tables.t]\ncolumns = [\n  { name = \"id\", type = \"integer\" },\n  { name = \"id\", type = \"text\" },\n]\n",
    );
    assert!(e.contains("duplicate column `id` in table `t`"), "{e}");
    assert_eq!(line_of(&e), 8);
}

#[test]
fn index_on_missing_column() {
    let e = error_of(&format!(
        "{GOOD_TABLE}indexes = [ {{ name = \"ix\", columns = [\"nope\"] }} ]\n"
    ));
    assert!(
        e.contains("index on `t` names unknown column `nope`"),
        "{e}"
    );
    assert!(e.contains("columns of `t`: id, v"), "{e}");
}

#[test]
fn fk_to_missing_table() {
    let e = error_of(&format!(
        "{GOOD_TABLE}foreign_keys = [ {{ columns = [\"id\"], ref_table = \"ghost\", ref_columns = [\"id\"] }} ]\n"
    ));
    assert!(e.contains("references unknown table `ghost`"), "{e}");
}

#[test]
fn fk_to_missing_column() {
    let e = error_of(&format!(
        "{GOOD_TABLE}foreign_keys = [ {{ columns = [\"id\"], ref_table = \"t\", ref_columns = [\"nope\"] }} ]\n"
    ));
    assert!(e.contains("references unknown column `t.nope`"), "{e}");
}

#[test]
fn fk_type_mismatch() {
    let e = error_of(&format!(
        "{GOOD_TABLE}[tables.c]\ncolumns = [ {{ name = \"tid\", type = \"string(36)\" }} ]\nforeign_keys = [ {{ columns = [\"tid\"], ref_table = \"t\", ref_columns = [\"id\"] }} ]\n"
    ));
    assert!(
        e.contains("foreign key type mismatch: `c.tid` is string(36) but `t.id` is integer"),
        "{e}"
    );
}

#[test]
fn fk_to_a_column_that_is_not_a_key() {
    let e = error_of(&format!(
        "{GOOD_TABLE}[tables.c]\ncolumns = [ {{ name = \"tv\", type = \"string(10)\" }} ]\nforeign_keys = [ {{ columns = [\"tv\"], ref_table = \"t\", ref_columns = [\"v\"] }} ]\n"
    ));
    assert!(e.contains("which is not a primary key or unique"), "{e}");
}

#[test]
fn pk_on_explicitly_nullable_column() {
    let e = error_of(
        "[tables.t]\nprimary_key = [\"id\"]\ncolumns = [ { name = \"id\", type = \"integer\", nullable = true } ]\n",
    );
    assert!(
        e.contains("primary key column `id` of `t` is declared nullable"),
        "{e}"
    );
}

#[test]
fn pk_column_without_nullable_is_not_null() {
    let text = "[revision]\nname = \"r1\"\nparents = []\n[tables.t]\nprimary_key = [\"id\"]\ncolumns = [ { name = \"id\", type = \"integer\" } ]\n";
    let s = parse_str("r1.toml", text, FileKind::Revision).unwrap();
    assert!(!s.schema.tables["t"].columns[0].nullable);
}

#[test]
fn undeclared_enum() {
    let e = error_of("[tables.t]\ncolumns = [ { name = \"v\", type = \"enum(vis)\" } ]\n");
    assert!(e.contains("enum type `vis` is not declared"), "{e}");
}

#[test]
fn default_not_in_enum() {
    let e = error_of(
        "[enums]\nvis = [\"a\", \"b\"]\n[tables.t]\ncolumns = [ { name = \"v\", type = \"enum(vis)\", default = \"c\" } ]\n",
    );
    assert!(
        e.contains("default `c` is not one of the enum's values"),
        "{e}"
    );
}

#[test]
fn default_of_the_wrong_type() {
    let e = error_of(
        "[tables.t]\ncolumns = [ { name = \"v\", type = \"integer\", default = true } ]\n",
    );
    assert!(
        e.contains("default true does not fit a column of type integer"),
        "{e}"
    );
}

#[test]
fn autoincrement_on_text() {
    let e = error_of(
        "[tables.t]\nprimary_key = [\"v\"]\ncolumns = [ { name = \"v\", type = \"text\", autoincrement = true } ]\n",
    );
    assert!(e.contains("must be an integer type"), "{e}");
}

#[test]
fn duplicate_index_name_across_tables() {
    let e = error_of(&format!(
        "{GOOD_TABLE}indexes = [ {{ name = \"ix\", columns = [\"v\"] }} ]\n[tables.u]\ncolumns = [ {{ name = \"w\", type = \"text\" }} ]\nindexes = [ {{ name = \"ix\", columns = [\"w\"] }} ]\n"
    ));
    assert!(
        e.contains("index or constraint name `ix` is used twice"),
        "{e}"
    );
}

#[test]
fn too_long_identifier() {
    let long = "x".repeat(70);
    let e = error_of(&format!(
        "[tables.t]\ncolumns = [ {{ name = \"{long}\", type = \"text\" }} ]\n"
    ));
    assert!(e.contains("is 70 bytes long"), "{e}");
}

#[test]
fn unknown_branch() {
    let text = "[revision]\nname = \"r1\"\nparents = []\nbranch = \"sideways\"\n[tables.t]\ncolumns = [ { name = \"v\", type = \"text\" } ]\n";
    let e = common::render_diagnostic(
        &parse_str("revisions/r1.toml", text, FileKind::Revision).unwrap_err(),
    );
    assert!(e.contains("unknown branch `sideways`"), "{e}");
}

#[test]
fn missing_revision_section() {
    let e = parse_str("revisions/r1.toml", GOOD_TABLE, FileKind::Revision).unwrap_err();
    assert!(e.to_string().contains("no [revision] section"), "{e}");
}

#[test]
fn working_schema_must_not_carry_revision_metadata() {
    let text = format!("[revision]\nname = \"r1\"\nparents = []\n{GOOD_TABLE}");
    let e = parse_str("schema/glance.toml", &text, FileKind::WorkingSchema).unwrap_err();
    assert!(
        e.to_string().contains("must not have a [revision] section"),
        "{e}"
    );
}

#[test]
fn data_migration_without_sql() {
    let e = error_of(&format!(
        "[[data_migrations]]\nname = \"d\"\nphase = \"migrate\"\n{GOOD_TABLE}"
    ));
    assert!(e.contains("data migration `d` has no SQL"), "{e}");
}

#[test]
fn data_migration_with_unknown_phase() {
    let e = error_of(&format!(
        "[[data_migrations]]\nname = \"d\"\nphase = \"later\"\nsql = [\"SELECT 1\"]\n{GOOD_TABLE}"
    ));
    assert!(e.contains("unknown data-migration phase `later`"), "{e}");
}

#[test]
fn table_without_columns() {
    let e = error_of("[tables.t]\ncolumns = []\n");
    assert!(e.contains("table `t` has no columns"), "{e}");
}

#[test]
fn garbage_bytes_do_not_panic() {
    for junk in [
        "\u{0}\u{1}\u{2}",
        "[[[[",
        "= = =",
        "[tables]\nt = 5",
        "[tables.t]\ncolumns = [1, 2]",
        "[enums]\nx = 3",
    ] {
        let text = format!("[revision]\nname = \"r1\"\nparents = []\n{junk}");
        assert!(
            parse_str("r1.toml", &text, FileKind::Revision).is_err(),
            "{junk:?} parsed"
        );
    }
}

/// `GOOD_TABLE` plus one `[[triggers]]` section with `fields`.
fn trigger_error(fields: &str) -> String {
    error_of(&format!("{GOOD_TABLE}\n[[triggers]]\n{fields}"))
}

#[test]
fn bad_triggers() {
    // GOOD_TABLE ends on line 10; `[[triggers]]` is line 12.
    let e = trigger_error(
        "name = \"tr\"\ntable = \"nope\"\ntiming = \"before\"\nevent = \"insert\"\nbody = \"BEGIN END\"\n",
    );
    assert!(e.contains("trigger `tr` is on unknown table `nope`"), "{e}");
    assert!(e.contains("tables of this snapshot: t"), "{e}");
    assert_eq!(line_of(&e), 14);

    let e = trigger_error(
        "name = \"tr\"\ntable = \"t\"\ntiming = \"during\"\nevent = \"insert\"\nbody = \"x\"\n",
    );
    assert!(e.contains("unknown trigger timing `during`"), "{e}");
    assert!(e.contains("`before` or `after`"), "{e}");
    assert_eq!(line_of(&e), 15);

    let e = trigger_error(
        "name = \"tr\"\ntable = \"t\"\ntiming = \"after\"\nevent = \"truncate\"\nbody = \"x\"\n",
    );
    assert!(e.contains("unknown trigger event `truncate`"), "{e}");

    // A body for MySQL only, but the trigger would exist everywhere.
    let e = trigger_error(
        "name = \"tr\"\ntable = \"t\"\ntiming = \"after\"\nevent = \"delete\"\nmysql = \"BEGIN END\"\n",
    );
    assert!(e.contains("trigger `tr` has no body for SQLite"), "{e}");
    assert!(e.contains("restrict the trigger with `dialects`"), "{e}");

    let e = trigger_error(
        "name = \"tr\"\ntable = \"t\"\ntiming = \"after\"\nevent = \"delete\"\ndialects = [\"mysql\"]\nbody = \"x\"\nsqlite = \"y\"\n",
    );
    assert!(
        e.contains("gives a `sqlite` body but `dialects` leaves SQLite out"),
        "{e}"
    );

    let e = trigger_error(
        "name = \"tr\"\ntable = \"t\"\ntiming = \"after\"\nevent = \"delete\"\nbody = \"  \"\n",
    );
    assert!(e.contains("trigger `tr` has an empty body"), "{e}");

    let e = trigger_error(
        "name = \"tr\"\ntable = \"t\"\ntiming = \"after\"\nevent = \"delete\"\nbody = \"x\"\nwhen = \"y\"\n",
    );
    assert!(e.contains("unknown field `when`"), "{e}");

    let one =
        "name = \"tr\"\ntable = \"t\"\ntiming = \"after\"\nevent = \"delete\"\nbody = \"x\"\n";
    let e = trigger_error(&format!("{one}\n[[triggers]]\n{one}"));
    assert!(e.contains("trigger name `tr` is used twice"), "{e}");
    assert_eq!(line_of(&e), 20);
}

#[test]
fn a_trigger_restricted_to_one_dialect_needs_only_its_body() {
    let text = format!(
        "[revision]\nname = \"r1\"\nparents = []\n\n{GOOD_TABLE}\n[[triggers]]\nname = \"tr\"\ntable = \"t\"\ntiming = \"before\"\nevent = \"update\"\ndialects = [\"mysql\"]\nmysql = \"SET NEW.v = 'x'\"\n"
    );
    let s = parse_str("r1.toml", &text, FileKind::Revision).unwrap();
    let t = &s.schema.triggers[0];
    assert_eq!(
        t.resolve(glance_manage::schema::model::Dialect::Mysql)
            .unwrap()
            .body,
        "SET NEW.v = 'x'"
    );
    assert!(
        t.resolve(glance_manage::schema::model::Dialect::Sqlite)
            .is_none()
    );
}
