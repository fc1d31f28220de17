//! Property tests (proptest) of the input parsers, run briefly in CI: 256 cases per property
//! by default, `PROPTEST_CASES=N` for more. The `fuzz/` directory has cargo-fuzz targets for
//! long runs by hand (see `fuzz/README.md`).
//!
//! - `snapshot::parse_str` never panics: on arbitrary text, on TOML-looking text, and on
//!   mutated copies of real revision files (byte flips, truncations, deleted, duplicated and
//!   swapped lines, inserted TOML punctuation); a revision set built from mutated files never
//!   panics either.
//! - Round trip: `schema_to_toml` of a parsed snapshot parses back to an equal schema, and
//!   writing it again gives the same text — for generated schemas with hostile names, for
//!   trigger bodies of any text, and for every built-in revision.
//! - `DbUrl::parse` never panics, and for `scheme://user:PASSWORD@...` never shows the password
//!   in an error, in Display or in Debug; `redact_raw` never does either.
//! - the oslo INI parser never panics, and finds `[database] connection` in generated oslo files.

use std::path::Path;

use glance_manage::config::{self, DbUrl};
use glance_manage::revisions::RevisionSet;
use glance_manage::snapshot::{FileKind, parse_str, schema_to_toml};
use proptest::prelude::*;
use proptest::test_runner::Config;

const LIBERTY: &str = include_str!("../revisions/liberty.toml");
const MITAKA01: &str = include_str!("../revisions/mitaka01.toml");
const MITAKA02: &str = include_str!("../revisions/mitaka02.toml");
const OCATA_EXPAND01: &str = include_str!("../revisions/ocata_expand01.toml");
const CONTRACT_HEAD: &str = include_str!("../revisions/2024_1_contract01.toml");

const SAMPLES: &[(&str, &str)] = &[
    ("liberty", LIBERTY),
    ("mitaka01", MITAKA01),
    ("mitaka02", MITAKA02),
    ("ocata_expand01", OCATA_EXPAND01),
    ("2024_1_contract01", CONTRACT_HEAD),
];

/// 256 cases unless PROPTEST_CASES says otherwise.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshot loader: no panics

#[derive(Debug, Clone)]
enum Mutation {
    FlipByte(usize, u8),
    Truncate(usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Insert(usize, &'static str),
}

const TOKENS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    "\n",
    "'''",
    "\"\"\"",
    "\\u",
    "\\",
    "#",
    "[[",
    "]]",
    ".",
    "nullable = true",
    "type = \"enum(x)\"",
    "-9223372036854775809",
    "1e400",
    "inf",
    "1979-05-27T07:32:00Z",
    "[tables.images]\n",
    "[revision]\n",
    "columns = []\n",
    "\u{0}",
    "\u{feff}",
    "é",
    "🦀",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::FlipByte(p, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), prop::sample::select(TOKENS)).prop_map(|(p, t)| Mutation::Insert(p, t)),
    ]
}

