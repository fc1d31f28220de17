//! A 3-node MariaDB Galera cluster on 127.0.0.1 for tests (`../shared/galera.md` has the
//! recipe): one datadir per node under a temporary directory, node 1 bootstrapped with
//! `--wsrep-new-cluster`, rsync state transfer, IST and SST addresses set explicitly (their
//! defaults collide on one host), small buffer pools.
//!
//! The cluster stops when the value is dropped, and a watchdog shell stops it when the test
//! process ends without dropping it (a static shared by the tests of a file is never dropped):
//! both kill the node processes by the PIDs this harness started, nothing else. The machine's
//! own MariaDB on 3306 is never touched.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use glance_manage::config::DbUrl;
use glance_manage::exec::{Conn, OpenMode};

const PROVIDER: &str = "/usr/lib/galera/libgalera_smm.so";

/// Port blocks tried in order: MySQL `base + n`, gcomm `gcomm + n`, IST `gcomm + 10 + n`,
/// SST `gcomm + 20 + n` (n = 1, 2, 3). The first block is the one the README names.
const BLOCKS: [(u16, u16); 3] = [(3310, 4570), (3320, 4600), (3330, 4630)];

pub struct Cluster {
    dir: tempfile::TempDir,
    nodes: Vec<Child>,
    /// MySQL ports of nodes 1, 2, 3.
    pub ports: Vec<u16>,
    watchdog: Option<Child>,
}

/// Why a cluster could not be started: the packages are missing (outside CI the tests say
/// SKIP), or a start-up step failed (always a failure).
#[derive(Debug)]
pub enum StartError {
    Missing(String),
    Failed(String),
}

