//! A fake controller for configuration tests: a temporary directory with `home/` (used as
//! `HOME`), `root/` (used as the filesystem root for `/etc`, via GLANCE_MANAGE_CONFIG_ROOT),
//! `snap/`, `snap_common/` and `work/` (the working directory), so tests never read or write
//! the real `/etc` or `~`.

use std::path::{Path, PathBuf};

use super::{Gm, Run};

pub struct FakeHost {
    dir: tempfile::TempDir,
    /// Extra environment for every run (e.g. OS_DATABASE__CONNECTION, SNAP).
    pub env: Vec<(String, String)>,
}

impl Default for FakeHost {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeHost {
    pub fn new() -> FakeHost {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["home", "root", "snap", "snap_common", "work"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        FakeHost { dir, env: vec![] }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }
    pub fn root(&self) -> PathBuf {
        self.path().join("root")
    }
    pub fn work(&self) -> PathBuf {
        self.path().join("work")
    }

    /// Writes a file at a path relative to the host directory (parents created).
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A runner in `work/` with this host's environment and no inherited OS_* or SNAP
    /// variables.
    pub fn gm(&self) -> Gm {
        let mut g = Gm::new()
            .dir(&self.work())
            .env("HOME", self.home())
            .env("GLANCE_MANAGE_CONFIG_ROOT", self.root())
            .env_remove("SNAP")
            .env_remove("SNAP_COMMON");
        for (k, _) in std::env::vars() {
            if k.starts_with("OS_") {
                g = g.env_remove(k);
            }
        }
        for (k, v) in &self.env {
            g = g.env(k, v);
        }
        g
    }

    /// Runs the binary with exactly `args` on this host.
    pub fn run(&self, args: &[&str]) -> Run {
        self.gm().args(args).run()
    }
}