fn mutate(text: &str, muts: &[Mutation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for m in muts {
        let n = bytes.len().max(1);
        match m {
            Mutation::FlipByte(p, b) => {
                if !bytes.is_empty() {
                    bytes[p % n] = *b;
                }
            }
            Mutation::Truncate(p) => bytes.truncate(p % n),
            Mutation::Insert(p, t) => {
                let at = p % (bytes.len() + 1);
                bytes.splice(at..at, t.bytes());
            }
            Mutation::DeleteLine(i) | Mutation::DuplicateLine(i) | Mutation::SwapLines(i, _) => {
                let s = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<&str> = s.split('\n').collect();
                let k = lines.len();
                match m {
                    Mutation::DeleteLine(_) => {
                        lines.remove(i % k);
                    }
                    Mutation::DuplicateLine(_) => {
                        let l = lines[i % k];
                        lines.insert(i % k, l);
                    }
                    Mutation::SwapLines(_, j) => lines.swap(i % k, j % k),
                    _ => unreachable!(),
                }
                bytes = lines.join("\n").into_bytes();
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Text made of TOML pieces, more likely than random text to get past the TOML parser.
fn tomlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(TOKENS).prop_map(str::to_string),
        prop::sample::select(&[
            "[revision]\nname = \"r1\"\nparents = []\n",
            "[tables.t]\n",
            "columns = [ { name = \"id\", type = \"integer\", nullable = false } ]\n",
            "primary_key = [\"id\"]\n",
            "indexes = [ { name = \"ix\", columns = [\"id\"] } ]\n",
            "foreign_keys = [ { columns = [\"id\"], ref_table = \"t\", ref_columns = [\"id\"] } ]\n",
            "[enums]\ne = [\"a\"]\n",
            "[[data_migrations]]\nname = \"d\"\nphase = \"migrate\"\nsql = [\"SELECT 1\"]\n",
            "checks = [ { expr = \"id > 0\" } ]\n",
            "{ name = \"v\", type = \"enum(e)\", default = \"b\" }",
        ][..])
        .prop_map(str::to_string),
        "[a-z_]{1,8}".prop_map(|s| s),
        "\\PC{0,12}".prop_map(|s| s),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn snapshot_parser_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = parse_str("fuzz.toml", &text, FileKind::Revision);
        let _ = parse_str("fuzz.toml", &text, FileKind::WorkingSchema);
    }

    #[test]
    fn snapshot_parser_never_panics_on_tomlish_text(text in tomlish()) {
        if let Ok(s) = parse_str("r1.toml", &text, FileKind::Revision) {
            assert_round_trip(&s.schema)?;
        }
        let _ = parse_str("fuzz.toml", &text, FileKind::WorkingSchema);
    }

    #[test]
    fn snapshot_parser_never_panics_on_mutated_revisions(
        which in 0..SAMPLES.len(),
        muts in prop::collection::vec(mutation(), 1..5),
    ) {
        let (name, text) = SAMPLES[which];
        let m = mutate(text, &muts);
        if let Ok(s) = parse_str(&format!("revisions/{name}.toml"), &m, FileKind::Revision) {
            assert_round_trip(&s.schema)?;
        }
    }

    #[test]
    fn revision_sets_from_mutated_files_never_panic(
        which in 0..3usize,
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut files: Vec<(String, String)> = SAMPLES[..3]
            .iter()
            .map(|(n, t)| (format!("revisions/{n}.toml"), t.to_string()))
            .collect();
        files[which].1 = mutate(&files[which].1, &muts);
        let _ = RevisionSet::from_sources("fuzz", files);
    }
}

// ---------------------------------------------------------------------------------------------
// Round trip

fn assert_round_trip(schema: &glance_manage::schema::model::Schema) -> Result<(), TestCaseError> {
    let text = schema_to_toml(schema);
    let again = parse_str("roundtrip.toml", &text, FileKind::WorkingSchema).map_err(|e| {
        TestCaseError::fail(format!(
            "schema_to_toml output does not parse: {}\n{text}",
            render(&e)
        ))
    })?;
    prop_assert_eq!(
        &again.schema,
        schema,
        "round trip changed the schema:\n{}",
        text
    );
    prop_assert_eq!(schema_to_toml(&again.schema), text);
    Ok(())
}

fn render(e: &dyn miette::Diagnostic) -> String {
    let mut out = String::new();
    let _ = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, e);
    out
}

/// A TOML basic string.
fn tq(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_control() => o.push_str(&format!("\\u{:04X}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Identifier-ish names with the characters SQL and TOML treat specially; 1–20 chars, no
/// control characters (the loader rejects those).
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_][a-z0-9_]{0,12}",
        "[a-zA-Z0-9 _'\"`;.\\-\\\\/()*%$#@!?=<>,\\[\\]{}]{1,20}",
        "[a-zé ü😀ß中]{1,8}",
    ]
}

fn distinct(n: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::hash_set(name(), n).prop_map(|s| s.into_iter().collect())
}

#[derive(Debug, Clone)]
struct GenColumn {
    name: String,
    ty: String,
    nullable: Option<bool>,
    default: Option<String>,
}

fn column_type(
    enums: Vec<(String, Vec<String>)>,
) -> impl Strategy<Value = (String, Option<String>)> {
    let mut choices: Vec<BoxedStrategy<(String, Option<String>)>> = vec![
        (1u32..300, prop::option::of("[a-z' \"\\\\]{0,5}"))
            .prop_map(|(n, d)| {
                let d = d.map(|d| d.chars().take(n as usize).collect::<String>());
                (format!("string({n})"), d.map(|d| tq(&d)))
            })
            .boxed(),
        (1u32..20)
            .prop_map(|n| (format!("char({n})"), None))
            .boxed(),
        Just(("text".to_string(), None)).boxed(),
        prop::option::of(-1000i64..1000)
            .prop_map(|d| ("integer".to_string(), d.map(|d| d.to_string())))
            .boxed(),
        prop::option::of(any::<i64>())
            .prop_map(|d| ("bigint".to_string(), d.map(|d| d.to_string())))
            .boxed(),
        prop::option::of(-100i64..100)
            .prop_map(|d| ("smallint".to_string(), d.map(|d| d.to_string())))
            .boxed(),
        prop::option::of(any::<bool>())
            .prop_map(|d| ("boolean".to_string(), d.map(|d| d.to_string())))
            .boxed(),
        prop::option::of(Just("{ expr = \"CURRENT_TIMESTAMP\" }".to_string()))
            .prop_map(|d| ("datetime".to_string(), d))
            .boxed(),
        Just(("date".to_string(), None)).boxed(),
        Just(("float".to_string(), None)).boxed(),
        Just(("double".to_string(), None)).boxed(),
        (1u32..30, 1u32..5)
            .prop_map(|(p, s)| (format!("decimal({}, {})", p.max(s + 1), s), None))
            .boxed(),
        Just(("numeric".to_string(), None)).boxed(),
        Just(("json".to_string(), None)).boxed(),
        Just(("blob".to_string(), None)).boxed(),
    ];
    for (e, values) in enums {
        let vals = values.clone();
        choices.push(
            prop::option::of(prop::sample::select(vals))
                .prop_map(move |d| (format!("enum({e})"), d.map(|d| tq(&d))))
                .boxed(),
        );
    }
    prop::strategy::Union::new(choices)
}

/// Dialects an index or check is restricted to (None: all).
type Dialects = Option<Vec<&'static str>>;

#[derive(Debug, Clone)]
struct GenTable {
    name: String,
    columns: Vec<GenColumn>,
    pk: bool,
    /// name, column positions, unique, dialects
    indexes: Vec<(String, Vec<usize>, bool, Dialects)>,
    /// name, expression, dialects
    checks: Vec<(Option<String>, String, Dialects)>,
    mysql: Option<(String, String)>,
}

fn dialects() -> impl Strategy<Value = Option<Vec<&'static str>>> {
    prop::option::of(prop::sample::subsequence(
        vec!["sqlite", "postgresql", "mysql"],
        1..=3,
    ))
}

fn table(name: String, enums: Vec<(String, Vec<String>)>) -> impl Strategy<Value = GenTable> {
    (
        distinct(4),
        prop::collection::vec((column_type(enums), prop::option::of(any::<bool>())), 4),
        1usize..=4,
        any::<bool>(),
        prop::collection::vec(
            (
                prop::collection::vec(0usize..4, 1..3),
                any::<bool>(),
                dialects(),
            ),
            0..3,
        ),
        prop::collection::vec(
            (
                prop::option::of(name_strategy()),
                "[a-z0-9<>=()'_][a-z0-9 <>=()'_]{0,19}",
                dialects(),
            ),
            0..3,
        ),
        prop::option::of(("InnoDB|MyISAM", "utf8|utf8mb4|latin1")),
    )
        .prop_map(move |(names, types, ncols, pk, idx, checks, mysql)| {
            let columns: Vec<GenColumn> = names
                .into_iter()
                .zip(types)
                .take(ncols)
                .enumerate()
                .map(|(i, (name, ((ty, default), nullable)))| GenColumn {
                    name,
                    ty,
                    // A primary-key column is never declared nullable.
                    nullable: if pk && i == 0 {
                        nullable.filter(|n| !n)
                    } else {
                        nullable
                    },
                    default,
                })
                .collect();
            let n = columns.len();
            let indexes = idx
                .into_iter()
                .enumerate()
                .map(|(k, (cols, unique, d))| {
                    let mut cols: Vec<usize> = cols.into_iter().map(|c| c % n).collect();
                    cols.dedup();
                    (format!("ix{k}"), cols, unique, d)
                })
                .collect();
            GenTable {
                name: name.clone(),
                columns,
                pk,
                indexes,
                checks,
                mysql,
            }
        })
}

fn name_strategy() -> BoxedStrategy<String> {
    name().boxed()
}

fn gen_schema() -> impl Strategy<Value = String> {
    let enums = prop::collection::vec(
        (
            "[a-z][a-z_]{0,8}",
            prop::collection::hash_set("[a-zA-Z0-9 '\"\\\\-]{1,8}", 1..4),
        ),
        0..3,
    )
    .prop_map(|v| {
        let mut seen = std::collections::HashSet::new();
        v.into_iter()
            .filter(|(n, _)| seen.insert(n.clone()))
            .map(|(n, vals)| (n, vals.into_iter().collect::<Vec<String>>()))
            .collect::<Vec<_>>()
    });
    (enums, prop::collection::hash_set(name(), 1..4))
        .prop_flat_map(|(enums, names)| {
            let tables: Vec<_> = names.into_iter().map(|n| table(n, enums.clone())).collect();
            (Just(enums), tables)
        })
        .prop_map(|(enums, tables)| render_schema(&enums, &tables))
}

fn render_schema(enums: &[(String, Vec<String>)], tables: &[GenTable]) -> String {
    let mut s = String::from("[revision]\nname = \"r1\"\nparents = []\n\n");
    if !enums.is_empty() {
        s.push_str("[enums]\n");
        for (n, vals) in enums {
            let v: Vec<String> = vals.iter().map(|x| tq(x)).collect();
            s.push_str(&format!("{n} = [{}]\n", v.join(", ")));
        }
        s.push('\n');
    }
    for (ti, t) in tables.iter().enumerate() {
        s.push_str(&format!("[tables.{}]\n", tq(&t.name)));
        if t.pk {
            s.push_str(&format!("primary_key = [{}]\n", tq(&t.columns[0].name)));
        }
        if let Some((e, c)) = &t.mysql {
            s.push_str(&format!(
                "mysql = {{ engine = {}, charset = {} }}\n",
                tq(e),
                tq(c)
            ));
        }
        s.push_str("columns = [\n");
        for c in &t.columns {
            let mut line = format!("  {{ name = {}, type = {}", tq(&c.name), tq(&c.ty));
            if let Some(n) = c.nullable {
                line.push_str(&format!(", nullable = {n}"));
            }
            if let Some(d) = &c.default {
                line.push_str(&format!(", default = {d}"));
            }
            line.push_str(" },\n");
            s.push_str(&line);
        }
        s.push_str("]\n");
        if !t.indexes.is_empty() {
            s.push_str("indexes = [\n");
            for (n, cols, unique, d) in &t.indexes {
                let cols: Vec<String> = cols.iter().map(|i| tq(&t.columns[*i].name)).collect();
                s.push_str(&format!(
                    "  {{ name = {}, columns = [{}], unique = {unique}{} }},\n",
                    tq(&format!("t{ti}_{n}")),
                    cols.join(", "),
                    d.as_ref()
                        .map(|d| format!(
                            ", dialects = [{}]",
                            d.iter().map(|x| tq(x)).collect::<Vec<_>>().join(", ")
                        ))
                        .unwrap_or_default()
                ));
            }
            s.push_str("]\n");
        }
        if !t.checks.is_empty() {
            s.push_str("checks = [\n");
            for (n, e, d) in &t.checks {
                let name = n
                    .as_ref()
                    .map(|n| format!("name = {}, ", tq(n)))
                    .unwrap_or_default();
                s.push_str(&format!(
                    "  {{ {name}expr = {}{} }},\n",
                    tq(e),
                    d.as_ref()
                        .map(|d| format!(
                            ", dialects = [{}]",
                            d.iter().map(|x| tq(x)).collect::<Vec<_>>().join(", ")
                        ))
                        .unwrap_or_default()
                ));
            }
            s.push_str("]\n");
        }
        s.push('\n');
    }
    s
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generated_schemas_round_trip(text in gen_schema()) {
        let s = parse_str("revisions/r1.toml", &text, FileKind::Revision).map_err(|e| {
            TestCaseError::fail(format!("generated snapshot rejected: {}\n{text}", render(&e)))
        })?;
        assert_round_trip(&s.schema)?;
    }
}

/// Trigger bodies are code: any text (quotes of every kind, `'''`, backslashes, blank lines,
/// a leading newline, control characters, non-ASCII) must come back exactly.
fn trigger_body() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("'''".to_string()),
        Just("\"\"\"".to_string()),
        Just("\\".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\t".to_string()),
        Just("$body$".to_string()),
        Just("SET NEW.v = 'it''s';".to_string()),
        "[ -~]{0,12}",
        "\\PC{0,4}",
    ];
    prop::collection::vec(piece, 1..8)
        .prop_map(|v| v.concat())
        .prop_filter("a body is not blank", |b| !b.trim().is_empty())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn trigger_bodies_round_trip(body in trigger_body(), pg in proptest::option::of(trigger_body())) {
        use glance_manage::schema::model::{Dialect, Schema, Table, Column, ColumnType, Trigger, TriggerEvent, TriggerTiming};
        let mut schema = Schema::default();
        let mut t = Table::new("t");
        t.columns.push(Column::new("id", ColumnType::Integer));
        schema.tables.insert("t".into(), t);
        let mut tr = Trigger::new("tr", "t", TriggerTiming::Before, TriggerEvent::Update, &body);
        if let Some(pg) = pg {
            tr.bodies.insert(Dialect::Postgres, pg);
        }
        schema.triggers.push(tr);
        assert_round_trip(&schema)?;
    }
}

