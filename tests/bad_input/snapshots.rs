//! Snapshot directories: malformed revision files, a broken revision graph, and truncated
//! and mutated copies of a real revision.

use super::*;

pub(super) fn cases(v: &mut Vec<Case>) {
    // --- snapshot directories: files --------------------------------------------------------
    v.push(
        case(
            "revisions dir missing",
            &["--revisions", "{DIR}/nope", "db", "history"],
        )
        .err("cannot read revisions directory"),
    );
    v.push(
        case(
            "revisions dir empty",
            &["--revisions", "{DIR}/empty", "db", "history"],
        )
        .file("empty/README", "x")
        .err("no revisions found"),
    );
    v.push(
        case(
            "revisions path is a file",
            &["--revisions", "{DIR}/f.toml", "db", "history"],
        )
        .file("f.toml", "x")
        .err("cannot read revisions directory"),
    );
    v.push(
        case(
            "revision file not utf-8",
            &["--revisions", "{REVS}", "db", "history"],
        )
        .file("revs/r1.toml", b"[revision]\nname = \"r1\xff\"\n")
        .err("r1.toml"),
    );
    v.push(
        case(
            "revision file empty",
            &["--revisions", "{REVS}", "db", "history"],
        )
        .rev("r1", "")
        .err("r1.toml"),
    );
    v.push(snap(
        "bad TOML syntax",
        "[tables.t\ncolumns = []\n",
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "unterminated string",
        "[tables.t]\ncolumns = [ { name = \"id, type = \"integer\" } ]\n",
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "nul byte",
        "[tables.t]\n\0\n",
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "deep nesting",
        &format!("x = {}{}\n", "[".repeat(20000), "]".repeat(20000)),
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "deep inline tables",
        &format!("x = {}1{}\n", "{a=".repeat(20000), "}".repeat(20000)),
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "duplicate table key",
        &format!("{TABLE_T}{TABLE_T}"),
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "unknown section",
        "[tabels.t]\ncolumns = []\n",
        "unknown field `tabels`",
    ));
    v.push(snap(
        "unknown column key",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"integer\", nulable = false } ]\n",
        "unknown field `nulable`",
    ));
    v.push(snap(
        "unknown table key",
        &format!("{TABLE_T}primary = [\"id\"]\n"),
        "unknown field `primary`",
    ));
    v.push(snap("unknown dialect override", "[tables.t]\ncolumns = [ { name = \"id\", type = \"integer\", oracle = { type = \"text\" } } ]\n", "unknown field `oracle`"));
    v.push(snap(
        "unknown type",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"integr\" } ]\n",
        "unknown type `integr`",
    ));
    v.push(snap(
        "varchar2 is not a type",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"varchar2(10)\" } ]\n",
        "varchar2(10)",
    ));
    v.push(snap(
        "string length not a number",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"string(abc)\" } ]\n",
        "string(abc)",
    ));
    v.push(snap(
        "string length negative",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"string(-1)\" } ]\n",
        "string(-1)",
    ));
    v.push(snap(
        "decimal without scale",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"decimal(5)\" } ]\n",
        "decimal(5)",
    ));
    v.push(snap(
        "type is a number",
        "[tables.t]\ncolumns = [ { name = \"id\", type = 5 } ]\n",
        "invalid snapshot TOML",
    ));
    v.push(snap(
        "undeclared enum",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"enum(nope)\" } ]\n",
        "enum type `nope` is not declared",
    ));
    v.push(snap("enum default not a value", "[enums]\ne = [\"a\", \"b\"]\n[tables.t]\ncolumns = [ { name = \"id\", type = \"enum(e)\", default = \"c\" } ]\n", "`c`"));
    v.push(snap(
        "boolean default text",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"boolean\", default = \"yes\" } ]\n",
        "default",
    ));
    v.push(snap(
        "integer default text",
        "[tables.t]\ncolumns = [ { name = \"id\", type = \"integer\", default = \"abc\" } ]\n",
        "default",
    ));
    v.push(snap("duplicate column", "[tables.t]\ncolumns = [\n  { name = \"id\", type = \"integer\" },\n  { name = \"id\", type = \"text\" },\n]\n", "duplicate column `id` in table `t`"));
    v.push(snap("duplicate index", &format!("{TABLE_T}indexes = [ {{ name = \"ix\", columns = [\"v\"] }}, {{ name = \"ix\", columns = [\"id\"] }} ]\n"), "`ix`"));
    v.push(snap(
        "index on missing column",
        &format!("{TABLE_T}indexes = [ {{ name = \"ix\", columns = [\"nope\"] }} ]\n"),
        "index on `t` names unknown column `nope`",
    ));
    v.push(snap("primary key on missing column", "[tables.t]\nprimary_key = [\"nope\"]\ncolumns = [ { name = \"id\", type = \"integer\" } ]\n", "nope"));
    v.push(snap("nullable primary key", "[tables.t]\nprimary_key = [\"id\"]\ncolumns = [ { name = \"id\", type = \"integer\", nullable = true } ]\n", "nullable"));
    v.push(snap("autoincrement on text", "[tables.t]\nprimary_key = [\"id\"]\ncolumns = [ { name = \"id\", type = \"string(10)\", nullable = false, autoincrement = true } ]\n", "autoincrement"));
    v.push(snap("fk to missing table", &format!("{TABLE_T}foreign_keys = [ {{ columns = [\"id\"], ref_table = \"ghost\", ref_columns = [\"id\"] }} ]\n"), "references unknown table `ghost`"));
    v.push(snap("fk to missing column", &format!("{TABLE_T}foreign_keys = [ {{ columns = [\"id\"], ref_table = \"t\", ref_columns = [\"nope\"] }} ]\n"), "references unknown column `t.nope`"));
    v.push(snap("fk type mismatch", &format!("{TABLE_T}[tables.c]\ncolumns = [ {{ name = \"tid\", type = \"string(36)\" }} ]\nforeign_keys = [ {{ columns = [\"tid\"], ref_table = \"t\", ref_columns = [\"id\"] }} ]\n"), "foreign key type mismatch"));
    v.push(snap("fk action unknown", &format!("{TABLE_T}[tables.c]\ncolumns = [ {{ name = \"tid\", type = \"integer\" }} ]\nforeign_keys = [ {{ columns = [\"tid\"], ref_table = \"t\", ref_columns = [\"id\"], on_delete = \"explode\" }} ]\n"), "explode"));
    v.push(snap(
        "table name 64 bytes",
        &format!(
            "[tables.{}]\ncolumns = [ {{ name = \"id\", type = \"integer\" }} ]\n",
            "t".repeat(64)
        ),
        "is 64 bytes long",
    ));
    v.push(snap(
        "table name 300 bytes",
        &format!(
            "[tables.{}]\ncolumns = [ {{ name = \"id\", type = \"integer\" }} ]\n",
            "t".repeat(300)
        ),
        "is 300 bytes long",
    ));
    v.push(snap(
        "column name 64 bytes",
        &format!(
            "[tables.t]\ncolumns = [ {{ name = \"{}\", type = \"integer\" }} ]\n",
            "c".repeat(64)
        ),
        "is 64 bytes long",
    ));
    v.push(snap(
        "index name 64 bytes",
        &format!(
            "{TABLE_T}indexes = [ {{ name = \"{}\", columns = [\"v\"] }} ]\n",
            "i".repeat(64)
        ),
        "is 64 bytes long",
    ));
    v.push(snap(
        "multibyte name over 63 bytes",
        &format!(
            "[tables.\"{}\"]\ncolumns = [ {{ name = \"id\", type = \"integer\" }} ]\n",
            "é".repeat(32)
        ),
        "is 64 bytes long",
    ));
    v.push(snap(
        "empty table name",
        "[tables.\"\"]\ncolumns = [ { name = \"id\", type = \"integer\" } ]\n",
        "empty table name",
    ));
    v.push(snap(
        "empty column name",
        "[tables.t]\ncolumns = [ { name = \"\", type = \"integer\" } ]\n",
        "empty column name",
    ));
    v.push(snap(
        "control character in name",
        "[tables.\"a\\u0001b\"]\ncolumns = [ { name = \"id\", type = \"integer\" } ]\n",
        "control character",
    ));
    v.push(snap(
        "newline in column name",
        "[tables.t]\ncolumns = [ { name = \"a\\nb\", type = \"integer\" } ]\n",
        "control character",
    ));
    v.push(snap(
        "table without columns",
        "[tables.t]\ncolumns = []\n",
        "`t`",
    ));
    v.push(snap(
        "data migration without sql",
        &format!("[[data_migrations]]\nname = \"d\"\nphase = \"migrate\"\nsql = []\n\n{TABLE_T}"),
        "r1.toml",
    ));
    v.push(snap("data migration unknown phase", &format!("[[data_migrations]]\nname = \"d\"\nphase = \"later\"\nsql = [\"SELECT 1\"]\n\n{TABLE_T}"), "later"));
    v.push(snap(
        "data migration without name",
        &format!("[[data_migrations]]\nphase = \"migrate\"\nsql = [\"SELECT 1\"]\n\n{TABLE_T}"),
        "name",
    ));
    v.push(
        snap("unknown branch", TABLE_T, "r1.toml")
            .rev(
                "r1",
                &format!(
                    "[revision]\nname = \"r1\"\nparents = []\nbranch = \"sideways\"\n\n{TABLE_T}"
                ),
            )
            .err("unknown branch `sideways`"),
    );
    v.push(
        snap("parents is a string", "", "invalid snapshot TOML").rev(
            "r1",
            &format!("[revision]\nname = \"r1\"\nparents = \"r0\"\n\n{TABLE_T}"),
        ),
    );
    v.push(
        snap("unknown revision key", "", "unknown field `parent`").rev(
            "r1",
            &format!("[revision]\nname = \"r1\"\nparent = []\n\n{TABLE_T}"),
        ),
    );
    v.push(
        snap("invalid revision name", "", "invalid revision name `r-1`").rev(
            "r1",
            &format!("[revision]\nname = \"r-1\"\nparents = []\n\n{TABLE_T}"),
        ),
    );
    v.push(snap("missing [revision]", "", "r1.toml").rev("r1", TABLE_T));

    // --- snapshot directories: the graph ----------------------------------------------------
    let g = |name: &str, files: &[(&str, String)], msg: &str| {
        let mut c = case(
            &format!("graph {name}"),
            &["--revisions", "{REVS}", "db", "history"],
        )
        .err(msg);
        for (n, body) in files {
            c = c.rev(n, body);
        }
        c
    };
    let r = |name: &str, parents: &[&str]| format!("{}{TABLE_T}", header(name, parents));
    v.push(g(
        "file name differs from revision",
        &[("r0", r("r0", &[])), ("r2", r("r1", &["r0"]))],
        "file `r2.toml` declares revision `r1`",
    ));
    v.push(g(
        "duplicate revision name",
        &[
            ("r0", r("r0", &[])),
            ("r1", r("r1", &["r0"])),
            ("r1_copy", r("r1", &["r0"])),
        ],
        "declares revision `r1`",
    ));
    v.push(g(
        "dangling parent",
        &[("r0", r("r0", &[])), ("r1", r("r1", &["ghost"]))],
        "revision `r1` names unknown parent `ghost`",
    ));
    v.push(g("dangling dependency", &[("r0", r("r0", &[])), ("r1", format!("[revision]\nname = \"r1\"\nparents = [\"r0\"]\ndepends_on = [\"ghost\"]\n\n{TABLE_T}"))], "names unknown dependency `ghost`"));
    v.push(g(
        "cycle of two",
        &[
            ("r0", r("r0", &[])),
            ("r1", r("r1", &["r0", "r2"])),
            ("r2", r("r2", &["r1"])),
        ],
        "revision cycle",
    ));
    v.push(g(
        "cycle of three",
        &[
            ("r0", r("r0", &[])),
            ("r1", r("r1", &["r0", "r3"])),
            ("r2", r("r2", &["r1"])),
            ("r3", r("r3", &["r2"])),
        ],
        "revision cycle",
    ));
    v.push(g(
        "self parent",
        &[("r0", r("r0", &["r0"]))],
        "cannot depend on itself",
    ));
    v.push(g(
        "parent listed twice",
        &[("r0", r("r0", &[])), ("r1", r("r1", &["r0", "r0"]))],
        "`r0` is listed twice",
    ));
    v.push(g(
        "two roots",
        &[("r0", r("r0", &[])), ("r1", r("r1", &[]))],
        "have no parents",
    ));
    v.push(g(
        "no root",
        &[("r1", r("r1", &["r2"])), ("r2", r("r2", &["r1"]))],
        "r1",
    ));
    // Broken directories fail every command the same way, before touching the database.
    for (cmd, code) in [
        ("sync", 1),
        ("upgrade", 1),
        ("plan", 1),
        ("drift", 2),
        ("version", 1),
        ("check", 1),
        ("version_control", 1),
        ("purge", 1),
    ] {
        v.push(
            case(
                &format!("broken history: {cmd}"),
                &["--revisions", "{REVS}", "db", cmd],
            )
            .rev("r0", &r("r0", &[]))
            .rev("r1", &r("r1", &["ghost"]))
            .code(code)
            .err("names unknown parent `ghost`")
            .servers(),
        );
    }

    // --- truncated and mutated copies of a real revision ------------------------------------
    for (i, cut) in [
        "{ name = \"image_id\", type = \"str",
        "[tables.image_locations]\nprimary_key = [\"id\"]\nmysql = { engine = \"InnoDB\", charset",
        "indexes = [\n  { name = \"checksum_image_idx\", columns = [\"checksum\"",
        "foreign_keys = [\n  { columns = [\"image_id\"], ref_table = \"images\", ref_columns = [\"id\"] },",
        "[revision]\nname = \"mitaka01\"\npar",
    ]
    .iter()
    .enumerate()
    {
        let at = MITAKA01.find(cut).expect("cut point") + cut.len();
        v.push(
            case(&format!("truncated mitaka01 #{i}"), &["--revisions", "{REVS}", "db", "sync"])
                .rev("liberty", LIBERTY)
                .rev("mitaka01", &MITAKA01[..at])
                .err("mitaka01.toml"),
        );
    }
    for (i, (from, to, msg)) in [
        (
            "type = \"string(36)\"",
            "type = \"strin(36)\"",
            "unknown type `strin(36)`",
        ),
        (
            "ref_table = \"images\"",
            "ref_table = \"imagez\"",
            "references unknown table `imagez`",
        ),
        (
            "parents = [\"liberty\"]",
            "parents = [\"libertee\"]",
            "names unknown parent `libertee`",
        ),
        (
            "nullable = false",
            "nullable = flase",
            "invalid snapshot TOML",
        ),
        (
            "columns = [\"checksum\"]",
            "columns = [\"checksun\"]",
            "unknown column `checksun`",
        ),
    ]
    .iter()
    .enumerate()
    {
        v.push(
            case(
                &format!("mutated mitaka01 #{i}"),
                &["--revisions", "{REVS}", "db", "plan"],
            )
            .rev("liberty", LIBERTY)
            .rev("mitaka01", &MITAKA01.replacen(from, to, 1))
            .err(msg),
        );
    }
}

/// `db history` and friends on a directory holding one revision `r1` with this body.
fn snap(name: &str, body: &str, msg: &str) -> Case {
    case(name, &["--revisions", "{REVS}", "db", "history"])
        .rev("r1", &format!("{}{body}", header("r1", &[])))
        .err(msg)
}
