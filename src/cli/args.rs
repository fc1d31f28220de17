//! The command line as clap types: global options, Glance's `db` actions (and their legacy
//! underscore forms) and their arguments. Parsing only; [`super`] dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// The old position of a command's --format (before `db`); checked against what the
    /// command supports.
    #[arg(long, value_enum, hide = true)]
    pub format: Option<Format>,
    /// Colour in diffs and diagnostics (auto: on a terminal, unless NO_COLOR is set).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Seconds to wait for another run's migration lock (0: fail at once if it is held).
    #[arg(
        long = "lock-timeout",
        global = true,
        value_name = "SECONDS",
        default_value_t = 120
    )]
    pub lock_timeout: u64,
}

/// Every output format some command has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sql,
}

/// The formats of a command that reports in text or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    /// Lines for people (Glance's own lines where Glance prints any).
    Text,
    /// One JSON document on stdout (shapes in docs/json-output.md).
    Json,
}

/// The formats of `db plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqlOrJson {
    /// The SQL script, commented with phases and sources.
    Sql,
    /// One JSON document on stdout (shapes in docs/json-output.md).
    Json,
}

/// `--format` of a command that reports in text or JSON.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<TextOrJson>,
}

impl OutputArgs {
    pub fn format(&self) -> Option<Format> {
        self.format.map(|f| match f {
            TextOrJson::Text => Format::Text,
            TextOrJson::Json => Format::Json,
        })
    }
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
    LegacyVersion(OutputArgs),
    #[command(name = "db_sync", hide = true)]
    LegacySync(UpgradeArgs),
    #[command(name = "db_upgrade", hide = true)]
    LegacyUpgrade(UpgradeArgs),
    #[command(name = "db_version_control", hide = true)]
    LegacyVersionControl(VersionControlArgs),
    #[command(name = "db_expand", hide = true)]
    LegacyExpand(OutputArgs),
    #[command(name = "db_migrate", hide = true)]
    LegacyMigrate(OutputArgs),
    #[command(name = "db_contract", hide = true)]
    LegacyContract(OutputArgs),
    #[command(name = "db_check", hide = true)]
    LegacyCheck(OutputArgs),
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Print database's current migration level
    Version(OutputArgs),
    /// Report any pending database upgrades.
    Check(OutputArgs),
    /// Perform a complete (offline) database migration
    Sync(UpgradeArgs),
    /// Upgrade the database's migration level
    Upgrade(UpgradeArgs),
    /// Place a database under migration control
    #[command(name = "version_control")]
    VersionControl(VersionControlArgs),
    /// Run the expansion phase of a database migration.
    Expand(PhaseArgs),
    /// Run the data migration phase of a database migration.
    Migrate(OutputArgs),
    /// Run the contraction phase of a database migration.
    Contract(PhaseArgs),
    /// Print the ordered SQL that `db upgrade` would run; changes nothing.
    Plan(PlanArgs),
    /// Compare the live schema with the snapshot of its recorded revision(s).
    Drift(OutputArgs),
    /// List the revision DAG with a summary of each revision's changes.
    History(OutputArgs),
    /// Purge deleted rows older than a given age from glance tables.
    Purge(PurgeArgs),
    /// Purge deleted rows older than a given age from images table.
    #[command(name = "purge_images_table")]
    PurgeImagesTable(PurgeArgs),
}

impl DbCommand {
    /// The `--format` given after the command, and the formats the command supports.
    pub fn format(&self) -> (Option<Format>, &'static [Format]) {
        const TJ: &[Format] = &[Format::Text, Format::Json];
        match self {
            DbCommand::Expand(p) | DbCommand::Contract(p) => (p.output.format(), TJ),
            DbCommand::Version(o)
            | DbCommand::Check(o)
            | DbCommand::Migrate(o)
            | DbCommand::Drift(o)
            | DbCommand::History(o) => (o.format(), TJ),
            DbCommand::Sync(u) | DbCommand::Upgrade(u) => (u.output.format(), TJ),
            DbCommand::VersionControl(v) => (v.output.format(), TJ),
            DbCommand::Purge(p) | DbCommand::PurgeImagesTable(p) => (p.output.format(), TJ),
            DbCommand::Plan(p) => (
                p.format.map(|f| match f {
                    SqlOrJson::Sql => Format::Sql,
                    SqlOrJson::Json => Format::Json,
                }),
                &[Format::Sql, Format::Json],
            ),
        }
    }
}

