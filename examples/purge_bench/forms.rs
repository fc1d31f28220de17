//! `--forms`: times candidate statement forms for one purge batch, per backend, on fresh copies
//! of the seeded database (the measurements behind `benches/PURGE-DESIGN.md`). Nothing here is
//! the product: it is a prototype of the walk the design proposes, driven from outside.
//!
//! Walk experiments: `image_properties` (no referencing table; 8 of every 20 child rows) and
//! then `images` (four referencing tables, so every batch carries four `NOT EXISTS` guards; the
//! other child tables are emptied of eligible rows first, untimed), walked in primary-key order
//! with each form, at fixed batch sizes and with the time-targeted sizer.
//! Cron experiments: the 100 oldest eligible rows of `image_properties`, one statement, next to
//! Glance's own statement, repeated on one copy (each repeat takes the next 100).

use std::time::Instant;

use glance_manage::exec::Conn;
use glance_manage::exec::connection::Value;
use glance_manage::schema::model::Dialect;

use crate::backend::{Backend, Db, MariadbCopy, Servers, exec};
use crate::contenders::{cutoff, glance_statement, plain_statement};
use crate::seed::Shape;

/// One table of the experiment: its key and the guards of its rows.
struct Spec {
    table: &'static str,
    numeric_key: bool,
    /// Tables whose `image_id` references this table's `id`.
    referenced_by: &'static [&'static str],
}

const PROPERTIES: Spec = Spec {
    table: "image_properties",
    numeric_key: true,
    referenced_by: &[],
};
const IMAGES: Spec = Spec {
    table: "images",
    numeric_key: false,
    referenced_by: &[
        "image_properties",
        "image_locations",
        "image_members",
        "image_tags",
    ],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Today's executor: `SELECT` the batch's last key, then `DELETE` the range (two
    /// statements, each in autocommit). MariaDB: the DELETE joins the batch as a derived table.
    TwoStatements,
    /// SQLite: `DELETE … WHERE id IN (SELECT id … ORDER BY id LIMIT n) RETURNING id`.
    SqliteReturning,
    /// The same, rows addressed by `rowid` (for a TEXT primary key, one index less per row).
    SqliteReturningRowid,
    /// PostgreSQL: `WITH d AS (DELETE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)
    /// RETURNING id) SELECT count(*), max(id) FROM d`.
    PgCteSkipLocked,
    /// The same without `FOR UPDATE SKIP LOCKED`.
    PgCte,
    /// The same, rows addressed by `ctid` instead of the primary key.
    PgCteCtid,
    /// MariaDB: `DELETE FROM t WHERE … ORDER BY id LIMIT n RETURNING id`.
    MariadbOrderLimitReturning,
}

impl Form {
    fn for_backend(b: Backend) -> &'static [Form] {
        match b {
            Backend::Sqlite => &[
                Form::TwoStatements,
                Form::SqliteReturning,
                Form::SqliteReturningRowid,
            ],
            Backend::Postgres => &[
                Form::TwoStatements,
                Form::PgCteSkipLocked,
                Form::PgCte,
                Form::PgCteCtid,
            ],
            Backend::Mariadb => &[Form::TwoStatements, Form::MariadbOrderLimitReturning],
        }
    }

    fn title(self) -> &'static str {
        match self {
            Form::TwoStatements => "today: batch-end SELECT + DELETE",
            Form::SqliteReturning => "DELETE … id IN (SELECT … LIMIT n) RETURNING",
            Form::SqliteReturningRowid => "DELETE … rowid IN (SELECT rowid … LIMIT n) RETURNING",
            Form::PgCteSkipLocked => "CTE DELETE … IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)",
            Form::PgCte => "CTE DELETE … IN (SELECT … LIMIT n)",
            Form::PgCteCtid => "CTE DELETE … ctid = ANY(ARRAY(SELECT ctid … SKIP LOCKED))",
            Form::MariadbOrderLimitReturning => "DELETE … ORDER BY id LIMIT n RETURNING id",
        }
    }
}

/// Rows per batch: fixed, or sized by time.
#[derive(Debug, Clone, Copy)]
pub enum Sizer {
    Fixed(u64),
    /// Target seconds per batch; start at `start` rows, never above `cap`.
    Timed {
        target: f64,
        start: u64,
        cap: u64,
    },
}

impl Sizer {
    fn label(self) -> String {
        match self {
            Sizer::Fixed(n) => n.to_string(),
            Sizer::Timed { target, cap, .. } => format!("timed {target} s (cap {cap})"),
        }
    }
}

