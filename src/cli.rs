//! Command-line parsing (clap) and dispatch. The behaviour lives in `commands`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use miette::Report;

use crate::commands::{self, Context, Failure};
use crate::config;
use crate::revisions::RevisionSet;

#[derive(Debug, Parser)]
#[command(
    name = "glance-manage",
    about = "Glance database management: schema migrations as declarative snapshots",
    version,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Top>,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Database URL, SQLAlchemy form as in glance-api.conf (e.g. mysql+pymysql://glance:PW@host/glance).
    #[arg(long = "database-url", global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// oslo.config INI file with `[database] connection` (repeatable; later files win).
    /// Without it, Glance's default files are read (glance.conf, glance-api.conf,
    /// glance-manage.conf in ~/.glance, ~, /etc/glance, /etc).
    #[arg(long = "config-file", global = true, value_name = "FILE")]
    pub config_file: Vec<PathBuf>,
    /// Directory whose *.conf files are read in sorted order, after the --config-file
    /// options given before it (repeatable). Without it, Glance's default .conf.d
    /// directories are read.
    #[arg(long = "config-dir", global = true, value_name = "DIR")]
    pub config_dir: Vec<PathBuf>,
    /// Say on stderr which database is used and where that setting came from.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// A directory of revision snapshots to use instead of Glance's built-in history.
    #[arg(long, global = true, value_name = "DIR")]
    pub revisions: Option<PathBuf>,
    /// Output format for commands that report something.
    #[arg(long, global = true, value_enum)]
    pub format: Option<Format>,
    /// Colour in diffs.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Seconds to wait for another run's migration lock.
    #[arg(
        long = "lock-timeout",
        global = true,
        value_name = "SECONDS",
        default_value_t = 120
    )]
    pub lock_timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Top {
    /// Database commands (Glance's `glance-manage db ...`).
    Db {
        #[command(subcommand)]
        action: Option<DbCommand>,
    },
    /// Maintain the revision history.
    Revision {
        #[command(subcommand)]
        action: RevisionCommand,
    },
    // Glance's legacy underscore forms.
    #[command(name = "db_version", hide = true)]
    LegacyVersion,
    #[command(name = "db_sync", hide = true)]
    LegacySync(VersionArgs),
    #[command(name = "db_upgrade", hide = true)]
    LegacyUpgrade(VersionArgs),
    #[command(name = "db_version_control", hide = true)]
    LegacyVersionControl(VersionControlArgs),
    #[command(name = "db_expand", hide = true)]
    LegacyExpand,
    #[command(name = "db_migrate", hide = true)]
    LegacyMigrate,
    #[command(name = "db_contract", hide = true)]
    LegacyContract,
    #[command(name = "db_check", hide = true)]
    LegacyCheck,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Print database's current migration level
    Version,
    /// Report any pending database upgrades.
    Check,
    /// Perform a complete (offline) database migration
    Sync(VersionArgs),
    /// Upgrade the database's migration level
    Upgrade(VersionArgs),
    /// Place a database under migration control
    #[command(name = "version_control")]
    VersionControl(VersionControlArgs),
    /// Run the expansion phase of a database migration.
    Expand,
    /// Run the data migration phase of a database migration.
    Migrate,
    /// Run the contraction phase of a database migration.
    Contract,
    /// Print the ordered SQL that `db upgrade` would run; changes nothing.
    Plan(VersionArgs),
    /// Compare the live schema with the snapshot of its recorded revision(s).
    Drift,
    /// List the revision DAG with a summary of each revision's changes.
    History,
    /// Purge deleted rows older than a given age from glance tables.
    Purge(crate::purge::PurgeArgs),
    /// Purge deleted rows older than a given age from images table.
    #[command(name = "purge_images_table")]
    PurgeImagesTable(crate::purge::PurgeArgs),
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Target revision (default: head). Legacy numbers 42-45 are accepted.
    #[arg(value_name = "VERSION")]
    pub version_pos: Option<String>,
    /// Legacy form `db sync VERSION CURRENT_VERSION`: place the database under control at
    /// CURRENT_VERSION first.
    #[arg(value_name = "CURRENT_VERSION")]
    pub current_version: Option<String>,
    #[arg(long = "version", value_name = "VERSION")]
    pub version: Option<String>,
}

impl VersionArgs {
    fn get(&self) -> Option<&str> {
        self.version.as_deref().or(self.version_pos.as_deref())
    }
}

#[derive(Debug, Args)]
pub struct VersionControlArgs {
    #[arg(value_name = "VERSION")]
    pub version_pos: Option<String>,
    #[arg(long = "version", value_name = "VERSION")]
    pub version: Option<String>,
    /// Stamp even when the live schema does not match the revision.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum RevisionCommand {
    /// Freeze the working schema (schema/) into revisions/NAME.toml.
    New(commands::RevisionNewArgs),
}

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

