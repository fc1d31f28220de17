//! The SQL of every purge step, per dialect: eligibility (a row's own `deleted_at`, or its
//! soft-deleted ancestor's along the FK path), the FK-safety guard, the window of a capped step,
//! the keyset-walking batch end and the batched DELETE.

mod forms;

use super::graph::{DELETED_AT, Fk, Step};
use crate::exec::connection::Value;
use crate::schema::model::Dialect;
use crate::sql::quote;

/// Renders the SQL of the steps for one dialect. Values (the cutoff, cursor and window keys)
/// are passed as ready SQL literals, so the dry run can show the same statements with
/// placeholders in their place.
pub struct Sql<'a> {
    pub dialect: Dialect,
    /// The cutoff as a SQL literal.
    pub cutoff: String,
    pub steps: &'a [Step],
}

/// Counting the rows of one referencing table that point at eligible rows: all of them, and
/// those soft-deleted before the cutoff (which `db purge` removes), when the table has
/// `deleted_at`.
#[derive(Debug, Clone)]
pub struct BlockingSql {
    pub fk: Fk,
    pub rows: String,
    pub purgeable: Option<String>,
}

/// A window end: the key of the last row (in Glance's order) a capped step may delete, as SQL
/// literals (`deleted_at`, then the primary keys of [`Sql::window_end`]'s order).
pub type Key = Vec<String>;

/// Which eligible rows a step may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Window {
    /// No cap (`--max_rows -1`, or fewer eligible rows than the cap).
    All,
    /// Up to and including this key in Glance's order.
    UpTo(Key),
    /// The step deletes nothing (cap 0 or exhausted, or no eligible row).
    Nothing,
}

/// A slice of the primary-key space a walk covers: keys after `after` (exclusive) up to
/// `until` (inclusive); both `None`: the whole table. Parallel parts of one step each walk
/// their own span ([`Sql::split_keys`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Span<'k> {
    pub after: Option<&'k Key>,
    pub until: Option<&'k Key>,
}

impl Span<'_> {
    /// `cond` narrowed to the span, over the key expressions `pk`.
    pub fn narrow(&self, pk: &[String], cond: String) -> String {
        let mut cond = cond;
        if let Some(until) = self.until {
            cond = format!("{} AND {cond}", lex_cmp(pk, until, "<="));
        }
        if let Some(after) = self.after {
            cond = format!("{} AND {cond}", lex_cmp(pk, after, ">"));
        }
        cond
    }
}

impl Window {
    pub fn key(&self) -> Option<&Key> {
        match self {
            Window::UpTo(k) => Some(k),
            _ => None,
        }
    }
}