/// The time-targeted controller of the design: next = n × target / t, the step clamped to
/// [¼, 4] per batch, floored at 100 rows and capped. A batch that returned fewer rows than it
/// asked for (the table's tail) teaches nothing and keeps the size.
struct Controller {
    sizer: Sizer,
    n: u64,
}

impl Controller {
    fn new(sizer: Sizer) -> Controller {
        let n = match sizer {
            Sizer::Fixed(n) => n,
            Sizer::Timed { start, .. } => start,
        };
        Controller { sizer, n }
    }

    fn feedback(&mut self, asked: u64, got: u64, seconds: f64) {
        let Sizer::Timed { target, cap, .. } = self.sizer else {
            return;
        };
        if got < asked {
            return;
        }
        let factor = (target / seconds.max(1e-4)).clamp(0.25, 4.0);
        self.n = ((asked as f64 * factor) as u64).clamp(100, cap);
    }
}

struct Walk {
    seconds: f64,
    deleted: u64,
    batches: u64,
    slowest: f64,
    last_n: u64,
}

fn key_literal(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        other => format!("'{}'", other.text().unwrap_or_default().replace('\'', "''")),
    }
}

fn later(a: Option<Value>, b: &Value, numeric: bool) -> Option<Value> {
    match a {
        None => Some(b.clone()),
        Some(a) => {
            let b_later = if numeric {
                b.as_i64() > a.as_i64()
            } else {
                b.text() > a.text()
            };
            Some(if b_later { b.clone() } else { a })
        }
    }
}

fn guard(spec: &Spec, row: &str) -> String {
    spec.referenced_by
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(" AND NOT EXISTS (SELECT 1 FROM {r} g{i} WHERE g{i}.image_id = {row}.id)")
        })
        .collect()
}

/// Walks `spec`'s eligible rows with `form`; every batch is its own autocommit transaction.
async fn walk(
    c: &mut Conn,
    form: Form,
    spec: &Spec,
    cut: &str,
    sizer: Sizer,
) -> Result<Walk, String> {
    let t = spec.table;
    let mut ctl = Controller::new(sizer);
    let mut last: Option<Value> = None;
    let mut w = Walk {
        seconds: 0.0,
        deleted: 0,
        batches: 0,
        slowest: 0.0,
        last_n: 0,
    };
    let started = Instant::now();
    loop {
        let n = ctl.n;
        let after = |row: &str| {
            last.as_ref()
                .map(|k| format!(" AND {row}.id > {}", key_literal(k)))
                .unwrap_or_default()
        };
        let elig = |row: &str| format!("{row}.deleted_at < '{cut}'{}", after(row));
        let t0 = Instant::now();
        // (rows deleted, last key, whether the walk may go on)
        let (got, end, more): (u64, Option<Value>, bool) = match form {
            Form::TwoStatements => {
                let end_sql = format!(
                    "SELECT x.c0 FROM (SELECT t.id AS c0 FROM {t} t WHERE {} ORDER BY t.id LIMIT {n}) x ORDER BY x.c0 DESC LIMIT 1",
                    elig("t")
                );
                let rows = c
                    .query(&end_sql)
                    .await
                    .map_err(|e| format!("{e}\n{end_sql}"))?;
                let Some(end) = rows.into_iter().next().and_then(|r| r.into_iter().next()) else {
                    break;
                };
                let bound = format!(
                    "{} AND t.id <= {}{}",
                    elig("t"),
                    key_literal(&end),
                    guard(spec, "t")
                );
                let del = if c.dialect() == Dialect::Mysql {
                    format!(
                        "DELETE d FROM {t} d JOIN (SELECT t.id AS c0 FROM {t} t WHERE {bound} ORDER BY t.id LIMIT {n}) x ON d.id = x.c0"
                    )
                } else {
                    format!(
                        "DELETE FROM {t} WHERE id IN (SELECT t.id FROM {t} t WHERE {bound} ORDER BY t.id LIMIT {n})"
                    )
                };
                let k = exec(c, &del).await?;
                w.deleted += k;
                // The walk goes on while the SELECT finds a batch end, even when the guard
                // kept every row of a batch.
                (k, Some(end), true)
            }
            Form::SqliteReturning
            | Form::SqliteReturningRowid
            | Form::MariadbOrderLimitReturning => {
                let sql = if form == Form::MariadbOrderLimitReturning {
                    format!(
                        "DELETE FROM {t} WHERE {}{} ORDER BY {t}.id LIMIT {n} RETURNING {t}.id",
                        elig(t),
                        guard(spec, t)
                    )
                } else {
                    let addr = if form == Form::SqliteReturning {
                        "id"
                    } else {
                        "rowid"
                    };
                    format!(
                        "DELETE FROM {t} WHERE {addr} IN (SELECT t.{addr} FROM {t} t WHERE {}{} ORDER BY t.id LIMIT {n}) RETURNING id",
                        elig("t"),
                        guard(spec, "t")
                    )
                };
                let rows = c.query(&sql).await.map_err(|e| format!("{e}\n{sql}"))?;
                let mut end = None;
                for r in &rows {
                    end = later(end, &r[0], spec.numeric_key);
                }
                w.deleted += rows.len() as u64;
                // The guard is inside the LIMIT: no deletable row left after `last` ends it.
                (rows.len() as u64, end, !rows.is_empty())
            }
            Form::PgCteSkipLocked | Form::PgCte | Form::PgCteCtid => {
                let lock = if form == Form::PgCte {
                    ""
                } else {
                    " FOR UPDATE SKIP LOCKED"
                };
                let inner = |cols: &str| {
                    format!(
                        "SELECT {cols} FROM {t} t WHERE {}{} ORDER BY t.id LIMIT {n}{lock}",
                        elig("t"),
                        guard(spec, "t")
                    )
                };
                let sql = if form == Form::PgCteCtid {
                    format!(
                        "WITH d AS (DELETE FROM {t} WHERE ctid = ANY(ARRAY({})) RETURNING id) SELECT count(*), max(id) FROM d",
                        inner("t.ctid")
                    )
                } else {
                    format!(
                        "WITH d AS (DELETE FROM {t} WHERE id IN ({}) RETURNING id) SELECT count(*), max(id) FROM d",
                        inner("t.id")
                    )
                };
                let rows = c.query(&sql).await.map_err(|e| format!("{e}\n{sql}"))?;
                let row = rows.into_iter().next().ok_or("no row")?;
                let k = row[0].as_i64().unwrap_or(0) as u64;
                w.deleted += k;
                (k, (!row[1].is_null()).then(|| row[1].clone()), k > 0)
            }
        };
        let secs = t0.elapsed().as_secs_f64();
        w.slowest = w.slowest.max(secs);
        w.last_n = n;
        ctl.feedback(n, got, secs);
        w.batches += 1;
        match end {
            Some(e) if more => last = Some(e),
            _ => break,
        }
    }
    w.seconds = started.elapsed().as_secs_f64();
    Ok(w)
}

