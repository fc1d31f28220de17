//! Where the database comes from: the URL format ([`url`]), oslo.config's INI dialect
//! ([`oslo_ini`]), which files Glance reads ([`discovery`]), and the precedence that picks one
//! value ([`Config::get`], [`resolve`]).
//!
//! Precedence, as oslo.config applies it for Glance: `--database-url` (ours; a command-line
//! value), then the environment (`OS_DATABASE__CONNECTION`), then the configuration files, the
//! last parsed winning. The embedded SQLite default `./glance.sqlite` is used only when there is
//! no configuration at all; when configuration exists but sets no connection, resolution fails
//! like Glance does, naming the files read.
//!
//! Nothing here prints: the caller reports the [`Origin`] (e.g. `--verbose`) and the
//! default-database notice.

pub mod discovery;
pub mod oslo_ini;
pub mod url;

use std::fmt;
use std::path::{Path, PathBuf};

pub use discovery::{CliSource, Environment};
pub use url::{DEFAULT_SQLITE_FILE, DbUrl, UrlError, redact_raw, sqlite_path};

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--database-url`.
    CommandLine,
    /// An `OS_<GROUP>__<OPTION>` environment variable (its name).
    Environment(String),
    File {
        path: PathBuf,
        line: usize,
    },
    /// Nothing configured: the embedded SQLite database.
    EmbeddedDefault,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CommandLine => write!(f, "--database-url"),
            Origin::Environment(var) => write!(f, "environment variable {var}"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::EmbeddedDefault => write!(f, "the embedded default (no configuration found)"),
        }
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub origin: Origin,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    #[diagnostic(help("check the path and its permissions"))]
    Read { path: String, reason: String },
    #[error("cannot read config directory {path}: {reason}")]
    #[diagnostic(help("--config-dir takes an existing directory; every *.conf in it is read"))]
    Dir { path: String, reason: String },
    #[error("cannot parse config file {path}, line {line}: {reason}")]
    #[diagnostic(help(
        "oslo.config files are INI: [section] headers, `key = value` lines, `#` or `;` comments \
         in the first column; an indented line continues the previous value"
    ))]
    Syntax {
        path: String,
        line: usize,
        reason: String,
    },
    #[error(
        "no database connection configured: [database] connection is not set in {}",
        sources.join(", ")
    )]
    #[diagnostic(help(
        "set `connection = mysql+pymysql://glance:PASSWORD@controller/glance` in the [database] \
         section, or pass --database-url, or set OS_DATABASE__CONNECTION"
    ))]
    NoConnection { sources: Vec<String> },
    #[error("the database connection from {origin} is empty")]
    #[diagnostic(help("set [database] connection to the database URL Glance uses"))]
    EmptyConnection { origin: String },
    #[error("invalid database URL {shown} from {origin}: {reason}")]
    #[diagnostic(help(
        "write it as in glance-api.conf, e.g. sqlite:////var/lib/glance/glance.sqlite, \
         mysql+pymysql://glance:PASSWORD@controller/glance or postgresql://glance:PASSWORD@controller/glance"
    ))]
    Url {
        shown: String,
        origin: String,
        reason: String,
    },
    #[error("invalid value `{value}` for [{group}] {option} from {origin}: {reason}")]
    Value {
        group: String,
        option: String,
        value: String,
        origin: String,
        reason: String,
    },
}

/// The configuration as oslo.config would see it for `glance-manage`.
#[derive(Debug, Clone)]
pub struct Config {
    env: Environment,
    /// Parsed files in parse order (a file may appear twice, as in Glance).
    files: Vec<oslo_ini::IniFile>,
    /// `--config-file`/`--config-dir` given.
    explicit: bool,
    default_dirs_found: Vec<PathBuf>,
}

impl Config {
    /// Finds and parses the configuration for a command line's `--config-file`/`--config-dir`
    /// (in command-line order) in the given environment.
    pub fn load(cli: &[CliSource], env: Environment) -> Result<Config, ConfigError> {
        let plan = discovery::plan(cli, &env).map_err(|e| match e {
            discovery::PlanError::DirNotFound(p) => ConfigError::Dir {
                path: p.display().to_string(),
                reason: "no such directory".into(),
            },
            discovery::PlanError::DirUnreadable(p, reason) => ConfigError::Dir {
                path: p.display().to_string(),
                reason,
            },
        })?;
        let mut files: Vec<oslo_ini::IniFile> = Vec::new();
        for planned in &plan.files {
            // Glance parses a duplicated default file twice; the text is the same.
            if let Some(seen) = files.iter().find(|f| f.path == planned.path) {
                files.push(seen.clone());
                continue;
            }
            files.push(read_file(&planned.path)?);
        }
        Ok(Config {
            env,
            files,
            explicit: !cli.is_empty(),
            default_dirs_found: plan.default_dirs_found,
        })
    }