/// Arguments of `db sync` and `db upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub version: VersionArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// Arguments of `db expand` and `db contract`.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct PhaseArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// What the operator allows a schema change to do to the running database.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct PolicyArgs {
    /// Refuse (exit 1, nothing changed) a plan with a step whose lock is stronger than LEVEL:
    /// none (reads and writes carry on), shared (writes wait), exclusive (reads and writes
    /// wait). `db plan` shows each step's lock.
    #[arg(long = "max-lock", value_enum, value_name = "LEVEL")]
    pub max_lock: Option<MaxLock>,
    /// Run each step in the form that lets writers carry on (PostgreSQL: CREATE/DROP INDEX
    /// CONCURRENTLY, constraints added NOT VALID then validated; MariaDB: ALGORITHM=…,
    /// LOCK=NONE); refuse (exit 1, nothing changed) a plan with a step that has none.
    #[arg(long)]
    pub online: bool,
    /// Rehearse the plan on a scratch copy of the live schema (SQLite in memory, a temporary
    /// database on PostgreSQL/MariaDB) and require the target schema there before touching
    /// the live database; refuse (exit 1, nothing changed) with the difference otherwise.
    #[arg(long)]
    pub verify: bool,
}

/// `--max-lock` levels (`plan::hazard::Lock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MaxLock {
    None,
    Shared,
    Exclusive,
}

impl PolicyArgs {
    pub fn max_lock(&self) -> Option<crate::plan::hazard::Lock> {
        use crate::plan::hazard::Lock;
        self.max_lock.map(|m| match m {
            MaxLock::None => Lock::None,
            MaxLock::Shared => Lock::Shared,
            MaxLock::Exclusive => Lock::Exclusive,
        })
    }
}

/// Arguments of `db plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub version: VersionArgs,
    /// Output format.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<SqlOrJson>,
    /// Exit 1 (after printing the plan) when a step would take a stronger lock than LEVEL.
    #[command(flatten)]
    pub policy: PolicyArgs,
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
    /// Target revision (the same as the positional VERSION).
    #[arg(long = "version", value_name = "VERSION")]
    pub version: Option<String>,
}

impl VersionArgs {
    /// The version given, as `--version V` or positionally.
    pub fn get(&self) -> Option<&str> {
        self.version.as_deref().or(self.version_pos.as_deref())
    }
}

#[derive(Debug, Args)]
pub struct VersionControlArgs {
    /// Revision to record (default: liberty). Legacy numbers 42-45 are accepted.
    #[arg(value_name = "VERSION")]
    pub version_pos: Option<String>,
    /// Revision to record (the same as the positional VERSION).
    #[arg(long = "version", value_name = "VERSION")]
    pub version: Option<String>,
    /// Stamp even when the live schema does not match the revision.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum RevisionCommand {
    /// Write the working schema (schema/) from the heads of the history, one file per table.
    Init(SchemaDirArgs),
    /// Diff schema/ against the heads and write the expand revision (and the contract
    /// revision depending on it, when a change needs one).
    New(RevisionNewArgs),
    /// Check (for CI) that schema/ equals the heads, that no revision was edited after others
    /// were built on it, and that no fork is unmerged; non-zero exit otherwise.
    Check(SchemaDirArgs),
    /// Write a merge revision of two heads: the three-way merge of their schemas.
    Merge(RevisionMergeArgs),
    /// Record in every revision the digests of its parents as the files are now.
    Rehash,
}

/// The working schema directory option of the revision commands.
#[derive(Debug, Clone, Args)]
pub struct SchemaDirArgs {
    /// The working schema directory.
    #[arg(long = "schema-dir", value_name = "DIR", default_value = "schema")]
    pub schema_dir: PathBuf,
}

