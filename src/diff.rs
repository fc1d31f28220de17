//! Compares two schemas of the same dialect (both normalized) and lists the typed changes that
//! turn the first into the second. The list is unordered; `plan` orders it.
//!
//! Matching rules:
//! - tables and columns by name, following `renamed_from` hints (a rename is never drop + add);
//! - indexes by name (same name, other definition ⇒ drop + add);
//! - unique constraints by name when both sides name them, else by columns;
//! - foreign keys by what they enforce (columns, referenced table and columns, actions); a name
//!   only matters when the target gives one, so legacy names such as `metadef_objects_fk_1`
//!   are not drift;
//! - checks by (canonical) expression, likewise;
//! - triggers by table and name (a table rename carries its triggers along); same name, other
//!   timing, event or body ⇒ one [`Change::AlterTrigger`].

pub use crate::schema::change::{Change, apply, apply_all, expr_mentions, is_relaxing};
use crate::schema::model::*;

/// The result of a comparison: what to change, and what cannot be compared safely.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub changes: Vec<Change>,
    /// Objects the engine cannot plan for (unsupported types), reported instead of altered.
    pub unsupported: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

fn unique_matches(a: &Unique, b: &Unique) -> bool {
    match (&a.name, &b.name) {
        (Some(x), Some(y)) => x == y && a.columns == b.columns,
        _ => a.columns == b.columns,
    }
}

fn fk_matches(live: &ForeignKey, target: &ForeignKey) -> bool {
    live.same_shape(target) && (target.name.is_none() || target.name == live.name)
}

fn check_matches(live: &Check, target: &Check) -> bool {
    live.expr == target.expr && (target.name.is_none() || target.name == live.name)
}

/// Lists the changes that turn `from` into `to`.
pub fn diff(from: &Schema, to: &Schema) -> Diff {
    let mut out = Diff::default();

    // Enum types (PostgreSQL).
    for e in to.enums.values() {
        match from.enums.get(&e.name) {
            None => out.changes.push(Change::CreateEnum(e.clone())),
            Some(old) if old.values != e.values => {
                if e.values.starts_with(&old.values) {
                    out.changes.push(Change::AddEnumValues {
                        name: e.name.clone(),
                        values: e.values[old.values.len()..].to_vec(),
                    });
                } else {
                    out.unsupported.push(format!(
                        "enum type `{}`: values change from {:?} to {:?} (only appending values is supported)",
                        e.name, old.values, e.values
                    ));
                }
            }
            _ => {}
        }
    }

    // Tables: renames first, so the renamed table is compared as a whole.
    let mut matched_from: Vec<&str> = Vec::new();
    for t in to.tables.values() {
        let source = match from.tables.get(&t.name) {
            Some(f) => Some(f),
            None => match &t.renamed_from {
                Some(old) if from.tables.contains_key(old) && !to.tables.contains_key(old) => {
                    out.changes.push(Change::RenameTable {
                        from: old.clone(),
                        to: t.name.clone(),
                    });
                    from.tables.get(old)
                }
                _ => None,
            },
        };
        match source {
            None => out.changes.push(Change::CreateTable(t.clone())),
            Some(f) => {
                matched_from.push(&f.name);
                diff_table(f, t, &mut out);
            }
        }
    }
    for f in from.tables.values() {
        if !matched_from.contains(&f.name.as_str()) {
            out.changes.push(Change::DropTable(f.clone()));
        }
    }
    for e in from.enums.values() {
        if !to.enums.contains_key(&e.name) {
            out.changes.push(Change::DropEnum(e.clone()));
        }
    }
    diff_triggers(from, to, &mut out);
    out
}

/// Triggers: matched by table (after the renames `out` already holds) and name. Like every
/// per-table change, trigger changes name the table as it is after the renames.
fn diff_triggers(from: &Schema, to: &Schema, out: &mut Diff) {
    let renamed_to = |table: &str| -> String {
        out.changes
            .iter()
            .find_map(|c| match c {
                Change::RenameTable { from, to } if from == table => Some(to.clone()),
                _ => None,
            })
            .unwrap_or_else(|| table.to_string())
    };
    let live: Vec<(String, &Trigger)> = from
        .triggers
        .iter()
        .map(|t| (renamed_to(&t.table), t))
        .collect();
    let mut changes = Vec::new();
    for t in &to.triggers {
        match live
            .iter()
            .find(|(table, l)| *table == t.table && l.name == t.name)
        {
            None => changes.push(Change::AddTrigger(t.clone())),
            Some((table, l)) => {
                let moved = Trigger {
                    table: table.clone(),
                    ..(*l).clone()
                };
                if moved != *t {
                    changes.push(Change::AlterTrigger {
                        from: moved,
                        to: t.clone(),
                    });
                }
            }
        }
    }
    for (table, l) in &live {
        if !to
            .triggers
            .iter()
            .any(|t| t.table == *table && t.name == l.name)
        {
            changes.push(Change::DropTrigger(Trigger {
                table: table.clone(),
                ..(*l).clone()
            }));
        }
    }
    out.changes.extend(changes);
}

