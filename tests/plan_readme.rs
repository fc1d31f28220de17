//! The README's "Previewing an upgrade" examples are real `db plan` output: each block is
//! produced again here, on the same history and data, and must match byte for byte, so the
//! README cannot drift from what the tool prints. One exception: InnoDB's row estimate comes
//! from sampled pages and moves by a few percent from one ANALYZE to the next, so on MariaDB the
//! number after `~` is left out of the comparison (everything else, the size in bytes included,
//! is compared).

mod common;

use common::seed::seed_images_with_visibility;
use common::{TestDb, gm};
use glance_manage::schema::model::Dialect;

const ROWS: u32 = 20_000;
const FROM: &str = "queens_contract01";
const TO: &str = "rocky_contract02";

/// The fenced block after `<!-- plan-example:NAME -->` in README.md.
fn readme_block(name: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let marker = format!("<!-- plan-example:{name} -->");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README.md has no {marker}"));
    let rest = &readme[start + marker.len()..];
    let open = rest.find("```").expect("a fenced block after the marker");
    let body = &rest[open..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    let close = body.find("```").expect("closing fence");
    body[..close].to_string()
}

/// A database at Queens with `ROWS` images (statistics up to date), as the README says.
async fn queens_with_images(db: &TestDb) {
    let r = gm(&db.url, &["db", "sync", FROM]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    seed_images_with_visibility(db, ROWS).await;
}

async fn check(dialect: Dialect, name: &str) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    queens_with_images(&db).await;
    let r = gm(&db.url, &["db", "plan", TO]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut want = readme_block(name);
    let mut got = r.stdout.clone();
    if dialect == Dialect::Mysql {
        want = mask_estimates(&want);
        got = mask_estimates(&got);
    }
    assert!(
        got == want,
        "README.md's plan-example:{name} differs from the output; it is now:\n{}",
        r.stdout
    );
}

/// `(~18746 rows` → `(~N rows`.
fn mask_estimates(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("(~") {
        out.push_str(&rest[..i + 2]);
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push('N');
    }
    out.push_str(rest);
    out
}

#[test]
fn masking_keeps_everything_but_the_estimate() {
    assert_eq!(
        mask_estimates("of images (~18746 rows, 7.5 MB); x (~3 rows"),
        "of images (~N rows, 7.5 MB); x (~N rows"
    );
}

#[tokio::test]
async fn readme_plan_sqlite() {
    check(Dialect::Sqlite, "sqlite").await;
}

#[tokio::test]
async fn readme_plan_postgres() {
    check(Dialect::Postgres, "postgres").await;
}

#[tokio::test]
async fn readme_plan_mariadb() {
    check(Dialect::Mysql, "mariadb").await;
}