fn install_report_handler(color: bool) {
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color)
                .unicode(color)
                .terminal_links(false)
                // Never wrap: messages stay greppable.
                .width(usize::MAX / 2)
                .wrap_lines(false)
                .build(),
        )
    }));
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    install_report_handler(
        color && std::io::stderr().is_terminal() || cli.global.color == ColorChoice::Always,
    );
    let Some(command) = cli.command else {
        let argv0 = std::env::args()
            .next()
            .unwrap_or_else(|| "glance-manage".into());
        println!("{argv0} category action [<args>]");
        println!("Available categories:");
        println!("\tdb");
        return ExitCode::from(2);
    };
    if let Top::Db { action: None } = command {
        println!("Available actions for 'db':");
        for (name, doc) in DB_ACTIONS {
            println!("\t{name} - {doc}");
        }
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("glance-manage: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let drift = matches!(
        command,
        Top::Db {
            action: Some(DbCommand::Drift)
        }
    );
    let result = runtime.block_on(run(cli.global, command, color));
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
fn database(g: &GlobalArgs, connects: bool) -> Result<config::DbUrl, Failure> {
    let argv: Vec<String> = std::env::args().collect();
    let cli_sources = config::discovery::interleave(&g.config_file, &g.config_dir, &argv);
    let resolved = config::Config::load(&cli_sources, config::Environment::from_process())
        .and_then(|c| config::resolve(g.database_url.as_deref(), &c));
    let resolved = match resolved {
        Ok(r) => r,
        Err(e) if connects => return Err(e.into()),
        Err(_) => return Ok(config::DbUrl::default_sqlite()),
    };
    if !connects {
        return Ok(resolved.url);
    }
    if resolved.origin == config::Origin::EmbeddedDefault {
        commands::note(&format!(
            "note: no Glance configuration found (searched ~/.glance, ~, /etc/glance and /etc \
             for glance.conf, glance-api.conf, glance-manage.conf and their .conf.d \
             directories); using the embedded SQLite database {}",
            config::sqlite_path(&resolved.url).display()
        ));
    } else if g.verbose {
        commands::note(&format!("using {} from {}", resolved.url, resolved.origin));
    }
    if g.verbose && !resolved.files_read.is_empty() {
        let files: Vec<String> = resolved
            .files_read
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        commands::note(&format!("configuration files read: {}", files.join(", ")));
    }
    Ok(resolved.url)
}

fn context(
    g: &GlobalArgs,
    color: bool,
    default_format: Format,
    connects: bool,
) -> Result<Context, Failure> {
    let url = database(g, connects)?;
    let revisions = match &g.revisions {
        Some(dir) => RevisionSet::from_dir(dir)?,
        None => RevisionSet::builtin()?,
    };
    let format = g.format.unwrap_or(default_format);
    Ok(Context {
        url,
        revisions,
        json: format == Format::Json,
        color,
        lock_timeout: Duration::from_secs(g.lock_timeout),
    })
}

async fn run(g: GlobalArgs, command: Top, color: bool) -> Result<u8, Failure> {
    use DbCommand as D;
    let db = match command {
        Top::Db { action: Some(a) } => a,
        Top::Db { action: None } => unreachable!("handled before"),
        Top::Revision {
            action: RevisionCommand::New(args),
        } => return commands::revision_new(&g, &args),
        Top::LegacyVersion => D::Version,
        Top::LegacySync(v) => D::Sync(v),
        Top::LegacyUpgrade(v) => D::Upgrade(v),
        Top::LegacyVersionControl(v) => D::VersionControl(v),
        Top::LegacyExpand => D::Expand,
        Top::LegacyMigrate => D::Migrate,
        Top::LegacyContract => D::Contract,
        Top::LegacyCheck => D::Check,
    };
    if let (Some(f), D::Plan(_)) = (g.format, &db)
        && f == Format::Text
    {
        return Err(commands::fail(
            "`db plan` prints --format sql (default) or json",
            None,
        ));
    }
    let connects = !matches!(db, D::History);
    let ctx = context(&g, color, Format::Text, connects)?;
    match db {
        D::Version => commands::version(&ctx).await,
        D::History => commands::history(&ctx),
        D::Plan(v) => commands::plan(&ctx, v.get()).await,
        D::Drift => commands::drift(&ctx).await,
        D::Sync(v) => commands::sync(&ctx, v.get(), v.current_version.as_deref()).await,
        D::Upgrade(v) => commands::upgrade(&ctx, v.get()).await,
        D::VersionControl(v) => {
            commands::version_control(
                &ctx,
                v.version.as_deref().or(v.version_pos.as_deref()),
                v.force,
            )
            .await
        }
        D::Expand => commands::expand(&ctx).await,
        D::Migrate => commands::migrate(&ctx).await,
        D::Contract => commands::contract(&ctx).await,
        D::Check => commands::check(&ctx).await,
        D::Purge(a) => crate::purge::purge_command(&ctx, &a, false).await,
        D::PurgeImagesTable(a) => crate::purge::purge_command(&ctx, &a, true).await,
    }
}

/// Renders a failure for stderr. Glance's own messages (`sys.exit("...")`) are printed as the
/// bare line, unwrapped, so operators' scripts that grep for them keep working; a help line
/// follows. Everything else is a miette diagnostic.
pub fn render_failure(r: &Report) -> String {
    if let Some(m) = r.downcast_ref::<commands::Message>() {
        let mut s = format!("{}\n", m.message);
        if let Some(h) = &m.help {
            s.push_str(&format!("help: {h}\n"));
        }
        return s;
    }
    format!("{r:?}\n")
}
