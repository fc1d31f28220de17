//! Connecting to each backend, and secrets staying secret on failure.

mod common;

use glance_manage::config::DbUrl;
use glance_manage::exec::{Conn, OpenMode};

for_each_backend!(connects_and_queries, |db: common::TestDb| async move {
    let mut c = db.conn().await;
    assert_eq!(c.query_i64("SELECT 1 + 1").await.unwrap(), Some(2));
    c.close().await;
});

#[tokio::test]
async fn wrong_password_never_shows_the_password() {
    for url in [
        "mysql+pymysql://root:S3cr3tPw!@127.0.0.1:3306/mysql",
        "postgresql://nosuchuser:S3cr3tPw!@127.0.0.1:5432/postgres",
    ] {
        let err = match Conn::connect(&DbUrl::parse(url).unwrap(), OpenMode::Existing).await {
            Ok(_) => continue, // a server that accepts any password (trust auth for that user)
            Err(e) => e,
        };
        let shown = format!("{err} {:?}", err.help);
        assert!(!shown.contains("S3cr3tPw"), "password leaked: {shown}");
        assert!(shown.contains("cannot connect"), "{shown}");
    }
}

#[tokio::test]
async fn missing_sqlite_file_is_not_created_in_existing_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.sqlite");
    let url = DbUrl::sqlite_file(path.to_str().unwrap());
    let err = Conn::connect(&url, OpenMode::Existing)
        .await
        .err()
        .expect("must fail");
    assert!(err.message.contains("does not exist"), "{}", err.message);
    assert!(!path.exists());
}

for_each_backend!(
    date_and_time_cells_decode_as_text,
    |db: common::TestDb| async move {
        use glance_manage::schema::model::Dialect;
        let sql = match db.dialect {
            Dialect::Postgres => {
                "SELECT CAST('2020-01-02 03:04:05' AS TIMESTAMP), CAST('2020-01-02' AS DATE)"
            }
            Dialect::Mysql => {
                "SELECT CAST('2020-01-02 03:04:05' AS DATETIME), CAST('2020-01-02' AS DATE)"
            }
            Dialect::Sqlite => "SELECT datetime('2020-01-02 03:04:05'), date('2020-01-02')",
        };
        let rows = db.rows(sql).await;
        assert_eq!(
            rows,
            vec![vec![
                "2020-01-02 03:04:05".to_string(),
                "2020-01-02".to_string()
            ]]
        );
    }
);
