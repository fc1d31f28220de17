//! Galera (MariaDB Galera Cluster, Percona XtraDB Cluster): detected once per MySQL connection,
//! and the session settings a migration needs on it (`../shared/galera.md`).
//!
//! - Reads wait for the cluster (`wsrep_sync_wait`, from `[database] mysql_wsrep_sync_wait`,
//!   default 1 on Galera): a node must not answer `db version` with a state older than a
//!   commit another node has acknowledged.
//! - Schema changes run under Total Order Isolation (`wsrep_OSU_method = TOI`): under RSU a
//!   DDL statement stays on one node while the version rows replicate, and the other nodes
//!   drop out of the cluster when they fail to apply what follows.
//! - Write sets stay within `wsrep_max_ws_rows` / `wsrep_max_ws_size` (read here, used by the
//!   batch sizes).

use serde::Serialize;
use sqlx::mysql::MySqlConnection;
use sqlx::{AssertSqlSafe, Row};

/// What a connection found out about the Galera cluster it talks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Galera {
    /// `wsrep_cluster_size`: nodes in the primary component.
    pub cluster_size: u64,
    /// `wsrep_local_state_comment` (Synced, Donor/Desynced, Joining, …).
    pub node_state: String,
    /// `wsrep_ready`: the node accepts queries.
    pub ready: bool,
    /// `wsrep_sync_wait` of this session, as set.
    pub sync_wait: u32,
    /// `wsrep_OSU_method` of this session when it connected.
    pub osu_method: String,
    /// `wsrep_max_ws_rows` (0: no limit).
    pub max_ws_rows: u64,
    /// `wsrep_max_ws_size` in bytes.
    pub max_ws_size: u64,
    /// `wsrep_node_name`, for messages.
    pub node_name: String,
}

impl Galera {
    /// The most rows one write set may change, leaving room for the rows a statement changes
    /// besides the ones it targets (triggers, the version row). None when unlimited.
    pub fn row_limit(&self) -> Option<u64> {
        (self.max_ws_rows > 0).then(|| (self.max_ws_rows * 9 / 10).max(1))
    }

    /// One line for `--verbose`.
    pub fn describe(&self) -> String {
        format!(
            "Galera cluster detected: node {} ({}), cluster size {}, wsrep_sync_wait={}, \
             wsrep_OSU_method={}, wsrep_max_ws_rows={}, wsrep_max_ws_size={}",
            if self.node_name.is_empty() {
                "?"
            } else {
                &self.node_name
            },
            self.node_state,
            self.cluster_size,
            self.sync_wait,
            self.osu_method,
            if self.max_ws_rows == 0 {
                "unlimited".to_string()
            } else {
                self.max_ws_rows.to_string()
            },
            self.max_ws_size
        )
    }
}

async fn settings(
    conn: &mut MySqlConnection,
    sql: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    // SHOW has no prepared form on every server: sent as text.
    let rows = sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let text = |i: usize| {
                r.try_get::<String, _>(i)
                    .or_else(|_| {
                        r.try_get::<Vec<u8>, _>(i)
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                    })
                    .unwrap_or_default()
            };
            (text(0).to_ascii_lowercase(), text(1))
        })
        .collect())
}

fn get<'a>(rows: &'a [(String, String)], name: &str) -> Option<&'a str> {
    rows.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Whether the server behind `conn` is a Galera node with replication on; if so, sets the
/// session's `wsrep_sync_wait` (`sync_wait`, default 1). On a plain MySQL/MariaDB server
/// this costs one `SHOW VARIABLES` and changes nothing; an explicit `sync_wait` is still set
/// where the server knows the variable (as Glance does), and ignored where it does not.
pub async fn detect(
    conn: &mut MySqlConnection,
    sync_wait: Option<u32>,
) -> Result<Option<Galera>, sqlx::Error> {
    let vars = settings(
        conn,
        "SHOW SESSION VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_osu_method', \
         'wsrep_max_ws_rows', 'wsrep_max_ws_size', 'wsrep_sync_wait', 'wsrep_node_name', \
         'wsrep_provider')",
    )
    .await?;
    let on = get(&vars, "wsrep_on").is_some_and(|v| v.eq_ignore_ascii_case("ON") || v == "1");
    let provider = get(&vars, "wsrep_provider").unwrap_or("none");
    if !on || provider.eq_ignore_ascii_case("none") || provider.is_empty() {
        if let Some(w) = sync_wait
            && get(&vars, "wsrep_sync_wait").is_some()
        {
            sqlx::raw_sql(AssertSqlSafe(format!("SET SESSION wsrep_sync_wait = {w}")))
                .execute(&mut *conn)
                .await?;
        }
        return Ok(None);
    }
    let status = settings(
        conn,
        "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size', 'wsrep_ready', \
         'wsrep_local_state_comment')",
    )
    .await?;
    let wait = sync_wait.unwrap_or(1);
    sqlx::raw_sql(AssertSqlSafe(format!(
        "SET SESSION wsrep_sync_wait = {wait}"
    )))
    .execute(&mut *conn)
    .await?;
    let num = |v: Option<&str>| v.and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
    Ok(Some(Galera {
        cluster_size: num(get(&status, "wsrep_cluster_size")),
        node_state: get(&status, "wsrep_local_state_comment")
            .unwrap_or("")
            .to_string(),
        ready: get(&status, "wsrep_ready").is_some_and(|v| v.eq_ignore_ascii_case("ON")),
        sync_wait: wait,
        osu_method: get(&vars, "wsrep_osu_method").unwrap_or("").to_string(),
        max_ws_rows: num(get(&vars, "wsrep_max_ws_rows")),
        max_ws_size: num(get(&vars, "wsrep_max_ws_size")),
        node_name: get(&vars, "wsrep_node_name").unwrap_or("").to_string(),
    }))
}

/// The operator's explanation of a Galera error, added to its help.
pub fn galera_help(code: &str, message: &str) -> Option<String> {
    let m = message.to_ascii_lowercase();
    match code {
        "1047" => Some(
            "error 1047: this Galera node is not ready for queries: it is not part of the \
             cluster's primary component (it lost quorum or is still joining). Point the tool at \
             a node whose `wsrep_local_state_comment` is `Synced` (`SHOW STATUS LIKE 'wsrep%'`), \
             or restore the cluster first; nothing was changed by the failed statement"
                .into(),
        ),
        "1180" | "1105" if m.contains("wsrep") || m.contains("max_ws") => Some(
            "the transaction exceeded Galera's write-set limit (wsrep_max_ws_rows / \
             wsrep_max_ws_size); a smaller batch fits"
                .into(),
        ),
        _ => None,
    }
}
