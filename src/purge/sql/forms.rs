//! The one-statement batch forms of each backend, the capped (cron) window read once as keys,
//! and the cheap refusal probe (benches/PURGE-DESIGN.md §4.2, §4.5, §4.6).

use super::{Key, Span, Sql};
use crate::purge::graph::{DELETED_AT, Step};
use crate::schema::model::Dialect;

impl Sql<'_> {
    /// PostgreSQL: one statement per batch, one row back: rows deleted, candidates, then the
    /// last candidate's key (the walk's next start). The candidates are the next `n` deletable
    /// rows in key order (the guard is inside the LIMIT); the DELETE addresses them by `ctid`, a
    /// TID scan whatever the batch size (the `pk IN (SELECT …)` form flips to a hash semi-join
    /// over a sequential scan from ~10,000 rows). No row lock in the candidate scan: a
    /// `FOR UPDATE` writes a lock record to the WAL for every row before the DELETE writes
    /// its own, which cost ~13 % of a `db purge` (benches/PURGE-DESIGN.md §7). A
    /// candidate changed or deleted meanwhile by another transaction no longer matches its
    /// `ctid` when the DELETE rechecks it, so it is left alone (a later batch or run takes it
    /// if it is still eligible); one held by another transaction is waited for, up to the
    /// session's `lock_timeout`.
    pub fn pg_batch(&self, step: &Step, window: Option<&Key>, span: Span<'_>, n: u64) -> String {
        let a = "t";
        let pk = self.cols(a, &step.pk);
        let mut cond = span.narrow(&pk, self.eligible(step, a, window));
        if let Some(g) = self.guard(step, a) {
            cond = format!("{cond} AND {g}");
        }
        let table = self.q(&step.table);
        let aliased: Vec<String> = pk
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} AS c{i}"))
            .collect();
        let keys: Vec<String> = (0..pk.len()).map(|i| format!("c.c{i}")).collect();
        let desc: Vec<String> = keys.iter().map(|k| format!("{k} DESC")).collect();
        format!(
            "WITH c AS (SELECT {a}.ctid AS tid, {} FROM {table} {a} WHERE {cond} ORDER BY {} LIMIT {n}), \
             d AS (DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT tid FROM c)) RETURNING 1) \
             SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM c), {} FROM c ORDER BY {} LIMIT 1",
            aliased.join(", "),
            pk.join(", "),
            keys.join(", "),
            desc.join(", ")
        )
    }

    /// MariaDB: one single-table statement, the deleted keys streamed back (the walk keeps the
    /// largest). MariaDB 10.11 takes no alias in a single-table DELETE, so the rules refer to
    /// the table by name; `None` where the form does not apply: a table name that is not a
    /// plain identifier, or a self-referencing guard (a subquery on the DELETE's own table is
    /// error 1093).
    pub fn mariadb_batch(
        &self,
        step: &Step,
        window: Option<&Key>,
        span: Span<'_>,
        n: u64,
    ) -> Option<String> {
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !s.starts_with(|c: char| c.is_ascii_digit())
        };
        if self.dialect != Dialect::Mysql || step.self_referencing || !plain(&step.table) {
            return None;
        }
        let a = step.table.as_str();
        let pk = self.cols(a, &step.pk);
        let mut cond = span.narrow(&pk, self.eligible(step, a, window));
        if let Some(g) = self.guard(step, a) {
            cond = format!("{cond} AND {g}");
        }
        Some(format!(
            "DELETE FROM {} WHERE {cond} ORDER BY {} LIMIT {n} RETURNING {}",
            self.q(&step.table),
            pk.join(", "),
            pk.join(", ")
        ))
    }

    /// A capped step's window as keys, read once: the primary keys of the first `m` eligible
    /// rows in Glance's order (the root's `deleted_at`, then primary keys down the path). One
    /// scan and a top-m sort; the DELETE then probes the keys instead of scanning again.
    pub fn window_keys(&self, step: &Step, m: u64) -> String {
        let a = "t";
        let root = Self::root_alias(step, a);
        format!(
            "SELECT {} FROM {} {a}{} WHERE {} < {} ORDER BY {} LIMIT {m}",
            self.cols(a, &step.pk).join(", "),
            self.q(&step.table),
            self.path_joins(step, a),
            self.col(&root, DELETED_AT),
            self.cutoff,
            self.order_keys(step, a).join(", ")
        )
    }

    /// `(pk) IN (keys…)` over alias `a`; keys are SQL literals.
    fn in_keys(&self, step: &Step, a: &str, keys: &[Key]) -> String {
        let pk = self.cols(a, &step.pk);
        let tuple = |k: &Key| {
            if k.len() == 1 {
                k[0].clone()
            } else {
                format!("({})", k.join(", "))
            }
        };
        let lhs = if pk.len() == 1 {
            pk[0].clone()
        } else {
            format!("({})", pk.join(", "))
        };
        let list: Vec<String> = keys.iter().map(tuple).collect();
        format!("{lhs} IN ({})", list.join(", "))
    }

    /// Deletes the rows of the window with these keys that are still eligible and unreferenced.
    /// `keys` is never empty.
    pub fn delete_keys(&self, step: &Step, keys: &[Key]) -> String {
        let a = match self.dialect {
            // No alias in MariaDB's single-table DELETE (see mariadb_batch); the keys form
            // only probes, so the multi-table form with an alias does as well everywhere else.
            Dialect::Mysql => "d",
            _ => "t",
        };
        let mut cond = format!(
            "{} AND {}",
            self.in_keys(step, a, keys),
            self.eligible(step, a, None)
        );
        if let Some(g) = self.guard(step, a) {
            cond = format!("{cond} AND {g}");
        }
        let table = self.q(&step.table);
        match self.dialect {
            Dialect::Mysql => format!("DELETE {a} FROM {table} {a} WHERE {cond}"),
            _ => {
                let pk: Vec<String> = step.pk.iter().map(|c| self.q(c)).collect();
                let lhs = if pk.len() == 1 {
                    pk[0].clone()
                } else {
                    format!("({})", pk.join(", "))
                };
                format!(
                    "DELETE FROM {table} WHERE {lhs} IN (SELECT {} FROM {table} {a} WHERE {cond})",
                    self.cols(a, &step.pk).join(", ")
                )
            }
        }
    }

    /// Rows of the window still there after its delete: the ones the guard kept.
    pub fn count_keys(&self, step: &Step, keys: &[Key]) -> String {
        format!(
            "SELECT COUNT(*) FROM {} t WHERE {}",
            self.q(&step.table),
            self.in_keys(step, "t", keys)
        )
    }

    /// `purge_images_table`'s refusal check, asked cheaply first: is any eligible row of the
    /// window still referenced? Only when one is are the per-table counts computed.
    pub fn any_referenced(&self, step: &Step, window: Option<&Key>) -> Option<String> {
        let g = self.guard(step, "t")?;
        Some(format!(
            "SELECT 1 FROM {} t WHERE {} AND NOT ({g}) LIMIT 1",
            self.q(&step.table),
            self.eligible(step, "t", window)
        ))
    }

    /// Where to cut a step's walk into `parts` spans of about equal eligible rows: the last
    /// primary key of each of the first `parts - 1` tiles of the eligible rows in key order
    /// (`NTILE`: one scan). Any cut points give a correct purge (the spans are disjoint and
    /// cover every key); these balance it. `None` for a composite key (`MAX` of a tuple).
    pub fn split_keys(&self, step: &Step, window: Option<&Key>, parts: u64) -> Option<String> {
        let [pk] = step.pk.as_slice() else {
            return None;
        };
        let a = "t";
        let col = self.col(a, pk);
        Some(format!(
            "SELECT MAX(x.c0) FROM (SELECT {col} AS c0, NTILE({parts}) OVER (ORDER BY {col}) AS b \
             FROM {} {a} WHERE {}) x GROUP BY x.b ORDER BY 1",
            self.q(&step.table),
            self.eligible(step, a, window)
        ))
    }
}
