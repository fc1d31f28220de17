//! Data migrations in key-range batches, on every backend.
//!
//! A data-migration statement of the form `UPDATE t SET … [WHERE cond]` on a table with a
//! one-column primary key `k` runs as a walk over the keys of the rows it matches:
//!
//! ```sql
//! SELECT MAX(k) FROM (SELECT k FROM t WHERE (cond) AND k > :lo ORDER BY k LIMIT :n) b  -- :hi
//! UPDATE t SET … WHERE (cond) AND k > :lo AND k <= :hi
//! ```
//!
//! so one statement changes at most `n` rows: a Galera write set stays within
//! `wsrep_max_ws_rows` (and, estimated from the table's average row length,
//! `wsrep_max_ws_size`), and on MySQL (no enclosing transaction) each batch commits on its own
//! instead of holding row locks on a whole large table. PostgreSQL and SQLite run the batches
//! inside the phase's (run's) transaction, which a stop rolls back whole. A batch the
//! cluster still rejects as too large is halved and run again. Any other statement shape runs
//! whole, as written.

use super::connection::{DbError, Param, Rows, Value};
use super::retry::{Class, classify};
use super::session::Session;
use crate::schema::model::Dialect;
use crate::sql::lexer::{Token, tokenize};
use crate::sql::quote;

/// Rows per batch when nothing smaller is needed.
pub const DEFAULT_BATCH_ROWS: u64 = 1000;

/// A statement split for batching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update<'a> {
    pub table: String,
    /// `UPDATE t SET …`, up to the WHERE.
    pub head: &'a str,
    /// The condition after WHERE, if any.
    pub cond: Option<&'a str>,
}

/// Splits `UPDATE t SET … [WHERE …]` (one table, no FROM/ORDER BY/LIMIT/RETURNING at the top
/// level); anything else is None and runs unbatched.
pub fn split_update(sql: &str, dialect: Dialect) -> Option<Update<'_>> {
    let tokens = tokenize(sql, dialect);
    if !tokens.first()?.token.is_word("UPDATE") || !tokens.get(2)?.token.is_word("SET") {
        return None;
    }
    let table = tokens.get(1)?.token.ident()?.to_string();
    let mut depth = 0i32;
    let mut where_at = None;
    for (i, t) in tokens.iter().enumerate().skip(3) {
        match &t.token {
            Token::Punct(p) if p == "(" => depth += 1,
            Token::Punct(p) if p == ")" => depth -= 1,
            Token::Punct(p) if p == ";" => return None,
            Token::Word(w) if depth == 0 => {
                let w = w.to_ascii_uppercase();
                if matches!(
                    w.as_str(),
                    "FROM" | "ORDER" | "LIMIT" | "RETURNING" | "JOIN"
                ) {
                    return None;
                }
                if w == "WHERE" && where_at.is_none() {
                    where_at = Some(i);
                }
            }
            _ => {}
        }
    }
    Some(match where_at {
        Some(i) => Update {
            table,
            head: sql[..tokens[i].start].trim_end(),
            cond: Some(sql[tokens[i].end..].trim()),
        },
        None => Update {
            table,
            head: sql.trim_end(),
            cond: None,
        },
    })
}

/// One batch done, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchDone {
    /// Rows changed by this batch.
    pub rows: u64,
    /// Rows changed so far by the statement.
    pub total: u64,
    /// The batch size in force (after any halving).
    pub size: u64,
}

fn key_param(v: &Value) -> Option<Param<'_>> {
    match v {
        Value::Int(i) => Some(Param::Int(*i)),
        Value::Text(s) => Some(Param::Text(s)),
        _ => None,
    }
}

/// The batch size for `table` on this session: `wanted`, within the Galera write-set limits.
pub async fn batch_size(session: &mut Session<'_>, table: &str, wanted: u64) -> u64 {
    let Some(g) = session.galera().cloned() else {
        return wanted.max(1);
    };
    let mut n = wanted;
    if let Some(rows) = g.row_limit() {
        n = n.min(rows);
    }
    if g.max_ws_size > 0 {
        let avg = session
            .query(
                "SELECT AVG_ROW_LENGTH FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                &[Param::Text(table)],
                "reading the table's average row length",
            )
            .await
            .ok()
            .and_then(|r: Rows| r.first().and_then(|r| r.first()).and_then(Value::as_i64))
            .unwrap_or(0)
            .max(256) as u64;
        // Half the limit: the write set carries keys and before-images too.
        n = n.min((g.max_ws_size / 2 / avg).max(1));
    }
    n.max(1)
}

