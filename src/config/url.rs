//! Database URLs as operators write them in `glance-api.conf`: SQLAlchemy's form
//! (`mysql+pymysql://user:pw@host:3306/glance?charset=utf8`, `sqlite:////abs.db`) or plain
//! (`postgres://…`, `mysql://…`). Parsed by hand rather than with the `url` crate because
//! SQLAlchemy's rules differ from RFC 3986 where Glance's users rely on them: a password may
//! contain `@`, `/`, `?` and `#` (the credentials end at the *last* `@`), and `sqlite:///rel`
//! vs `sqlite:////abs` count slashes.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::Dialect;

/// The default database when nothing is configured.
pub const DEFAULT_SQLITE_FILE: &str = "glance.sqlite";

#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    pub dialect: Dialect,
    /// The driver part of `dialect+driver://` (informational; we always use our own driver).
    pub driver: Option<String>,
    /// As written, for `mariadb` vs `mysql` wording.
    pub scheme: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// Database name (server backends) or file path (SQLite; `:memory:` for memory).
    pub database: String,
    pub query: Vec<(String, String)>,
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({self})")
    }
}

/// Displays the URL with the password replaced by `***`: safe for any message or log.
impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dialect == Dialect::Sqlite {
            return write!(f, "sqlite:///{}", self.database);
        }
        write!(f, "{}://", self.scheme)?;
        if let Some(u) = &self.username {
            write!(f, "{u}")?;
            if self.password.is_some() {
                write!(f, ":***")?;
            }
            write!(f, "@")?;
        }
        if let Some(h) = &self.host {
            if h.contains(':') {
                write!(f, "[{h}]")?;
            } else {
                write!(f, "{h}")?;
            }
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "/{}", self.database)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("invalid database URL {shown}: {reason}")]
#[diagnostic(help(
    "write it as in glance-api.conf, e.g. sqlite:////var/lib/glance/glance.sqlite, \
         mysql+pymysql://glance:PASSWORD@controller/glance or postgresql://glance:PASSWORD@controller/glance"
))]
pub struct UrlError {
    /// The URL quoted with any password removed, or only its length when it has no `://`
    /// ([`redact_raw`]).
    pub shown: String,
    pub reason: String,
}

impl DbUrl {
    /// The embedded default: `./glance.sqlite`.
    pub fn default_sqlite() -> DbUrl {
        DbUrl::sqlite_file(DEFAULT_SQLITE_FILE)
    }

    pub fn sqlite_file(path: &str) -> DbUrl {
        DbUrl {
            dialect: Dialect::Sqlite,
            driver: None,
            scheme: "sqlite".into(),
            username: None,
            password: None,
            host: None,
            port: None,
            database: path.to_string(),
            query: vec![],
        }
    }

    pub fn parse(input: &str) -> Result<DbUrl, UrlError> {
        let raw = input.trim();
        let err = |reason: &str| UrlError {
            shown: redact_raw(raw),
            reason: reason.to_string(),
        };
        let Some((scheme_full, rest)) = raw.split_once("://") else {
            return Err(err(
                "missing `://` (expected DIALECT[+DRIVER]://USER:PASSWORD@HOST/DATABASE or sqlite:////PATH)",
            ));
        };
        let scheme_full = scheme_full.to_ascii_lowercase();
        let (scheme, driver) = match scheme_full.split_once('+') {
            Some((s, d)) => (s.to_string(), Some(d.to_string())),
            None => (scheme_full.clone(), None),
        };
        let dialect = match scheme.as_str() {
            "sqlite" => Dialect::Sqlite,
            "postgresql" | "postgres" | "pgsql" => Dialect::Postgres,
            "mysql" | "mariadb" => Dialect::Mysql,
            other => {
                return Err(err(&format!(
                    "unsupported database `{other}`; use sqlite, postgresql, mysql or mariadb"
                )));
            }
        };
        if dialect == Dialect::Sqlite {
            // sqlite:///relative.db, sqlite:////absolute.db, sqlite:// (memory)
            let (path, _query) = rest.split_once('?').unwrap_or((rest, ""));
            let path = match path.strip_prefix('/') {
                Some(p) => p.to_string(),
                None if path.is_empty() => ":memory:".to_string(),
                None => {
                    return Err(err(
                        "a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path",
                    ));
                }
            };
            let path = if path.is_empty() {
                ":memory:".to_string()
            } else {
                percent_decode(&path)
            };
            let mut u = DbUrl::sqlite_file(&path);
            u.driver = driver;
            return Ok(u);
        }
        // The password may contain `@` and `/` (Glance's test_db_complex_password), and `?` or
        // `#`: the credentials end at the last `@`, and the query starts after them.
        let (userinfo, after) = match rest.rfind('@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let (hostpart, query) = match after.split_once('?') {
            Some((m, q)) => (m, q),
            None => (after, ""),
        };
        let (authority, database) = match hostpart.split_once('/') {
            Some((a, d)) => (a, d),
            None => (hostpart, ""),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(ui) => match ui.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)), Some(percent_decode(p))),
                None => (Some(percent_decode(ui)), None),
            },
        };
        let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
            let Some((h, after)) = stripped.split_once(']') else {
                return Err(err("unterminated IPv6 address"));
            };
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(err("unexpected text after IPv6 address")),
            };
            (Some(h.to_string()), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (Some(h.to_string()), Some(p)),
                None => (Some(authority.to_string()), None),
            }
        };
        let port = match port {
            None | Some("") => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| err(&format!("invalid port `{p}`")))?,
            ),
        };
        let host = host.filter(|h| !h.is_empty());
        let database = percent_decode(database);
        if database.is_empty() {
            return Err(err("no database name (expected .../DATABASE)"));
        }
        let query = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (percent_decode(k), percent_decode(v)),
                None => (percent_decode(kv), String::new()),
            })
            .collect();
        Ok(DbUrl {
            dialect,
            driver,
            scheme,
            username,
            password,
            host,
            port,
            database,
            query,
        })
    }

    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_memory(&self) -> bool {
        self.dialect == Dialect::Sqlite && self.database == ":memory:"
    }
}

