//! Replays the transcripts of the real Glance 33.0.0 (fixtures/glance/cli/<backend>.txt) against
//! our binary and compares stdout and exit codes line for line. Where we differ on purpose, the
//! difference is listed here with the reason, and what we do instead is asserted.

mod common;

use common::{TestDb, gm, gm_raw};
use glance_manage::schema::model::Dialect;

struct Case {
    args: Vec<String>,
    exit: i32,
    stdout: String,
}

struct Block {
    fresh: bool,
    cases: Vec<Case>,
}

fn parse(text: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(h) = line.strip_prefix("# ") {
            blocks.push(Block {
                fresh: !h.starts_with("same database"),
                cases: vec![],
            });
        } else if let Some(cmd) = line.strip_prefix("$ glance-manage") {
            let args: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
            let exit: i32 = lines
                .next()
                .unwrap()
                .trim_start_matches("[exit ")
                .trim_end_matches(']')
                .parse()
                .unwrap();
            assert_eq!(lines.next(), Some("[stdout]"));
            let mut stdout = String::new();
            while let Some(l) = lines.peek() {
                if *l == "[stderr]" {
                    break;
                }
                stdout.push_str(l);
                stdout.push('\n');
                lines.next();
            }
            blocks
                .last_mut()
                .expect("a block header first")
                .cases
                .push(Case { args, exit, stdout });
        }
    }
    blocks
}

/// Why we differ, for the cases where we do. None = must match exactly.
fn intended_difference(d: Dialect, args: &[String], case: &Case) -> Option<&'static str> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        // Glance stamps an empty database as liberty without looking; we check the schema first.
        ["db", "version_control"] => Some("version_control checks the schema"),
        // The version after that stamp differs accordingly.
        ["db", "version"] if case.stdout == "liberty\n" => Some("follows version_control"),
        // Glance refuses the rolling-upgrade commands on PostgreSQL; we support them.
        ["db", "check" | "expand" | "migrate" | "contract"]
            if d == Dialect::Postgres && case.exit == 1 =>
        {
            Some("rolling upgrades work on PostgreSQL")
        }
        // Glance prints nothing on stdout for a purge; we print a per-table summary there.
        ["db", "purge" | "purge_images_table"] if case.exit == 0 => Some("purge prints a summary"),
        // Our action list has plan/drift/history instead of the metadef commands; the bare
        // form prints our argv0.
        ["db"] | [] => Some("help lists our actions"),
        _ => None,
    }
}

async fn replay(dialect: Dialect) {
    let file = match dialect {
        Dialect::Sqlite => "sqlite.txt",
        Dialect::Postgres => "postgresql.txt",
        Dialect::Mysql => "mariadb.txt",
    };
    let text = std::fs::read_to_string(format!(
        "{}/fixtures/glance/cli/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let blocks = parse(&text);
    assert!(
        blocks.len() >= 6,
        "transcript parsed to {} blocks",
        blocks.len()
    );
    let mut db: Option<TestDb> = None;
    let mut compared = 0;
    for block in &blocks {
        if block.fresh || db.is_none() {
            db = TestDb::create(dialect).await;
            if db.is_none() {
                return; // server unreachable outside CI (the helper says so)
            }
        }
        let url = db.as_ref().unwrap().url.clone();
        // Set once an intended difference changed the database state (Glance refused or did
        // something we do differently): later `db version` outputs then follow our state.
        let mut diverged = false;
        for case in &block.cases {
            let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
            let ours = if args.is_empty() || args == ["db"] {
                gm_raw(&args, None)
            } else {
                gm(&url, &args)
            };
            let difference = match intended_difference(dialect, &case.args, case) {
                None if diverged && args == ["db", "version"] => Some("follows version_control"),
                other => other,
            };
            if matches!(
                difference,
                Some("version_control checks the schema" | "rolling upgrades work on PostgreSQL")
            ) {
                diverged = true;
            }
            match difference {
                None => {
                    assert_eq!(
                        ours.code,
                        case.exit,
                        "exit code of `{}` on {dialect}: {ours:?}",
                        args.join(" ")
                    );
                    assert_eq!(
                        ours.stdout,
                        case.stdout,
                        "stdout of `{}` on {dialect}: {ours:?}",
                        args.join(" ")
                    );
                    compared += 1;
                }
                Some(why) => {
                    // What we do instead.
                    match why {
                        "version_control checks the schema" => {
                            assert_eq!(ours.code, 1, "{ours:?}");
                            assert!(
                                ours.stderr.contains("does not match revision liberty"),
                                "{ours:?}"
                            );
                        }
                        "rolling upgrades work on PostgreSQL" => {
                            assert!([0, 3, 4, 5].contains(&ours.code), "{ours:?}")
                        }
                        "purge prints a summary" => {
                            assert_eq!(ours.code, 0, "{ours:?}");
                            assert!(
                                ours.stdout.contains("Deleted 0 row(s) from table"),
                                "{ours:?}"
                            );
                        }
                        "help lists our actions" => {
                            assert_eq!(ours.code, case.exit, "{ours:?}");
                            let first = |s: &str| {
                                s.lines()
                                    .next()
                                    .unwrap_or_default()
                                    .rsplit('/')
                                    .next()
                                    .unwrap()
                                    .to_string()
                            };
                            assert_eq!(first(&ours.stdout), first(&case.stdout), "{ours:?}");
                        }
                        _ => assert_eq!(ours.code, 0, "{ours:?}"),
                    }
                }
            }
        }
    }
    // PostgreSQL's transcript has fewer comparable lines: Glance refuses its rolling upgrade.
    let min = if dialect == Dialect::Postgres { 10 } else { 15 };
    assert!(
        compared >= min,
        "only {compared} commands compared exactly on {dialect}"
    );
}

per_dialect!(matches_glance => replay());