fn walk_cell(w: &Walk) -> String {
    format!(
        "{:.2} s ({} batches, slowest {:.3} s, last n {})",
        w.seconds, w.batches, w.slowest, w.last_n
    )
}

/// Runs the walk experiments and the cron experiment for one backend; prints Markdown.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    b: Backend,
    servers: &Servers,
    seed_db: &Db,
    run_db: &Db,
    ours: &std::path::Path,
    shape: Shape,
    copy: MariadbCopy,
    sizes: &[u64],
    cap: u64,
) -> Result<(), String> {
    let cut = cutoff(0);
    println!(
        "### {}: one batch statement, walked over a table\n",
        b.title()
    );
    println!(
        "| form | batch | image_properties ({} eligible) | images ({} eligible, 4 guards) |",
        shape.images * 4,
        shape.images / 2
    );
    println!("|---|---|---|---|");
    // The set-based reference on the same kind of copy: Glance's statement, one per table.
    {
        servers.copy(seed_db, run_db, copy, ours, shape).await?;
        let mut c = run_db.connect().await?;
        let t0 = Instant::now();
        let props = exec(&mut c, &glance_statement("image_properties", &cut, None)).await?;
        let props_s = t0.elapsed().as_secs_f64();
        for t in ["image_locations", "image_members", "image_tags"] {
            exec(&mut c, &plain_statement(t, &cut)).await?;
        }
        let t0 = Instant::now();
        let images = exec(&mut c, &glance_statement("images", &cut, None)).await?;
        let images_s = t0.elapsed().as_secs_f64();
        c.close().await;
        if props != shape.images * 4 || images != shape.images / 2 {
            return Err(format!(
                "{}: Glance's statements deleted {props} image_properties and {images} images",
                b.title()
            ));
        }
        println!(
            "| Glance's statement, raw (one per table, no guard: the FK fails it instead) | – | {props_s:.2} s | {images_s:.2} s |"
        );
    }
    let mut sizers: Vec<Sizer> = sizes.iter().map(|&n| Sizer::Fixed(n)).collect();
    sizers.push(Sizer::Timed {
        target: 0.5,
        start: 100,
        cap,
    });
    for &form in Form::for_backend(b) {
        for &sizer in &sizers {
            servers.copy(seed_db, run_db, copy, ours, shape).await?;
            let mut c = run_db.connect().await?;
            let props = walk(&mut c, form, &PROPERTIES, &cut, sizer).await?;
            if props.deleted != shape.images * 4 {
                return Err(format!(
                    "{}: {} deleted {} image_properties rows, expected {}",
                    b.title(),
                    form.title(),
                    props.deleted,
                    shape.images * 4
                ));
            }
            for t in ["image_locations", "image_members", "image_tags"] {
                exec(&mut c, &plain_statement(t, &cut)).await?;
            }
            let images = walk(&mut c, form, &IMAGES, &cut, sizer).await?;
            if images.deleted != shape.images / 2 {
                return Err(format!(
                    "{}: {} deleted {} images, expected {}",
                    b.title(),
                    form.title(),
                    images.deleted,
                    shape.images / 2
                ));
            }
            c.close().await;
            println!(
                "| {} | {} | {} | {} |",
                form.title(),
                sizer.label(),
                walk_cell(&props),
                walk_cell(&images)
            );
        }
    }
    println!();
    cron(b, servers, seed_db, run_db, ours, shape, copy, &cut).await
}