/// A raw URL string that did not parse, as an error message may show it: in backticks with
/// the password removed (same rule as [`DbUrl::parse`]: the credentials end at the last `@`;
/// everything after the first `:` before it is the password). A value without `://` is not
/// shown at all, only its length: it may be a password pasted in the wrong place.
pub fn redact_raw(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return format!("({} characters, not shown)", raw.chars().count());
    };
    match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let masked = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => userinfo.to_string(),
            };
            format!("`{scheme}://{masked}{}`", &rest[at..])
        }
        None => format!("`{raw}`"),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// The SQLite file path of a URL, made absolute against the working directory.
pub fn sqlite_path(url: &DbUrl) -> PathBuf {
    let p = Path::new(&url.database);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlalchemy_forms() {
        let u = DbUrl::parse("mysql+pymysql://glance:secret@db.example:3306/glance?charset=utf8")
            .unwrap();
        assert_eq!(u.dialect, Dialect::Mysql);
        assert_eq!(u.driver.as_deref(), Some("pymysql"));
        assert_eq!(u.username.as_deref(), Some("glance"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host.as_deref(), Some("db.example"));
        assert_eq!(u.port, Some(3306));
        assert_eq!(u.database, "glance");
        assert_eq!(u.query_param("charset"), Some("utf8"));
        assert_eq!(u.to_string(), "mysql://glance:***@db.example:3306/glance");

        let u = DbUrl::parse("postgresql+psycopg2://glance:pw@controller/glance").unwrap();
        assert_eq!(
            (u.dialect, u.port, u.host.as_deref()),
            (Dialect::Postgres, None, Some("controller"))
        );
        assert_eq!(
            DbUrl::parse("postgres://u@h/d").unwrap().dialect,
            Dialect::Postgres
        );
        assert_eq!(
            DbUrl::parse("mariadb+pymysql://u:p@h/d").unwrap().scheme,
            "mariadb"
        );
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            DbUrl::parse("sqlite:////var/lib/glance/glance.sqlite")
                .unwrap()
                .database,
            "/var/lib/glance/glance.sqlite"
        );
        assert_eq!(
            DbUrl::parse("sqlite:///glance.sqlite").unwrap().database,
            "glance.sqlite"
        );
        assert!(DbUrl::parse("sqlite://").unwrap().is_memory());
    }

    #[test]
    fn complex_password_survives() {
        let u = DbUrl::parse("mysql+pymysql://username:pw@%/!#$()@host:1234/dbname").unwrap();
        assert_eq!(u.password.as_deref(), Some("pw@%/!#$()"));
        assert_eq!(
            (u.host.as_deref(), u.port, u.database.as_str()),
            (Some("host"), Some(1234), "dbname")
        );
        let u = DbUrl::parse("mysql://u:p%40ss@h/d").unwrap();
        assert_eq!(u.password.as_deref(), Some("p@ss"));
    }

    #[test]
    fn errors_never_show_the_password() {
        let e = DbUrl::parse("mysql://root:hunter2@host:notaport/db").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("invalid port"), "{e}");
        let e = DbUrl::parse("oracle://root:hunter2@host/db").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(
            DbUrl::parse("mysql://u:p@h")
                .unwrap_err()
                .reason
                .contains("no database name")
        );
        assert!(DbUrl::parse("not a url").is_err());
    }

    /// Text without `://` may be a password typed where the URL goes: only its length shows.
    #[test]
    fn a_value_without_scheme_is_never_echoed() {
        for raw in [
            "hunter2",
            "  S3cr#t:pw@x  ",
            "mysql//root:hunter2@h/db",
            "ünïcödé",
        ] {
            let e = DbUrl::parse(raw).unwrap_err();
            let shown = format!("{e} {e:?}");
            let n = raw.trim().chars().count();
            assert_eq!(
                e.to_string(),
                format!(
                    "invalid database URL ({n} characters, not shown): missing `://` (expected \
                     DIALECT[+DRIVER]://USER:PASSWORD@HOST/DATABASE or sqlite:////PATH)"
                ),
                "{raw}"
            );
            for part in raw
                .split(|c: char| !c.is_alphanumeric())
                .filter(|p| p.len() > 1)
            {
                assert!(!shown.contains(part), "`{part}` of {raw:?} shown: {shown}");
            }
        }
        // With `://` the URL is quoted, password masked.
        assert_eq!(
            redact_raw("mysql://root:pw@h:x/db"),
            "`mysql://root:***@h:x/db`"
        );
    }
}