#[test]
fn every_builtin_revision_round_trips() {
    let set = RevisionSet::builtin().expect("built-in revisions");
    let mut n = 0;
    for name in set.names() {
        let s = set.get(name).unwrap();
        assert_round_trip(&s.schema).unwrap_or_else(|e| panic!("{name}: {e}"));
        n += 1;
    }
    assert_eq!(n, 29);
}

// ---------------------------------------------------------------------------------------------
// URLs and INI files

const SCHEMES: &[&str] = &[
    "mysql",
    "mysql+pymysql",
    "MySQL+PyMySQL",
    "mariadb",
    "postgresql",
    "postgresql+psycopg2",
    "postgres",
    "pgsql",
    "sqlite",
    "oracle",
    "",
    "mysql+",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn url_parser_never_panics(s in any::<String>()) {
        let _ = DbUrl::parse(&s);
        let _ = config::redact_raw(&s);
    }

    #[test]
    fn url_parser_never_panics_on_urlish_text(
        scheme in prop::sample::select(SCHEMES),
        rest in "[a-z0-9:@/?&=%\\[\\]._ +-]{0,40}",
    ) {
        let _ = DbUrl::parse(&format!("{scheme}://{rest}"));
    }

    /// `scheme://user:PASSWORD@rest`, the password with any printable character (`@`, `/`, `?`,
    /// `#`, `:` included; no `%`, so that it is its own decoded form), the rest without `@`.
    #[test]
    fn the_password_never_shows(
        scheme in prop::sample::select(SCHEMES),
        user in "[a-z_][a-z0-9_]{0,8}",
        pw in "Pw[!-~]{6,16}".prop_filter("no %", |p| !p.contains('%')),
        rest in "[a-z0-9:/?&=\\[\\]._ +#-]{0,40}",
        pad in "[ \t]{0,2}",
    ) {
        let url = format!("{pad}{scheme}://{user}:{pw}@{rest}{pad}");
        match DbUrl::parse(&url) {
            Ok(u) => {
                prop_assert_eq!(u.password.as_deref(), Some(pw.as_str()), "{}", url);
                let shown = format!("{u} {u:?}");
                prop_assert!(!shown.contains(&pw), "{} shown as {}", url, shown);
            }
            Err(e) => {
                let shown = format!("{e} {e:?}");
                prop_assert!(!shown.contains(&pw), "{} error {}", url, shown);
            }
        }
        prop_assert!(!config::redact_raw(&url).contains(&pw));
        // The same URL in a config file.
        let ini = format!("[DEFAULT]\ndebug = true\n[database]\nconnection = {}\n", url.trim());
        let parsed = config::oslo_ini::parse(Path::new("glance-api.conf"), &ini).unwrap();
        prop_assert_eq!(parsed.get("database", "connection").map(|e| e.value.as_str()), Some(oslo_unquote(url.trim())));
    }

    #[test]
    fn ini_parser_never_panics(text in any::<String>()) {
        let _ = config::oslo_ini::parse(Path::new("fuzz.conf"), &text);
    }

    #[test]
    fn ini_parser_never_panics_on_iniish_text(
        lines in prop::collection::vec(
            prop_oneof![
                "\\[[a-z_ ]{0,10}\\]?",
                "[a-z_]{1,8} ?[=:] ?[^\n]{0,20}",
                "[ \t]+[^\n]{0,10}",
                "[#;][^\n]{0,10}",
                "[^\n]{0,16}",
            ],
            0..12,
        ),
    ) {
        let _ = config::oslo_ini::parse(Path::new("fuzz.conf"), &lines.join("\n"));
    }

    /// Generated oslo files: the last `[database] connection` wins, values are trimmed, and
    /// comments, other sections and continuation lines do not disturb it.
    #[test]
    fn ini_finds_the_connection(
        before in prop::collection::vec(("[a-z_]{1,8}", "[a-z_]{1,8}", "[!-~][ -~]{0,20}"), 0..5),
        values in prop::collection::vec("[!-~]([ -~]{0,30}[!-~])?", 1..3),
        comment in "[#;][ -~]{0,20}",
    ) {
        let mut text = String::new();
        for (section, key, value) in &before {
            text.push_str(&format!("[{section}]\n{key} = {value}\n{comment}\n"));
        }
        for v in &values {
            text.push_str(&format!("[database]\n  \nconnection   =   {v}   \n{comment}\n"));
        }
        let ini = config::oslo_ini::parse(Path::new("glance-api.conf"), &text)
            .map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        prop_assert_eq!(
            ini.get("database", "connection").map(|e| e.value.as_str()),
            Some(oslo_unquote(values.last().unwrap()))
        );
    }
}