/// The 100 oldest eligible rows of image_properties: Glance's statement against the one-statement
/// window forms, alternated on one copy, 7 repeats each.
#[allow(clippy::too_many_arguments)]
async fn cron(
    b: Backend,
    servers: &Servers,
    seed_db: &Db,
    run_db: &Db,
    ours: &std::path::Path,
    shape: Shape,
    copy: MariadbCopy,
    cut: &str,
) -> Result<(), String> {
    servers.copy(seed_db, run_db, copy, ours, shape).await?;
    let mut c = run_db.connect().await?;
    let t = "image_properties";
    let window =
        format!("SELECT id FROM {t} WHERE deleted_at < '{cut}' ORDER BY deleted_at, id LIMIT 100");
    let one_statement = match b {
        Backend::Sqlite => format!(
            "DELETE FROM {t} WHERE rowid IN ({})",
            window.replacen("SELECT id", "SELECT rowid", 1)
        ),
        Backend::Postgres => format!(
            "WITH w AS ({window}), d AS (DELETE FROM {t} USING w WHERE {t}.id = w.id RETURNING {t}.id) \
             SELECT (SELECT count(*) FROM w), count(*) FROM d"
        ),
        Backend::Mariadb => format!("DELETE d FROM {t} d JOIN ({window}) w ON d.id = w.id"),
    };
    let mut forms: Vec<(&str, String)> = vec![
        (
            "Glance's statement (LIMIT 100)",
            glance_statement(t, cut, Some(100)),
        ),
        ("one statement: window joined on the key", one_statement),
        (
            "two statements: read the window's keys, DELETE … id IN (keys)",
            window.clone(),
        ),
    ];
    if b == Backend::Mariadb {
        forms.push((
            "one statement: DELETE … ORDER BY deleted_at, id LIMIT 100",
            format!("DELETE FROM {t} WHERE deleted_at < '{cut}' ORDER BY deleted_at, id LIMIT 100"),
        ));
    }
    let mut times: Vec<Vec<f64>> = vec![vec![]; forms.len()];
    for _ in 0..7 {
        for (i, (_, sql)) in forms.iter().enumerate() {
            let t0 = Instant::now();
            let n = if sql.starts_with("WITH") {
                c.query(sql).await.map_err(|e| format!("{e}\n{sql}"))?[0][1]
                    .as_i64()
                    .unwrap_or(0) as u64
            } else if sql.starts_with("SELECT") {
                let keys: Vec<String> = c
                    .query(sql)
                    .await
                    .map_err(|e| format!("{e}\n{sql}"))?
                    .iter()
                    .map(|r| key_literal(&r[0]))
                    .collect();
                exec(
                    &mut c,
                    &format!("DELETE FROM {t} WHERE id IN ({})", keys.join(", ")),
                )
                .await?
            } else {
                exec(&mut c, sql).await?
            };
            times[i].push(t0.elapsed().as_secs_f64());
            if n != 100 {
                return Err(format!(
                    "{}: cron form deleted {n} rows, not 100:\n{sql}",
                    b.title()
                ));
            }
        }
    }
    c.close().await;
    println!(
        "### {}: the cron window (the 100 oldest eligible rows of image_properties)\n",
        b.title()
    );
    println!("| statement | median of 7 | min | max |");
    println!("|---|---|---|---|");
    for (i, (name, _)) in forms.iter().enumerate() {
        let mut v = times[i].clone();
        v.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.3} s | {:.3} s | {:.3} s |",
            v[v.len() / 2],
            v[0],
            v[v.len() - 1]
        );
    }
    println!();
    Ok(())
}