/// Runs `sql` in batches of at most `size` rows when it can be split and `key` (the table's
/// one-column primary key) is known; otherwise whole. Returns the rows changed.
pub async fn run(
    session: &mut Session<'_>,
    sql: &str,
    key: Option<&str>,
    size: u64,
    on_batch: &mut dyn FnMut(BatchDone),
) -> Result<u64, DbError> {
    let d = session.dialect();
    let (Some(up), Some(key)) = (split_update(sql, d), key) else {
        let rows = session.run_statement(sql).await?;
        on_batch(BatchDone {
            rows,
            total: rows,
            size: rows,
        });
        return Ok(rows);
    };
    let t = quote(d, &up.table);
    let k = format!("{t}.{}", quote(d, key));
    let cond = up.cond.map(|c| format!("({c})"));
    let ph = |n: usize| {
        if d == Dialect::Postgres {
            format!("${n}")
        } else {
            "?".to_string()
        }
    };
    let mut size = size.max(1);
    let mut lo: Option<Value> = None;
    let mut total = 0u64;
    loop {
        let mut filter: Vec<String> = cond.iter().cloned().collect();
        if lo.is_some() {
            filter.push(format!("{k} > {}", ph(1)));
        }
        let where_ = if filter.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filter.join(" AND "))
        };
        let next = format!(
            "SELECT MAX(b.k) FROM (SELECT {k} AS k FROM {t}{where_} ORDER BY {k} LIMIT {size}) b"
        );
        let params: Vec<Param> = lo.iter().filter_map(key_param).collect();
        let hi = session
            .query(
                &next,
                &params,
                &format!("finding the next batch of {}", up.table),
            )
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .filter(|v| !v.is_null());
        let Some(hi) = hi else {
            return Ok(total);
        };
        let mut range: Vec<String> = cond.iter().cloned().collect();
        let mut params: Vec<Param> = Vec::new();
        if let Some(p) = lo.as_ref().and_then(key_param) {
            range.push(format!("{k} > {}", ph(params.len() + 1)));
            params.push(p);
        }
        range.push(format!("{k} <= {}", ph(params.len() + 1)));
        params.extend(key_param(&hi));
        let update = format!("{} WHERE {}", up.head, range.join(" AND "));
        match session.run_with(&update, &params).await {
            Ok(rows) => {
                total += rows;
                on_batch(BatchDone { rows, total, size });
                lo = Some(hi);
            }
            Err(e) if classify(&e) == Class::WriteSetLimit && size > 1 => {
                // Too large for the cluster: the same range again, in halves.
                size = (size / 2).max(1);
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_glance_data_migrations() {
        let s = "UPDATE images SET visibility = 'shared' WHERE visibility IS NULL AND EXISTS (SELECT 1 FROM image_members WHERE image_members.image_id = images.id AND image_members.deleted = FALSE)";
        let u = split_update(s, Dialect::Mysql).unwrap();
        assert_eq!(u.table, "images");
        assert_eq!(u.head, "UPDATE images SET visibility = 'shared'");
        assert!(u.cond.unwrap().starts_with("visibility IS NULL AND EXISTS"));
        assert!(u.cond.unwrap().ends_with("image_members.deleted = FALSE)"));

        let s = "UPDATE image_locations SET meta_data = REPLACE(meta_data, '\"backend\":', '\"store\":') WHERE meta_data <> REPLACE(meta_data, '\"backend\":', '\"store\":')";
        let u = split_update(s, Dialect::Postgres).unwrap();
        assert_eq!(u.table, "image_locations");
        assert!(u.cond.unwrap().starts_with("meta_data <>"));

        let u = split_update("UPDATE t SET a = 1", Dialect::Sqlite).unwrap();
        assert_eq!((u.head, u.cond), ("UPDATE t SET a = 1", None));
    }

    #[test]
    fn leaves_other_shapes_whole() {
        for s in [
            "DELETE FROM images WHERE deleted = TRUE",
            "UPDATE images SET a = 1 FROM other WHERE other.id = images.id",
            "UPDATE images SET a = 1 WHERE b = 2 LIMIT 10",
            "UPDATE images SET a = 1 WHERE b = 2 RETURNING id",
            "UPDATE images SET a = 1; UPDATE images SET b = 2",
            "INSERT INTO t VALUES (1)",
        ] {
            assert_eq!(split_update(s, Dialect::Mysql), None, "{s}");
        }
        // A FROM or WHERE inside a subquery of SET is not the statement's.
        let u = split_update(
            "UPDATE t SET a = (SELECT MAX(x) FROM u WHERE u.id = t.id) WHERE a IS NULL",
            Dialect::Postgres,
        )
        .unwrap();
        assert_eq!(u.cond, Some("a IS NULL"));
        assert_eq!(
            u.head,
            "UPDATE t SET a = (SELECT MAX(x) FROM u WHERE u.id = t.id)"
        );
    }
}
