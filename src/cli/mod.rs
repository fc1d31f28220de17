//! The command line: arguments parsed once (`args`) into a typed `Context`, each command
//! group in its own file, and everything printed from here (libraries below report through
//! return values and events, never to the terminal).

mod args;
mod context;
mod glance;
mod inspect;
mod output;
mod plan_view;
mod progress;
mod purge;
mod revision;
mod upgrade;

use std::process::ExitCode;
use std::time::Duration;

use crate::config;
use crate::revisions::RevisionSet;
use args::{Cli, DbCommand, Format, GlobalArgs, RevisionCommand, Top};
use context::{Context, Failure};
use output::{install_report_handler, note, out, render_failure, use_color};

const DB_ACTIONS: &[(&str, &str)] = &[
    ("check", "Report any pending database upgrades."),
    (
        "contract",
        "Run the contraction phase of a database migration.",
    ),
    (
        "drift",
        "Compare the live schema with the snapshot of its recorded revision(s).",
    ),
    ("expand", "Run the expansion phase of a database migration."),
    (
        "history",
        "List the revision DAG with a summary of each revision's changes.",
    ),
    (
        "migrate",
        "Run the data migration phase of a database migration.",
    ),
    (
        "plan",
        "Print the ordered SQL that `db upgrade` would run; changes nothing.",
    ),
    (
        "purge",
        "Purge deleted rows older than a given age from glance tables.",
    ),
    (
        "purge_images_table",
        "Purge deleted rows older than a given age from images table.",
    ),
    ("sync", "Perform a complete (offline) database migration"),
    ("upgrade", "Upgrade the database's migration level"),
    ("version", "Print database's current migration level"),
    (
        "version_control",
        "Place a database under migration control",
    ),
];

/// The global options that only matter to commands opening the database.
const DATABASE_OPTIONS: [&str; 5] = [
    "database_url",
    "config_file",
    "config_dir",
    "verbose",
    "lock_timeout",
];

/// The clap command, with the database options hidden from the help of the `revision`
/// commands, which never open a database and refuse them. (`db history` accepts them, so that
/// wrappers passing `--config-file` to every command keep working, and ignores the database.)
pub fn clap_command() -> clap::Command {
    let cmd = <Cli as clap::CommandFactory>::command();
    // clap copies a global option into each subcommand that has no option of that id yet:
    // giving those subcommands a hidden copy first keeps it out of their help.
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| DATABASE_OPTIONS.contains(&a.get_id().as_str()))
        .map(|a| a.clone().hide(true))
        .collect();
    let hide = |mut c: clap::Command| {
        for a in &hidden {
            c = c.arg(a.clone());
        }
        c
    };
    let mut cmd = cmd;
    let names: Vec<String> = cmd
        .find_subcommand("revision")
        .map(|r| {
            r.get_subcommands()
                .map(|c| c.get_name().to_string())
                .collect()
        })
        .unwrap_or_default();
    cmd = cmd.mut_subcommand("revision", |mut r| {
        for n in names {
            r = r.mut_subcommand(n, hide);
        }
        hide(r)
    });
    cmd
}

fn parse() -> Cli {
    let matches = clap_command().get_matches();
    let refuses_database = matches!(matches.subcommand(), Some(("revision", _)));
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    if refuses_database {
        let given = |id: &str| {
            [&matches]
                .into_iter()
                .chain(leaf(&matches))
                .any(|m| m.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
        };
        if let Some(id) = DATABASE_OPTIONS.iter().find(|id| given(id)) {
            let flag = format!("--{}", id.replace('_', "-"));
            clap_command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!("{flag} does not apply: this command never opens a database"),
                )
                .exit();
        }
    }
    cli
}