/// oslo.config removes one pair of matching surrounding quotes from a value.
fn oslo_unquote(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[0] == b[b.len() - 1] {
        &v[1..v.len() - 1]
    } else if b.len() == 1 && (b[0] == b'"' || b[0] == b'\'') {
        ""
    } else {
        v
    }
}

// ---------------------------------------------------------------------------------------------
// Regression cases found by the properties above

#[test]
fn regression_question_mark_in_password() {
    // Found by `the_password_never_shows`: the query was split off before the credentials.
    for url in [
        "mysql://u:Pwa?S3cret@h:abc/db",
        "mysql://u:Pwa?S3cret@127.0.0.1:3306/db",
        "postgresql://u:Pw#?/@:S3cret@/",
    ] {
        match DbUrl::parse(url) {
            Ok(u) => assert!(!format!("{u} {u:?}").contains("S3cret"), "{url}"),
            Err(e) => assert!(!format!("{e} {e:?}").contains("S3cret"), "{url}: {e}"),
        }
        assert!(!config::redact_raw(url).contains("S3cret"), "{url}");
    }
    let u = DbUrl::parse("mysql://u:Pwa?S3cret@127.0.0.1:3306/db?charset=utf8").unwrap();
    assert_eq!(u.password.as_deref(), Some("Pwa?S3cret"));
    assert_eq!(u.database, "db");
    assert_eq!(u.query_param("charset"), Some("utf8"));
}