impl Sql<'_> {
    fn q(&self, ident: &str) -> String {
        quote(self.dialect, ident)
    }

    fn col(&self, alias: &str, c: &str) -> String {
        format!("{alias}.{}", self.q(c))
    }

    fn cols(&self, alias: &str, cs: &[String]) -> Vec<String> {
        cs.iter().map(|c| self.col(alias, c)).collect()
    }

    fn text(&self, expr: &str) -> String {
        match self.dialect {
            Dialect::Mysql => format!("CAST({expr} AS CHAR)"),
            _ => format!("CAST({expr} AS TEXT)"),
        }
    }

    /// `a.x = b.y AND …`
    fn join_eq(&self, left: &str, lcols: &[String], right: &str, rcols: &[String]) -> String {
        lcols
            .iter()
            .zip(rcols)
            .map(|(l, r)| format!("{} = {}", self.col(left, l), self.col(right, r)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The order of Glance's pick, as expressions over the aliases of [`Self::from_path`]:
    /// the root's `deleted_at`, then primary keys from the root down to the step's table.
    fn order_keys(&self, step: &Step, alias: &str) -> Vec<String> {
        let n = step.path.len();
        let root_alias = if n == 0 {
            alias.to_string()
        } else {
            format!("{alias}_{n}")
        };
        let mut keys = vec![self.col(&root_alias, DELETED_AT)];
        for i in (1..=n).rev() {
            keys.extend(self.cols(&format!("{alias}_{i}"), &step.path[i - 1].parent_pk));
        }
        keys.extend(self.cols(alias, &step.pk));
        keys
    }

    /// `JOIN parent alias_1 ON … JOIN grandparent alias_2 ON …` for a dependent step.
    fn path_joins(&self, step: &Step, alias: &str) -> String {
        let mut out = String::new();
        for (i, hop) in step.path.iter().enumerate() {
            let child = if i == 0 {
                alias.to_string()
            } else {
                format!("{alias}_{i}")
            };
            let parent = format!("{alias}_{}", i + 1);
            out.push_str(&format!(
                " JOIN {} {parent} ON {}",
                self.q(&hop.fk.ref_table),
                self.join_eq(&parent, &hop.fk.ref_columns, &child, &hop.fk.columns)
            ));
        }
        out
    }

    fn root_alias(step: &Step, alias: &str) -> String {
        if step.path.is_empty() {
            alias.to_string()
        } else {
            format!("{alias}_{}", step.path.len())
        }
    }

    /// Row `alias` of the step's table is eligible (and inside the window, when capped).
    pub fn eligible(&self, step: &Step, alias: &str, window: Option<&Key>) -> String {
        let root = Self::root_alias(step, alias);
        let mut cond = format!("{} < {}", self.col(&root, DELETED_AT), self.cutoff);
        if let Some(w) = window {
            cond = format!(
                "{cond} AND {}",
                lex_cmp(&self.order_keys(step, alias), w, "<=")
            );
        }
        if step.path.is_empty() {
            return cond;
        }
        // EXISTS over the parent chain, correlated on the step's row.
        let first = &step.path[0];
        let p1 = format!("{alias}_1");
        let mut joins = String::new();
        for (i, hop) in step.path.iter().enumerate().skip(1) {
            let child = format!("{alias}_{i}");
            let parent = format!("{alias}_{}", i + 1);
            joins.push_str(&format!(
                " JOIN {} {parent} ON {}",
                self.q(&hop.fk.ref_table),
                self.join_eq(&parent, &hop.fk.ref_columns, &child, &hop.fk.columns)
            ));
        }
        format!(
            "EXISTS (SELECT 1 FROM {} {p1}{joins} WHERE {} AND {cond})",
            self.q(&first.fk.ref_table),
            self.join_eq(&p1, &first.fk.ref_columns, alias, &first.fk.columns)
        )
    }

    /// No row of any referencing table points at row `alias` (the FK-safety guard).
    pub fn guard(&self, step: &Step, alias: &str) -> Option<String> {
        if step.guards.is_empty() {
            return None;
        }
        Some(
            step.guards
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    let ga = format!("{alias}_g{i}");
                    format!(
                        "NOT EXISTS (SELECT 1 FROM {} {ga} WHERE {})",
                        self.q(&g.table),
                        self.join_eq(&ga, &g.columns, alias, &g.ref_columns)
                    )
                })
                .collect::<Vec<_>>()
                .join(" AND "),
        )
    }

    /// The guard as it will stand when `step` runs: references from rows that earlier steps
    /// delete do not count. Used by the dry run, which deletes nothing and so must predict.
    pub fn guard_predicted(
        &self,
        index: usize,
        alias: &str,
        windows: &[Window],
        depth: usize,
    ) -> Option<String> {
        let step = &self.steps[index];
        if step.guards.is_empty() {
            return None;
        }
        let parts: Vec<String> = step
            .guards
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let ga = format!("{alias}_g{i}");
                let mut cond = self.join_eq(&ga, &g.columns, alias, &g.ref_columns);
                // Rows of the referencing table removed by an earlier step.
                let removed: Vec<String> = (0..index)
                    .filter(|&j| {
                        self.steps[j].table == g.table && windows[j] != Window::Nothing && depth < 8
                    })
                    .map(|j| {
                        let mut e = self.eligible(&self.steps[j], &ga, windows[j].key());
                        if let Some(gd) = self.guard_predicted(j, &ga, windows, depth + 1) {
                            e = format!("{e} AND {gd}");
                        }
                        format!("({e})")
                    })
                    .collect();
                if !removed.is_empty() {
                    cond = format!("{cond} AND NOT ({})", removed.join(" OR "));
                }
                format!(
                    "NOT EXISTS (SELECT 1 FROM {} {ga} WHERE {cond})",
                    self.q(&g.table)
                )
            })
            .collect();
        Some(parts.join(" AND "))
    }

    /// The key of the `m`-th row in Glance's order (`ORDER BY deleted_at` of the root, then
    /// primary keys as tie-breaker), or of the last eligible row when there are fewer.
    /// Returns text columns: `deleted_at` first, then the keys.
    pub fn window_end(&self, step: &Step, m: i64) -> String {
        let a = "t";
        let keys = self.order_keys(step, a);
        let aliased: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} AS k{i}"))
            .collect();
        let outer: Vec<String> = (0..keys.len())
            .map(|i| {
                if i == 0 {
                    self.text(&format!("x.k{i}"))
                } else {
                    format!("x.k{i}")
                }
            })
            .collect();
        let desc: Vec<String> = (0..keys.len()).map(|i| format!("x.k{i} DESC")).collect();
        let root = Self::root_alias(step, a);
        format!(
            "SELECT {} FROM (SELECT {} FROM {} {a}{} WHERE {} < {} ORDER BY {} LIMIT {m}) x ORDER BY {} LIMIT 1",
            outer.join(", "),
            aliased.join(", "),
            self.q(&step.table),
            self.path_joins(step, a),
            self.col(&root, DELETED_AT),
            self.cutoff,
            keys.join(", "),
            desc.join(", ")
        )
    }

    /// How many rows the window of a capped step holds, counted to decide whether the window
    /// is needed at all.
    pub fn count_eligible(&self, step: &Step, window: Option<&Key>) -> String {
        format!(
            "SELECT COUNT(*) FROM {} t WHERE {}",
            self.q(&step.table),
            self.eligible(step, "t", window)
        )
    }

    /// Rows a dry run predicts the step deletes.
    pub fn count_predicted(&self, index: usize, windows: &[Window]) -> String {
        let step = &self.steps[index];
        let mut cond = self.eligible(step, "t", windows[index].key());
        if let Some(g) = self.guard_predicted(index, "t", windows, 0) {
            cond = format!("{cond} AND {g}");
        }
        format!(
            "SELECT COUNT(*) FROM {} t WHERE {cond}",
            self.q(&step.table)
        )
    }

    /// The last primary key of the next batch: the largest key among the next `n` eligible
    /// rows after `after`. Read as one row, never the batch itself.
    pub fn batch_end(&self, step: &Step, window: Option<&Key>, span: Span<'_>, n: u64) -> String {
        let a = "t";
        let pk = self.cols(a, &step.pk);
        let aliased: Vec<String> = pk
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} AS c{i}"))
            .collect();
        let outer: Vec<String> = (0..pk.len()).map(|i| format!("x.c{i}")).collect();
        let desc: Vec<String> = outer.iter().map(|c| format!("{c} DESC")).collect();
        let cond = span.narrow(&pk, self.eligible(step, a, window));
        format!(
            "SELECT {} FROM (SELECT {} FROM {} {a} WHERE {cond} ORDER BY {} LIMIT {n}) x ORDER BY {} LIMIT 1",
            outer.join(", "),
            aliased.join(", "),
            self.q(&step.table),
            pk.join(", "),
            desc.join(", ")
        )
    }

    /// Deletes the eligible, unreferenced rows with primary key in `(after, upto]`, in the
    /// dialect's shape:
    /// - PostgreSQL: `DELETE … WHERE pk IN (SELECT pk … ORDER BY pk LIMIT n)`;
    /// - MySQL/MariaDB: no LIMIT directly inside IN, and no subquery on the target table, so the
    ///   batch is a materialized derived table joined on the primary key:
    ///   `DELETE t FROM t JOIN (SELECT pk … ORDER BY pk LIMIT n) x ON t.pk = x.pk`. Not Glance's
    ///   `… WHERE pk IN (SELECT x.pk FROM (…) x)`: MariaDB runs that IN as a dependent subquery
    ///   over a full scan of the table for every statement (EXPLAIN: `type ALL`), which makes a
    ///   batched walk quadratic; the join reads the batch by `eq_ref` on the primary key;
    /// - SQLite: the primary key (the rowid alias for INTEGER keys) subselect.
    pub fn delete(
        &self,
        step: &Step,
        window: Option<&Key>,
        after: Option<&Key>,
        upto: &Key,
        n: u64,
    ) -> String {
        let a = "t";
        let pk = self.cols(a, &step.pk);
        let span = Span { after, until: None };
        let mut cond = span.narrow(&pk, self.eligible(step, a, window));
        cond = format!("{} AND {cond}", lex_cmp(&pk, upto, "<="));
        if let Some(g) = self.guard(step, a) {
            cond = format!("{cond} AND {g}");
        }
        let target_pk: Vec<String> = step.pk.iter().map(|c| self.q(c)).collect();
        let lhs = if target_pk.len() == 1 {
            target_pk[0].clone()
        } else {
            format!("({})", target_pk.join(", "))
        };
        let inner = |select: &str| {
            format!(
                "SELECT {select} FROM {} {a} WHERE {cond} ORDER BY {} LIMIT {n}",
                self.q(&step.table),
                pk.join(", ")
            )
        };
        match self.dialect {
            Dialect::Mysql => {
                let on: Vec<String> = step
                    .pk
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("d.{} = x.c{i}", self.q(c)))
                    .collect();
                let aliased: Vec<String> = pk
                    .iter()
                    .enumerate()
                    .map(|(i, k)| format!("{k} AS c{i}"))
                    .collect();
                format!(
                    "DELETE d FROM {} d JOIN ({}) x ON {}",
                    self.q(&step.table),
                    inner(&aliased.join(", ")),
                    on.join(" AND ")
                )
            }
            _ => format!(
                "DELETE FROM {} WHERE {lhs} IN ({})",
                self.q(&step.table),
                inner(&pk.join(", "))
            ),
        }
    }

    /// For `purge_images_table`: how many rows of each referencing table point at an image in
    /// the window (the rows that block it).
    pub fn blocking_rows(&self, step: &Step, window: Option<&Key>) -> Vec<BlockingSql> {
        step.guards
            .iter()
            .filter(|g| g.table != step.table)
            .map(|g| {
                let count = |extra: &str| {
                    format!(
                        "SELECT COUNT(*) FROM {} r WHERE EXISTS (SELECT 1 FROM {} t WHERE {} AND {}){extra}",
                        self.q(&g.table),
                        self.q(&step.table),
                        self.join_eq("r", &g.columns, "t", &g.ref_columns),
                        self.eligible(step, "t", window)
                    )
                };
                BlockingSql {
                    fk: g.clone(),
                    rows: count(""),
                    purgeable: g.soft_delete.then(|| {
                        count(&format!(
                            " AND {} < {}",
                            self.col("r", DELETED_AT),
                            self.cutoff
                        ))
                    }),
                }
            })
            .collect()
    }

    /// Eligible rows of the window that some row still references.
    pub fn count_referenced(&self, step: &Step, window: Option<&Key>) -> Option<String> {
        let g = self.guard(step, "t")?;
        Some(format!(
            "SELECT COUNT(*) FROM {} t WHERE {} AND NOT ({g})",
            self.q(&step.table),
            self.eligible(step, "t", window)
        ))
    }
}

