//! Which configuration files Glance reads, in which order — oslo.config's rules as
//! `glance-manage` uses them (`glance/cmd/manage.py` `main()` and `oslo_config/cfg.py`).
//!
//! `glance-manage` collects, for each program of `glance-api` and `glance-manage`,
//! `cfg.find_config_files(project='glance', prog=…)` and `cfg.find_config_dirs(…)`. Each call
//! returns the first existing `glance.conf` and the first existing `<prog>.conf` (or `.conf.d`)
//! from the search directories `~/.glance/`, `~/`, `/etc/glance/`, `/etc/`,
//! `$SNAP_COMMON/etc/glance/`, `$SNAP/etc/glance/`. So the default file list is
//! `[glance.conf, glance-api.conf, glance.conf, glance-manage.conf]` (those that exist), and
//! `glance.conf` is read *twice*: its values win over `glance-api.conf`'s. We keep that, since
//! the point is to pick the database Glance picks.
//!
//! Then oslo parses, in order: the default files (only if no `--config-file` was given), the
//! `*.conf` files of the default directories, sorted (only if no `--config-dir` was given), then
//! every `--config-file` / `--config-dir` in command-line order. Later files win. A missing
//! `--config-file` or `--config-dir` is an error; missing default directories are skipped.
//!
//! For tests, `GLANCE_MANAGE_CONFIG_ROOT` moves `/etc` under another directory; `HOME`, `SNAP`
//! and `SNAP_COMMON` are read from the environment as oslo reads them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The project and the programs whose configuration `glance-manage` reads.
const PROJECT: &str = "glance";
const PROGRAMS: [&str; 2] = ["glance-api", "glance-manage"];

/// Overrides the filesystem root under which `/etc` is searched (tests only).
pub const ROOT_ENV: &str = "GLANCE_MANAGE_CONFIG_ROOT";

/// What discovery reads from the process environment, captured once so that resolution is a
/// pure function of its inputs.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub home: Option<PathBuf>,
    /// `/` normally; `$GLANCE_MANAGE_CONFIG_ROOT` in tests.
    pub root: PathBuf,
    pub snap: Option<PathBuf>,
    pub snap_common: Option<PathBuf>,
    /// `OS_<GROUP>__<OPTION>` variables (oslo.config's environment source).
    pub os_vars: BTreeMap<String, String>,
}

impl Environment {
    pub fn from_process() -> Environment {
        let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Environment {
            home: nonempty("HOME")
                .map(PathBuf::from)
                .or_else(std::env::home_dir),
            root: nonempty(ROOT_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/")),
            snap: nonempty("SNAP").map(PathBuf::from),
            snap_common: nonempty("SNAP_COMMON").map(PathBuf::from),
            os_vars: std::env::vars()
                .filter(|(k, _)| k.starts_with("OS_") && k.contains("__"))
                .collect(),
        }
    }

    /// oslo.config's search directories for project `glance`, in order.
    pub fn search_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(home) = &self.home {
            dirs.push(home.join(format!(".{PROJECT}")));
            dirs.push(home.clone());
        }
        let etc = self.root.join("etc");
        dirs.push(etc.join(PROJECT));
        dirs.push(etc);
        if let Some(s) = &self.snap_common {
            dirs.push(s.join("etc").join(PROJECT));
        }
        if let Some(s) = &self.snap {
            dirs.push(s.join("etc").join(PROJECT));
        }
        dirs
    }

    /// The name of oslo's environment variable for an option.
    pub fn var_name(group: &str, option: &str) -> String {
        format!("OS_{}__{}", group.to_uppercase(), option.to_uppercase())
    }
}

/// `--config-file` / `--config-dir`, in command-line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliSource {
    File(PathBuf),
    Dir(PathBuf),
}

/// Puts the `--config-file` and `--config-dir` values (each list in its own order, as clap
/// returns them) back into command-line order, using the order of the option names in `argv`.
pub fn interleave(files: &[PathBuf], dirs: &[PathBuf], argv: &[String]) -> Vec<CliSource> {
    let mut kinds = Vec::new();
    for a in argv.iter().skip(1) {
        if a == "--" {
            break;
        }
        if a == "--config-file" || a.starts_with("--config-file=") {
            kinds.push(true);
        } else if a == "--config-dir" || a.starts_with("--config-dir=") {
            kinds.push(false);
        }
    }
    let (mut f, mut d) = (files.iter(), dirs.iter());
    let mut out: Vec<CliSource> = kinds
        .into_iter()
        .filter_map(|is_file| {
            if is_file {
                f.next().cloned().map(CliSource::File)
            } else {
                d.next().cloned().map(CliSource::Dir)
            }
        })
        .collect();
    // Anything argv did not account for (it always should) keeps clap's order.
    out.extend(f.cloned().map(CliSource::File));
    out.extend(d.cloned().map(CliSource::Dir));
    out
}