/// The matches of the innermost subcommand, and those on the way to it.
fn leaf(m: &clap::ArgMatches) -> Vec<&clap::ArgMatches> {
    let mut out = Vec::new();
    let mut cur = m;
    while let Some((_, sub)) = cur.subcommand() {
        out.push(sub);
        cur = sub;
    }
    out
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = parse();
    // Diffs go to stdout, diagnostics to stderr: each stream decides for itself.
    let color = use_color(cli.global.color, &std::io::stdout());
    install_report_handler(use_color(cli.global.color, &std::io::stderr()));
    let Some(command) = cli.command else {
        let argv0 = std::env::args()
            .next()
            .unwrap_or_else(|| "glance-manage".into());
        out(&format!("{argv0} category action [<args>]"));
        out("Available categories:");
        out("\tdb");
        return ExitCode::from(2);
    };
    if let Top::Db { action: None } = command {
        out("Available actions for 'db':");
        for (name, doc) in DB_ACTIONS {
            out(&format!("\t{name} - {doc}"));
        }
        return ExitCode::from(2);
    }
    let format = match command_format(&cli.global, &command) {
        Ok(f) => f,
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            output::note(&format!(
                "glance-manage: cannot start the async runtime: {e}"
            ));
            return ExitCode::from(1);
        }
    };
    let drift = matches!(
        command,
        Top::Db {
            action: Some(DbCommand::Drift(_))
        }
    );
    let result = runtime.block_on(run(cli.global, command, color, format));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            // Not eprint!: it panics (exit 101) when stderr is a closed pipe
            // (`glance-manage db sync 2>&1 | head -1`).
            use std::io::Write;
            let _ = std::io::stderr().write_all(render_failure(&f.report).as_bytes());
            ExitCode::from(if drift { 2 } else { f.code })
        }
    }
}

/// Resolves the database from the command line, the environment and Glance's configuration
/// files, and reports the choice on stderr: always when it is the embedded default, with
/// `--verbose` otherwise. `connects` is false for commands that never open the database:
/// they do not fail on configuration they do not use.
fn database(
    g: &GlobalArgs,
    connects: bool,
) -> Result<(config::DbUrl, config::DatabaseOptions), Failure> {
    let argv: Vec<String> = std::env::args().collect();
    let cli_sources = config::discovery::interleave(&g.config_file, &g.config_dir, &argv);
    let resolved = config::Config::load(&cli_sources, config::Environment::from_process())
        .and_then(|c| config::resolve(g.database_url.as_deref(), &c));
    let resolved = match resolved {
        Ok(r) => r,
        Err(e) if connects => return Err(e.into()),
        Err(_) => return Ok((config::DbUrl::default_sqlite(), Default::default())),
    };
    if !connects {
        return Ok((resolved.url, resolved.options));
    }
    if resolved.origin == config::Origin::EmbeddedDefault {
        note(&format!(
            "note: no Glance configuration found (searched ~/.glance, ~, /etc/glance and /etc \
             for glance.conf, glance-api.conf, glance-manage.conf and their .conf.d \
             directories); using the embedded SQLite database {}",
            config::sqlite_path(&resolved.url).display()
        ));
    } else if g.verbose {
        note(&format!("using {} from {}", resolved.url, resolved.origin));
    }
    if g.verbose && !resolved.files_read.is_empty() {
        let files: Vec<String> = resolved
            .files_read
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        note(&format!("configuration files read: {}", files.join(", ")));
    }
    Ok((resolved.url, resolved.options))
}

/// The `--format` a command runs with: its own, or the old position before `db`; a format the
/// command does not have is a usage error (exit 2), never silently ignored.
fn command_format(g: &GlobalArgs, command: &Top) -> Result<Option<Format>, clap::Error> {
    let (own, supported): (Option<Format>, &[Format]) = match command {
        Top::Db { action: Some(a) } => a.format(),
        Top::Db { action: None } | Top::Revision { .. } => (None, &[]),
        Top::LegacyVersion(o)
        | Top::LegacyExpand(o)
        | Top::LegacyMigrate(o)
        | Top::LegacyContract(o)
        | Top::LegacyCheck(o) => (o.format(), &[Format::Text, Format::Json]),
        Top::LegacySync(u) | Top::LegacyUpgrade(u) => {
            (u.output.format(), &[Format::Text, Format::Json])
        }
        Top::LegacyVersionControl(v) => (v.output.format(), &[Format::Text, Format::Json]),
    };
    let Some(f) = own.or(g.format) else {
        return Ok(None);
    };
    if supported.contains(&f) {
        return Ok(Some(f));
    }
    let name = |f: &Format| format!("{f:?}").to_lowercase();
    let msg = if supported.is_empty() {
        format!("this command has no --format (given `{}`)", name(&f))
    } else {
        let names: Vec<String> = supported.iter().map(name).collect();
        format!(
            "invalid value '{}' for '--format <FORMAT>': this command prints {}",
            name(&f),
            names.join(" or ")
        )
    };
    Err(clap_command().error(clap::error::ErrorKind::InvalidValue, msg))
}