fn free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn run(cmd: &mut Command, what: &str) -> Result<(), StartError> {
    let out = cmd
        .output()
        .map_err(|e| StartError::Failed(format!("{what}: {e}")))?;
    if !out.status.success() {
        return Err(StartError::Failed(format!(
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

impl Cluster {
    /// Starts three nodes and waits until each reports `Synced` (about 20 s).
    pub fn start() -> Result<Cluster, StartError> {
        for (bin, pkg) in [
            ("/usr/sbin/mariadbd", "mariadb-server"),
            (PROVIDER, "galera-4"),
            ("/usr/bin/rsync", "rsync"),
            ("/usr/bin/mariadb-install-db", "mariadb-server"),
        ] {
            if !Path::new(bin).exists() {
                return Err(StartError::Missing(format!("{bin} (Debian package {pkg})")));
            }
        }
        let (base, gcomm) = BLOCKS
            .iter()
            .copied()
            .find(|(b, g)| {
                (1..=3).all(|n| free(b + n) && free(g + n) && free(g + 10 + n) && free(g + 20 + n))
            })
            .ok_or_else(|| StartError::Failed("no free port block for a test cluster".into()))?;
        let dir = tempfile::Builder::new()
            .prefix("gm-galera-")
            .tempdir()
            .map_err(|e| StartError::Failed(format!("tempdir: {e}")))?;
        // The server runs as `mysql`: it must reach its datadir under the temp dir.
        let _ = Command::new("chmod").arg("755").arg(dir.path()).status();
        let addresses: Vec<String> = (1..=3)
            .map(|n| format!("127.0.0.1:{}", gcomm + n))
            .collect();
        let mut cluster = Cluster {
            ports: (1..=3).map(|n| base + n).collect(),
            dir,
            nodes: vec![],
            watchdog: None,
        };
        for n in 1..=3u16 {
            let node = cluster.node_dir(n);
            std::fs::create_dir_all(node.join("data"))
                .map_err(|e| StartError::Failed(format!("mkdir: {e}")))?;
            let cnf = format!(
                "[mysqld]\n\
                 user=mysql\n\
                 datadir={d}/data\n\
                 port={port}\n\
                 socket={d}/mysqld.sock\n\
                 pid-file={d}/mysqld.pid\n\
                 log-error={d}/error.log\n\
                 bind-address=127.0.0.1\n\
                 binlog_format=ROW\n\
                 default_storage_engine=InnoDB\n\
                 innodb_autoinc_lock_mode=2\n\
                 innodb_buffer_pool_size=32M\n\
                 innodb_log_file_size=16M\n\
                 performance_schema=OFF\n\
                 skip-name-resolve\n\
                 wsrep_on=ON\n\
                 wsrep_provider={PROVIDER}\n\
                 wsrep_cluster_name=gm_test_{pid}\n\
                 wsrep_cluster_address=gcomm://{addrs}\n\
                 wsrep_node_address=127.0.0.1:{g}\n\
                 wsrep_node_name=node{n}\n\
                 wsrep_provider_options=\"base_host=127.0.0.1;base_port={g};ist.recv_addr=127.0.0.1:{ist};gcache.size=32M\"\n\
                 wsrep_sst_method=rsync\n\
                 wsrep_sst_receive_address=127.0.0.1:{sst}\n",
                d = node.display(),
                port = base + n,
                pid = std::process::id(),
                addrs = addresses.join(","),
                g = gcomm + n,
                ist = gcomm + 10 + n,
                sst = gcomm + 20 + n,
            );
            std::fs::write(node.join("my.cnf"), cnf)
                .map_err(|e| StartError::Failed(format!("write my.cnf: {e}")))?;
            run(
                Command::new("chown").args(["-R", "mysql:mysql"]).arg(&node),
                "chown",
            )?;
            run(
                Command::new("mariadb-install-db")
                    .arg(format!("--defaults-file={}", node.join("my.cnf").display()))
                    .args([
                        "--auth-root-authentication-method=normal",
                        "--skip-test-db",
                        "--wsrep-on=OFF",
                    ]),
                &format!("mariadb-install-db for node {n}"),
            )?;
        }
        for n in 1..=3u16 {
            cluster.spawn_node(n)?;
            if n == 1 {
                // The others join once the first node forms the primary component.
                cluster.wait_synced(1)?;
            }
        }
        cluster.wait_synced(2)?;
        cluster.wait_synced(3)?;
        Ok(cluster)
    }

    fn node_dir(&self, n: u16) -> PathBuf {
        self.dir.path().join(format!("node{n}"))
    }

    fn spawn_node(&mut self, n: u16) -> Result<(), StartError> {
        let node = self.node_dir(n);
        let mut cmd = Command::new("/usr/sbin/mariadbd");
        cmd.arg(format!("--defaults-file={}", node.join("my.cnf").display()));
        if n == 1 {
            cmd.arg("--wsrep-new-cluster");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| StartError::Failed(format!("start node {n}: {e}")))?;
        self.nodes.push(child);
        self.arm_watchdog();
        Ok(())
    }

    /// (Re)starts a shell that kills our node PIDs once the test process is gone.
    fn arm_watchdog(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let pids: Vec<String> = self.nodes.iter().map(|c| c.id().to_string()).collect();
        // SIGKILL only to a PID that is still one of our nodes (its command line names our
        // directory), then the directory goes.
        let dir = self.dir.path().display().to_string();
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill {pids} 2>/dev/null; \
             for i in $(seq 30); do sleep 1; alive=0; for p in {pids}; do \
             grep -qs '{dir}' /proc/$p/cmdline && alive=1; done; [ $alive = 0 ] && break; done; \
             for p in {pids}; do grep -qs '{dir}' /proc/$p/cmdline && kill -9 $p; done; \
             rm -rf '{dir}'",
            me = std::process::id(),
            pids = pids.join(" ")
        );
        self.watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
    }

    fn wait_synced(&mut self, n: u16) -> Result<(), StartError> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        loop {
            if let Some(Ok(Some(status))) = self.nodes.get_mut(n as usize - 1).map(|c| c.try_wait())
            {
                return Err(StartError::Failed(format!(
                    "node {n} exited ({status}) during start-up:\n{}",
                    self.log_tail(n)
                )));
            }
            let url = self.admin_url(n);
            let state = rt.block_on(async {
                let mut c = Conn::connect(&DbUrl::parse(&url).ok()?, OpenMode::Existing)
                    .await
                    .ok()?;
                let rows = c
                    .query("SHOW STATUS LIKE 'wsrep_local_state_comment'")
                    .await
                    .ok();
                c.close().await;
                rows?.first()?.get(1)?.text()
            });
            if state.as_deref() == Some("Synced") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(StartError::Failed(format!(
                    "node {n} not Synced after 120 s (state {state:?}):\n{}",
                    self.log_tail(n)
                )));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn log_tail(&self, n: u16) -> String {
        let log = std::fs::read_to_string(self.node_dir(n).join("error.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `mysql://root@127.0.0.1:PORT/mysql` of node `n` (1-based).
    pub fn admin_url(&self, n: u16) -> String {
        format!(
            "mysql://root@127.0.0.1:{}/mysql",
            self.ports[n as usize - 1]
        )
    }

    /// The URL of database `db` on node `n`.
    pub fn url(&self, n: u16, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.ports[n as usize - 1])
    }

    /// Stops the nodes this harness started (SIGTERM by PID, then SIGKILL after 30 s).
    pub fn stop(&mut self) {
        for c in &self.nodes {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for c in &mut self.nodes {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        self.nodes.clear();
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