/// One file to parse, and why it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub path: PathBuf,
    /// Given on the command line (a missing file is then an error).
    pub explicit: bool,
}

/// The files oslo.config would parse, in parse order (later wins), and the default
/// configuration directories that exist (even empty ones are a sign of a Glance install).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadPlan {
    pub files: Vec<Planned>,
    pub default_dirs_found: Vec<PathBuf>,
}

/// Errors found while planning (before any file is parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    DirNotFound(PathBuf),
    DirUnreadable(PathBuf, String),
}

fn first_existing(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| p.exists())
}

/// `*.conf` in a directory, sorted by path, hidden files excluded (Python's `glob`).
fn conf_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".conf") && !n.starts_with('.'))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Absolute, `~`-expanded, as oslo's `_fixpath` makes every path.
fn fixpath(p: &Path, env: &Environment) -> PathBuf {
    let expanded = match (p.strip_prefix("~"), &env.home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => p.to_path_buf(),
    };
    std::path::absolute(&expanded).unwrap_or(expanded)
}

/// Glance's default files and directories, with the duplicates `glance-manage` produces.
pub fn defaults(env: &Environment) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let dirs = env.search_dirs();
    let mut files = Vec::new();
    let mut conf_dirs = Vec::new();
    for prog in PROGRAMS {
        for name in [PROJECT, prog] {
            files.extend(first_existing(&dirs, &format!("{name}.conf")));
            conf_dirs.extend(first_existing(&dirs, &format!("{name}.conf.d")));
        }
    }
    (files, conf_dirs)
}

/// The parse order for a command line.
pub fn plan(cli: &[CliSource], env: &Environment) -> Result<ReadPlan, PlanError> {
    let mut plan = ReadPlan::default();
    let (default_files, default_dirs) = defaults(env);
    if !cli.iter().any(|s| matches!(s, CliSource::File(_))) {
        plan.files
            .extend(default_files.into_iter().map(|path| Planned {
                path,
                explicit: false,
            }));
    }
    if !cli.iter().any(|s| matches!(s, CliSource::Dir(_))) {
        for dir in default_dirs.into_iter().filter(|d| d.is_dir()) {
            let files = conf_files(&dir).map_err(|e| PlanError::DirUnreadable(dir.clone(), e))?;
            plan.files.extend(files.into_iter().map(|path| Planned {
                path,
                explicit: false,
            }));
            if !plan.default_dirs_found.contains(&dir) {
                plan.default_dirs_found.push(dir);
            }
        }
    }
    for s in cli {
        match s {
            CliSource::File(p) => plan.files.push(Planned {
                path: fixpath(p, env),
                explicit: true,
            }),
            CliSource::Dir(d) => {
                let d = fixpath(d, env);
                if !d.exists() {
                    return Err(PlanError::DirNotFound(d));
                }
                let files = conf_files(&d).map_err(|e| PlanError::DirUnreadable(d.clone(), e))?;
                plan.files.extend(files.into_iter().map(|path| Planned {
                    path,
                    explicit: true,
                }));
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaves_in_command_line_order() {
        let argv: Vec<String> = [
            "gm",
            "--config-dir",
            "d1",
            "--config-file=f1",
            "db",
            "--config-file",
            "f2",
            "--config-dir=d2",
        ]
        .map(String::from)
        .to_vec();
        let files = [PathBuf::from("f1"), PathBuf::from("f2")];
        let dirs = [PathBuf::from("d1"), PathBuf::from("d2")];
        assert_eq!(
            interleave(&files, &dirs, &argv),
            vec![
                CliSource::Dir("d1".into()),
                CliSource::File("f1".into()),
                CliSource::File("f2".into()),
                CliSource::Dir("d2".into()),
            ]
        );
    }

    #[test]
    fn search_dirs_follow_oslo() {
        let env = Environment {
            home: Some("/h".into()),
            root: "/r".into(),
            snap: Some("/s".into()),
            snap_common: Some("/sc".into()),
            os_vars: BTreeMap::new(),
        };
        let dirs: Vec<String> = env
            .search_dirs()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            dirs,
            [
                "/h/.glance",
                "/h",
                "/r/etc/glance",
                "/r/etc",
                "/sc/etc/glance",
                "/s/etc/glance"
            ]
        );
        assert_eq!(
            Environment::var_name("database", "connection"),
            "OS_DATABASE__CONNECTION"
        );
    }
}