    /// The files read, each once, in first-read order.
    pub fn files_read(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        for f in &self.files {
            if !out.contains(&f.path.as_path()) {
                out.push(&f.path);
            }
        }
        out
    }

    /// Whether any configuration source exists: a file read, a default `.conf.d` directory,
    /// a `--config-file`/`--config-dir`, or an `OS_DATABASE__…` variable.
    pub fn exists(&self) -> bool {
        self.explicit
            || !self.files.is_empty()
            || !self.default_dirs_found.is_empty()
            || self
                .env
                .os_vars
                .keys()
                .any(|k| k.starts_with("OS_DATABASE__"))
    }

    /// `group.option` with oslo's precedence: environment, then the last file that sets it.
    pub fn get(&self, group: &str, option: &str) -> Option<Setting> {
        let var = Environment::var_name(group, option);
        if let Some(v) = self.env.os_vars.get(&var) {
            return Some(Setting {
                value: v.clone(),
                origin: Origin::Environment(var),
            });
        }
        self.files.iter().rev().find_map(|f| {
            f.get(group, option).map(|e| Setting {
                value: e.value.clone(),
                origin: Origin::File {
                    path: f.path.clone(),
                    line: e.line,
                },
            })
        })
    }

    /// What was searched, for messages: the files read, else the default directories.
    fn sources(&self) -> Vec<String> {
        let mut s: Vec<String> = self
            .files_read()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        if s.is_empty() {
            s = self
                .default_dirs_found
                .iter()
                .map(|d| format!("{} (no *.conf files)", d.display()))
                .collect();
        }
        if s.is_empty() {
            s.push("the configuration given (no *.conf files)".into());
        }
        s
    }
}

fn read_file(path: &Path) -> Result<oslo_ini::IniFile, ConfigError> {
    let read_err = |reason: String| ConfigError::Read {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| read_err("not valid UTF-8".into()))?;
    oslo_ini::parse(path, &text).map_err(|e| ConfigError::Syntax {
        path: path.display().to_string(),
        line: e.line,
        // The offending line is not echoed: it may hold a password.
        reason: e.message.to_string(),
    })
}

/// Database settings besides the URL that change how we connect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseOptions {
    /// `[database] mysql_wsrep_sync_wait` (Galera causality checks), if set.
    pub mysql_wsrep_sync_wait: Option<u32>,
}

/// The database a command uses, and why.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub url: DbUrl,
    pub origin: Origin,
    /// Configuration files read, each once.
    pub files_read: Vec<PathBuf>,
    pub options: DatabaseOptions,
}

/// Picks the database URL: `--database-url`, else `[database] connection` from the environment
/// or the files, else — only when no configuration exists — the embedded SQLite default.
pub fn resolve(database_url: Option<&str>, config: &Config) -> Result<Resolved, ConfigError> {
    let setting = match database_url {
        Some(u) => Setting {
            value: u.to_string(),
            origin: Origin::CommandLine,
        },
        None => match config.get("database", "connection") {
            Some(s) => s,
            None if config.exists() => {
                return Err(ConfigError::NoConnection {
                    sources: config.sources(),
                });
            }
            None => Setting {
                value: String::new(),
                origin: Origin::EmbeddedDefault,
            },
        },
    };
    let url = match &setting.origin {
        Origin::EmbeddedDefault => DbUrl::default_sqlite(),
        origin => {
            if setting.value.trim().is_empty() {
                return Err(ConfigError::EmptyConnection {
                    origin: origin.to_string(),
                });
            }
            DbUrl::parse(&setting.value).map_err(|e| ConfigError::Url {
                shown: e.shown,
                origin: origin.to_string(),
                reason: e.reason,
            })?
        }
    };
    let options = DatabaseOptions {
        mysql_wsrep_sync_wait: match config.get("database", "mysql_wsrep_sync_wait") {
            None => None,
            Some(s) => Some(
                s.value
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| ConfigError::Value {
                        group: "database".into(),
                        option: "mysql_wsrep_sync_wait".into(),
                        value: s.value.clone(),
                        origin: s.origin.to_string(),
                        reason: "expected a whole number (0-15)".into(),
                    })?,
            ),
        },
    };
    Ok(Resolved {
        url,
        origin: setting.origin,
        files_read: config
            .files_read()
            .iter()
            .map(|p| p.to_path_buf())
            .collect(),
        options,
    })
}