/// Arguments of `db purge` and `db purge_images_table`. Like Glance, the values are accepted as
/// options or positionally (`db purge 10 50`); positional values are validated as Glance does.
#[derive(Debug, Clone, Args)]
pub struct PurgeArgs {
    /// Age in days (positional form of --age_in_days).
    #[arg(value_name = "AGE_IN_DAYS", allow_negative_numbers = true)]
    pub age_in_days_pos: Option<String>,
    /// Maximal rows per table (positional form of --max_rows).
    #[arg(value_name = "MAX_ROWS", allow_negative_numbers = true)]
    pub max_rows_pos: Option<String>,
    /// Purge rows soft-deleted more than N days ago [default: 30; purge_images_table: 180].
    #[arg(
        long = "age_in_days",
        value_name = "N",
        value_parser = parse_int_option,
        allow_negative_numbers = true,
        conflicts_with = "age_in_days_pos"
    )]
    pub age_in_days: Option<i128>,
    /// At most M rows per table per run, oldest first; -1 for no limit [default: 100].
    #[arg(
        long = "max_rows",
        value_name = "M",
        value_parser = parse_int_option,
        allow_negative_numbers = true,
        conflicts_with = "max_rows_pos"
    )]
    pub max_rows: Option<i128>,
    /// Print the plan (tables in order, SQL, rows each step would delete); change nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Most rows per batch (each batch is its own short transaction; sizes follow
    /// --batch-seconds up to this).
    #[arg(long = "batch-size", value_name = "N", default_value_t = 50_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// Target duration of one batch, in seconds: batches start at 100 rows and grow or shrink
    /// (at most 4x per batch) towards it, which bounds how long a batch holds its locks.
    #[arg(long = "batch-seconds", value_name = "SECONDS", default_value_t = 0.5,
          value_parser = parse_batch_seconds)]
    pub batch_seconds: f64,
    /// Connections to purge with at once: tables that do not depend on each other are purged
    /// side by side, and a table purged alone (images) is split into key ranges. 1: one table
    /// at a time, as Glance does. SQLite always uses one (it has one writer at a time).
    #[arg(long = "jobs", value_name = "N", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    pub jobs: u64,
    /// purge_images_table only: purge the unreferenced images and keep the referenced ones,
    /// instead of refusing.
    #[arg(long = "skip-referenced")]
    pub skip_referenced: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// A positive, finite number of seconds.
fn parse_batch_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number of seconds between 0 and 3600 (e.g. 0.5)"
        )),
    }
}

/// Python's `int(str)` for base 10: surrounding whitespace, a sign, digits with single
/// underscores between them. Values beyond i128 saturate (they fail the range checks anyway).
pub fn py_int(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let mut v: i128 = 0;
    for c in digits.chars().filter(|c| *c != '_') {
        v = v
            .saturating_mul(10)
            .saturating_add(i128::from(c as u8 - b'0'));
    }
    Some(if neg { -v } else { v })
}

fn parse_int_option(s: &str) -> Result<i128, String> {
    py_int(s).ok_or_else(|| format!("invalid int value: '{s}'"))
}

#[derive(Debug, clap::Args)]
pub struct RevisionNewArgs {
    /// The release (`2025_1`: writes 2025_1_expand01 and 2025_1_contract01, or the next free
    /// number), or a full name (`2025_1_expand02`).
    pub name: String,
    /// Write only this branch's revision (expand refuses destructive changes).
    #[arg(long, value_parser = ["expand", "contract"])]
    pub branch: Option<String>,
    /// One-line description stored in the revision(s).
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub schema: SchemaDirArgs,
}

#[derive(Debug, clap::Args)]
pub struct RevisionMergeArgs {
    /// One head to merge (its file is where conflicts are shown).
    pub ours: String,
    /// The other head.
    pub theirs: String,
    /// Name of the merge revision (default: the next free `<release>_<branch>NN` of OURS).
    #[arg(long)]
    pub name: Option<String>,
    /// One-line description stored in the merge revision.
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub schema: SchemaDirArgs,
}
