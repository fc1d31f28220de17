//! The database servers are reachable at exactly the URLs the tests use (`GM_TEST_PG_URL`,
//! `GM_TEST_MYSQL_URL`, or their defaults in `tests/common/`). `.ci/run` runs this file first,
//! with `CI=true`, so a server that is down or elsewhere stops CI here with one clear message
//! instead of as a failure inside some other test. Outside CI a server test whose server is
//! down fails too, unless `GM_TEST_ALLOW_SKIP=1` (then it says `SKIP:` on the terminal).

mod common;

use common::{mysql_admin_url, pg_admin_url, skip_allowed, skip_or_fail};
use glance_manage::config::DbUrl;
use glance_manage::exec::{Conn, OpenMode};
use glance_manage::schema::model::Dialect;

async fn reachable(dialect: Dialect, admin: &str) {
    let url = DbUrl::parse(admin).expect("admin URL");
    assert_eq!(url.dialect, dialect, "{url}");
    match Conn::connect(&url, OpenMode::Existing).await {
        Ok(mut c) => {
            assert_eq!(c.query_i64("SELECT 1").await.expect("SELECT 1"), Some(1));
            c.close().await;
        }
        Err(e) => skip_or_fail(dialect, &url, &e.to_string()),
    }
}

#[tokio::test]
async fn postgres_reachable() {
    reachable(Dialect::Postgres, &pg_admin_url()).await;
}

#[tokio::test]
async fn mysql_reachable() {
    reachable(Dialect::Mysql, &mysql_admin_url()).await;
}

/// A skip needs `GM_TEST_ALLOW_SKIP=1` and is never allowed in CI.
#[test]
fn skipping_needs_to_be_asked_for() {
    assert!(!skip_allowed(None, None));
    assert!(!skip_allowed(None, Some("0")));
    assert!(!skip_allowed(None, Some("yes")));
    assert!(skip_allowed(None, Some("1")));
    assert!(skip_allowed(Some("false"), Some("1")));
    assert!(!skip_allowed(Some("true"), Some("1")));
    assert!(!skip_allowed(Some("1"), Some("1")));
}