fn diff_table(from: &Table, to: &Table, out: &mut Diff) {
    let table = to.name.clone();
    let mut matched: Vec<&str> = Vec::new();
    for c in &to.columns {
        let source = match from.column(&c.name) {
            Some(fc) => Some(fc),
            None => match &c.renamed_from {
                Some(old) if from.has_column(old) && !to.has_column(old) => {
                    out.changes.push(Change::RenameColumn {
                        table: table.clone(),
                        from: old.clone(),
                        to: c.name.clone(),
                    });
                    from.column(old)
                }
                _ => None,
            },
        };
        match source {
            None => out.changes.push(Change::AddColumn {
                table: table.clone(),
                column: c.clone(),
            }),
            Some(fc) => {
                matched.push(&fc.name);
                if let ColumnType::Unsupported(native) = &fc.ty {
                    if fc.ty != c.ty {
                        out.unsupported.push(format!(
                            "column `{table}.{}` has type `{native}`, which the engine cannot compare with `{}`",
                            c.name, c.ty
                        ));
                    }
                    continue;
                }
                if !fc.same_definition(c) {
                    let mut from_col = fc.clone();
                    from_col.name = c.name.clone();
                    let mut to_col = c.clone();
                    to_col.renamed_from = None;
                    from_col.renamed_from = None;
                    out.changes.push(Change::AlterColumn {
                        table: table.clone(),
                        from: from_col,
                        to: to_col,
                    });
                }
            }
        }
    }
    for fc in &from.columns {
        if !matched.contains(&fc.name.as_str()) {
            out.changes.push(Change::DropColumn {
                table: table.clone(),
                column: fc.clone(),
            });
        }
    }

    let pk_cols = |pk: &Option<PrimaryKey>| pk.as_ref().map(|p| p.columns.clone());
    // A column rename carries over into the key: compare against the renamed key.
    let renamed_pk = from.primary_key.as_ref().map(|pk| PrimaryKey {
        name: pk.name.clone(),
        columns: pk.columns.iter().map(|c| renamed(to, c)).collect(),
    });
    if pk_cols(&renamed_pk) != pk_cols(&to.primary_key) {
        out.changes.push(Change::SetPrimaryKey {
            table: table.clone(),
            from: from.primary_key.clone(),
            to: to.primary_key.clone(),
        });
    }

    let ren = |cols: &[String]| cols.iter().map(|c| renamed(to, c)).collect::<Vec<_>>();

    for ix in &to.indexes {
        match from.index(&ix.name) {
            Some(old) if ren(&old.columns) == ix.columns && old.unique == ix.unique => {}
            Some(old) => {
                out.changes.push(Change::DropIndex {
                    table: table.clone(),
                    index: old.clone(),
                });
                out.changes.push(Change::AddIndex {
                    table: table.clone(),
                    index: ix.clone(),
                });
            }
            None => out.changes.push(Change::AddIndex {
                table: table.clone(),
                index: ix.clone(),
            }),
        }
    }
    for ix in &from.indexes {
        if to.index(&ix.name).is_none() {
            out.changes.push(Change::DropIndex {
                table: table.clone(),
                index: ix.clone(),
            });
        }
    }

    let from_uniques: Vec<Unique> = from
        .uniques
        .iter()
        .map(|u| Unique {
            name: u.name.clone(),
            columns: ren(&u.columns),
        })
        .collect();
    let (added, dropped) = unmatched(&from_uniques, &to.uniques, unique_matches);
    for u in added {
        out.changes.push(Change::AddUnique {
            table: table.clone(),
            unique: u.clone(),
        });
    }
    for i in dropped {
        out.changes.push(Change::DropUnique {
            table: table.clone(),
            unique: from.uniques[i].clone(),
        });
    }

    let from_fks: Vec<ForeignKey> = from
        .foreign_keys
        .iter()
        .map(|f| ForeignKey {
            columns: ren(&f.columns),
            ..f.clone()
        })
        .collect();
    let (added, dropped) = unmatched(&from_fks, &to.foreign_keys, fk_matches);
    for fk in added {
        out.changes.push(Change::AddForeignKey {
            table: table.clone(),
            fk: fk.clone(),
        });
    }
    for i in dropped {
        out.changes.push(Change::DropForeignKey {
            table: table.clone(),
            fk: from.foreign_keys[i].clone(),
        });
    }

    let (added, dropped) = unmatched(&from.checks, &to.checks, check_matches);
    for ck in added {
        out.changes.push(Change::AddCheck {
            table: table.clone(),
            check: ck.clone(),
        });
    }
    for i in dropped {
        out.changes.push(Change::DropCheck {
            table: table.clone(),
            check: from.checks[i].clone(),
        });
    }

    // Options the target does not state are the server's business (a snapshot without
    // `mysql = { … }` accepts whatever engine and charset the server gives a new table).
    let (lo, to_o) = (&from.mysql, &to.mysql);
    let options_differ = (lo.engine != to_o.engine && to_o.engine.is_some())
        || ((lo.charset != to_o.charset || lo.collation != to_o.collation)
            && to_o.charset.is_some());
    if options_differ {
        out.changes.push(Change::AlterTableOptions {
            table,
            from: from.mysql.clone(),
            to: to.mysql.clone(),
        });
    }
}