/// A value read back from the database as a SQL literal of `dialect` (`numeric`: an integer
/// column, written bare).
pub fn sql_value(dialect: Dialect, v: &Value, numeric: bool) -> String {
    match v {
        Value::Int(i) if numeric => i.to_string(),
        Value::Int(i) => crate::sql::literal(dialect, &i.to_string()),
        Value::Text(s) if numeric && s.parse::<i64>().is_ok() => s.clone(),
        Value::Text(s) => crate::sql::literal(dialect, s),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Value::Null => "NULL".to_string(),
    }
}

/// Lexicographic comparison of a key tuple with literal values, spelled with AND/OR so every
/// backend (and every index) handles it: `(a, b) > (x, y)` ⇔ `a > x OR (a = x AND b > y)`.
/// `op` is `>` or `<=`.
pub fn lex_cmp(exprs: &[String], values: &[String], op: &str) -> String {
    let strict = if op == "<=" { "<" } else { op };
    let n = exprs.len().min(values.len());
    let mut terms = Vec::new();
    for i in 0..n {
        let mut parts: Vec<String> = (0..i)
            .map(|j| format!("{} = {}", exprs[j], values[j]))
            .collect();
        let last_op = if i == n - 1 { op } else { strict };
        parts.push(format!("{} {last_op} {}", exprs[i], values[i]));
        terms.push(parts.join(" AND "));
    }
    if terms.len() == 1 {
        terms.pop().unwrap_or_default()
    } else {
        format!(
            "({})",
            terms
                .iter()
                .map(|t| format!("({t})"))
                .collect::<Vec<_>>()
                .join(" OR ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexicographic_comparisons() {
        let e = vec!["a".to_string(), "b".to_string()];
        let v = vec!["1".to_string(), "2".to_string()];
        assert_eq!(lex_cmp(&e[..1], &v[..1], ">"), "a > 1");
        assert_eq!(lex_cmp(&e, &v, ">"), "((a > 1) OR (a = 1 AND b > 2))");
        assert_eq!(lex_cmp(&e, &v, "<="), "((a < 1) OR (a = 1 AND b <= 2))");
    }
}
