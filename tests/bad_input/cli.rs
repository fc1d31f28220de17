//! Unknown commands and options: clap rejects them with exit code 2.

use super::*;

pub(super) fn cases(v: &mut Vec<Case>) {
    // --- unknown commands and options: clap, exit 2 ---------------------------------------
    let c2 = |name: &str, args: &[&str], msg: &str| case(name, args).code(2).err(msg);
    v.push(c2(
        "unknown db command",
        &["db", "frob"],
        "unrecognized subcommand 'frob'",
    ));
    v.push(c2(
        "unknown category",
        &["frob"],
        "unrecognized subcommand 'frob'",
    ));
    v.push(c2(
        "no legacy db_purge",
        &["db_purge"],
        "unrecognized subcommand 'db_purge'",
    ));
    v.push(c2(
        "load_metadefs unsupported",
        &["db", "load_metadefs"],
        "unrecognized subcommand",
    ));
    v.push(c2(
        "unknown sync option",
        &["db", "sync", "--frob"],
        "unexpected argument '--frob'",
    ));
    v.push(c2(
        "short option",
        &["db", "sync", "-x"],
        "unexpected argument '-x'",
    ));
    v.push(c2(
        "three positionals",
        &["db", "sync", "a", "b", "c"],
        "unexpected argument 'c'",
    ));
    v.push(c2(
        "version extra",
        &["db", "version", "extra"],
        "unexpected argument 'extra'",
    ));
    v.push(c2(
        "history extra",
        &["db", "history", "extra"],
        "unexpected argument 'extra'",
    ));
    v.push(c2(
        "check --force",
        &["db", "check", "--force"],
        "unexpected argument '--force'",
    ));
    v.push(c2(
        "drift extra",
        &["db", "drift", "x"],
        "unexpected argument 'x'",
    ));
    v.push(c2(
        "bad --format",
        &["--format", "yaml", "db", "version"],
        "invalid value 'yaml'",
    ));
    v.push(c2(
        "bad --color",
        &["--color", "purple", "db", "version"],
        "invalid value 'purple'",
    ));
    v.push(c2(
        "bad --lock-timeout",
        &["--lock-timeout", "abc", "db", "sync"],
        "invalid value 'abc'",
    ));
    v.push(c2(
        "negative --lock-timeout",
        &["--lock-timeout", "-1", "db", "sync"],
        "unexpected argument '-1'",
    ));
    v.push(c2(
        "--version without value",
        &["db", "sync", "--version"],
        "a value is required",
    ));
    v.push(c2(
        "--force=yes",
        &["db", "version_control", "--force=yes"],
        "unexpected value 'yes'",
    ));
    v.push(c2(
        "--dry-run=yes",
        &["db", "purge", "--dry-run=yes"],
        "unexpected value 'yes'",
    ));
    v.push(c2(
        "revision new without name",
        &["revision", "new"],
        "required",
    ));
    v.push(
        case("--database-url without value", &["--database-url"])
            .raw()
            .code(2)
            .err("a value is required"),
    );
    v.push(
        case(
            "--config-file without value",
            &["db", "version", "--config-file"],
        )
        .raw()
        .code(2)
        .err("a value is required"),
    );
    v.push(
        case("no arguments", &[])
            .raw()
            .code(2)
            .out("Available categories"),
    );
    v.push(
        case("db alone", &["db"])
            .code(2)
            .out("Available actions for 'db'"),
    );
    // A format a command does not have is a usage error (exit 2), never ignored.
    v.push(
        case("plan --format text", &["--format", "text", "db", "plan"])
            .code(2)
            .err("this command prints sql or json"),
    );
    v.push(
        case(
            "plan --format text after db",
            &["db", "plan", "--format", "text"],
        )
        .code(2)
        .err("invalid value 'text'"),
    );
}