/// Pairs two lists by `matches(live, target)`: the targets no live item matches (to add) and
/// the indexes of the live items no target matches (to drop).
fn unmatched<'a, L, T>(
    live: &'a [L],
    target: &'a [T],
    matches: fn(&L, &T) -> bool,
) -> (Vec<&'a T>, Vec<usize>) {
    let added = target
        .iter()
        .filter(|t| !live.iter().any(|l| matches(l, t)))
        .collect();
    let dropped = (0..live.len())
        .filter(|&i| !target.iter().any(|t| matches(&live[i], t)))
        .collect();
    (added, dropped)
}

/// The name a column of the old table has in the new one (following rename hints).
fn renamed(to: &Table, old: &str) -> String {
    to.columns
        .iter()
        .find(|c| c.renamed_from.as_deref() == Some(old) && !to.has_column(old))
        .map(|c| c.name.clone())
        .unwrap_or_else(|| old.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, cols: &[(&str, ColumnType, bool)]) -> Table {
        let mut t = Table::new(name);
        for (n, ty, nullable) in cols {
            let mut c = Column::new(n, ty.clone());
            c.nullable = *nullable;
            t.columns.push(c);
        }
        t
    }

    fn schema(tables: Vec<Table>) -> Schema {
        let mut s = Schema::default();
        for t in tables {
            s.tables.insert(t.name.clone(), t);
        }
        s
    }

    #[test]
    fn identical_schemas_diff_to_nothing() {
        let s = schema(vec![table("a", &[("id", ColumnType::Integer, false)])]);
        assert!(diff(&s, &s).is_empty());
    }

    #[test]
    fn rename_hint_becomes_rename_not_drop_add() {
        let from = schema(vec![table("a", &[("old", ColumnType::Text, true)])]);
        let mut t = table("a", &[("new", ColumnType::Text, true)]);
        t.columns[0].renamed_from = Some("old".into());
        let to = schema(vec![t]);
        let d = diff(&from, &to);
        assert_eq!(
            d.changes,
            vec![Change::RenameColumn {
                table: "a".into(),
                from: "old".into(),
                to: "new".into()
            }]
        );
        assert_eq!(
            apply_all(&from, &d.changes).tables["a"].columns[0].name,
            "new"
        );
    }

    #[test]
    fn table_rename_hint() {
        let from = schema(vec![table("a", &[("id", ColumnType::Integer, false)])]);
        let mut t = table("b", &[("id", ColumnType::Integer, false)]);
        t.renamed_from = Some("a".into());
        let d = diff(&from, &schema(vec![t]));
        assert_eq!(
            d.changes,
            vec![Change::RenameTable {
                from: "a".into(),
                to: "b".into()
            }]
        );
    }

    #[test]
    fn relaxing_alters_are_not_destructive() {
        let from = Column {
            nullable: false,
            ..Column::new("c", ColumnType::String(10))
        };
        let wider = Column {
            nullable: true,
            ..Column::new("c", ColumnType::String(20))
        };
        assert!(is_relaxing(&from, &wider));
        assert!(!is_relaxing(&wider, &from));
    }

    #[test]
    fn fk_name_only_matters_when_target_names_it() {
        let mut parent = table("p", &[("id", ColumnType::Integer, false)]);
        parent.primary_key = Some(PrimaryKey {
            name: None,
            columns: vec!["id".into()],
        });
        let mut child = table("c", &[("pid", ColumnType::Integer, false)]);
        let fk = ForeignKey {
            name: None,
            columns: vec!["pid".into()],
            ref_table: "p".into(),
            ref_columns: vec!["id".into()],
            on_delete: FkAction::NoAction,
            on_update: FkAction::NoAction,
        };
        child.foreign_keys.push(ForeignKey {
            name: Some("c_fk_1".into()),
            ..fk.clone()
        });
        let live = schema(vec![parent.clone(), child.clone()]);
        child.foreign_keys = vec![fk];
        let target = schema(vec![parent, child]);
        assert!(diff(&live, &target).is_empty());
    }

    #[test]
    fn apply_reproduces_the_target() {
        let from = schema(vec![table(
            "a",
            &[
                ("id", ColumnType::Integer, false),
                ("gone", ColumnType::Text, true),
            ],
        )]);
        let mut t = table(
            "a",
            &[
                ("id", ColumnType::BigInt, false),
                ("x", ColumnType::Text, true),
            ],
        );
        t.indexes.push(Index {
            name: "ix_a_x".into(),
            columns: vec!["x".into()],
            unique: false,
            dialects: None,
        });
        let to = schema(vec![t, table("b", &[("id", ColumnType::Integer, false)])]);
        let d = diff(&from, &to);
        let after = apply_all(&from, &d.changes);
        assert!(diff(&after, &to).is_empty(), "{:?}", diff(&after, &to));
    }
}
