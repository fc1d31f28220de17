//! What every command gets (the resolved URL and history, output choices) and how a command
//! fails (a message on stderr and an exit code).

use std::time::Duration;

use miette::{Diagnostic, Report};

use crate::config::{DatabaseOptions, DbUrl};
use crate::engine::target::TargetError;
use crate::exec::{Conn, DbError, OpenMode};
use crate::revisions::RevisionSet;

/// Everything a command needs: where the database is and which history to use, resolved once
/// from the arguments.
pub struct Context {
    pub url: DbUrl,
    pub revisions: RevisionSet,
    pub json: bool,
    pub color: bool,
    pub lock_timeout: Duration,
    /// `[database]` options that change the session (`mysql_wsrep_sync_wait`).
    pub db_options: DatabaseOptions,
    /// `--verbose`: say what the connection found (a Galera cluster).
    pub verbose: bool,
    /// `--max-lock`: the strongest lock a step of the plan may take.
    pub max_lock: Option<crate::plan::hazard::Lock>,
    /// `--online`: each step in its non-blocking form.
    pub online: bool,
    /// `--verify`: rehearse the plan on a scratch copy first.
    pub verify: bool,
}

impl Context {
    /// Connects to the database with the configured session options; with `--verbose`, says
    /// on stderr when the server is a Galera node and how the session is set up for it.
    pub async fn connect(&self, mode: OpenMode) -> Result<Conn, DbError> {
        let conn = Conn::connect_with(&self.url, mode, &self.db_options).await?;
        if self.verbose
            && let Some(g) = conn.galera()
        {
            // Straight to stderr, as `output::note` does (output depends on this module).
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "{}", g.describe());
        }
        Ok(conn)
    }

    /// Whether the database exists (a SQLite file that was never created does not; commands
    /// that only read must not create it).
    pub fn database_exists(&self) -> bool {
        !(self.url.dialect == crate::schema::model::Dialect::Sqlite
            && !self.url.is_memory()
            && !crate::config::sqlite_path(&self.url).exists())
    }
}

/// A failure that ends the command: a message on stderr and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub report: Report,
    pub code: u8,
}

impl<E: Diagnostic + Send + Sync + 'static> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure {
            report: Report::new(e),
            code: 1,
        }
    }
}

impl Failure {
    /// The same failure with another exit code.
    pub fn with_code(self, code: u8) -> Failure {
        Failure { code, ..self }
    }
}

/// A plain message failure (Glance's `sys.exit("msg")`: stderr, exit 1), printed as the bare
/// line so scripts that grep for Glance's messages keep working.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct Message {
    pub message: String,
    #[help]
    pub help: Option<String>,
}

pub fn fail(message: impl Into<String>, help: Option<&str>) -> Failure {
    Failure::from(Message {
        message: message.into(),
        help: help.map(str::to_string),
    })
}

pub type CmdResult = Result<u8, Failure>;

/// A version argument that names nothing usable: Glance's own wording where Glance has one.
pub fn target_failure(e: TargetError) -> Failure {
    match e {
        TargetError::Unknown(e) => Failure::from(e),
        TargetError::PreLiberty => fail(
            e.to_string(),
            Some(
                "legacy versions 1-41 predate Liberty (42); upgrade with a Liberty-era Glance first",
            ),
        ),
    }
}