fn context(
    g: &GlobalArgs,
    color: bool,
    format: Option<Format>,
    connects: bool,
) -> Result<Context, Failure> {
    let (url, db_options) = database(g, connects)?;
    let revisions = match &g.revisions {
        Some(dir) => RevisionSet::from_dir(dir)?,
        None => RevisionSet::builtin()?,
    };
    Ok(Context {
        url,
        revisions,
        json: format == Some(Format::Json),
        color,
        lock_timeout: Duration::from_secs(g.lock_timeout),
        db_options,
        verbose: g.verbose,
        max_lock: None,
        online: false,
        verify: false,
    })
}

async fn run(
    g: GlobalArgs,
    command: Top,
    color: bool,
    format: Option<Format>,
) -> Result<u8, Failure> {
    use DbCommand as D;
    let db = match command {
        Top::Db { action: Some(a) } => a,
        Top::Db { action: None } => unreachable!("handled before"),
        Top::Revision { action } => {
            return match action {
                RevisionCommand::Init(a) => revision::init(&g, &a),
                RevisionCommand::New(a) => revision::new(&g, &a),
                RevisionCommand::Check(a) => revision::check(&g, &a, color),
                RevisionCommand::Merge(a) => revision::merge(&g, &a),
                RevisionCommand::Rehash => revision::rehash(&g),
            };
        }
        Top::LegacyVersion(o) => D::Version(o),
        Top::LegacySync(v) => D::Sync(v),
        Top::LegacyUpgrade(v) => D::Upgrade(v),
        Top::LegacyVersionControl(v) => D::VersionControl(v),
        Top::LegacyExpand(o) => D::Expand(args::PhaseArgs {
            output: o,
            ..Default::default()
        }),
        Top::LegacyMigrate(o) => D::Migrate(o),
        Top::LegacyContract(o) => D::Contract(args::PhaseArgs {
            output: o,
            ..Default::default()
        }),
        Top::LegacyCheck(o) => D::Check(o),
    };
    let connects = !matches!(db, D::History(_));
    let mut ctx = context(&g, color, format, connects)?;
    let policy = match &db {
        D::Sync(u) | D::Upgrade(u) => Some(u.policy),
        D::Expand(p) | D::Contract(p) => Some(p.policy),
        D::Plan(p) => Some(p.policy),
        _ => None,
    };
    if let Some(p) = policy {
        ctx.max_lock = p.max_lock();
        ctx.online = p.online;
        ctx.verify = p.verify;
    }
    match db {
        D::Version(_) => inspect::version(&ctx).await,
        D::History(_) => inspect::history(&ctx),
        D::Plan(p) => inspect::plan(&ctx, p.version.get()).await,
        D::Drift(_) => inspect::drift(&ctx).await,
        D::Sync(u) => {
            upgrade::sync(&ctx, u.version.get(), u.version.current_version.as_deref()).await
        }
        D::Upgrade(u) => upgrade::upgrade(&ctx, u.version.get()).await,
        D::VersionControl(v) => {
            upgrade::version_control(
                &ctx,
                v.version.as_deref().or(v.version_pos.as_deref()),
                v.force,
            )
            .await
        }
        D::Expand(_) => upgrade::expand(&ctx).await,
        D::Migrate(_) => upgrade::migrate(&ctx).await,
        D::Contract(_) => upgrade::contract(&ctx).await,
        D::Check(_) => inspect::check(&ctx).await,
        D::Purge(a) => purge::purge(&ctx, &a, false).await,
        D::PurgeImagesTable(a) => purge::purge(&ctx, &a, true).await,
    }
}
