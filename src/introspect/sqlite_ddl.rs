//! What SQLite keeps only in the `CREATE TABLE` text of `sqlite_master`: CHECK constraints and the
//! names of UNIQUE and FOREIGN KEY constraints. The PRAGMA table functions report everything else.
//! Triggers exist only as their `CREATE TRIGGER` text ([`parse_create_trigger`]).
//!
//! The parser splits the statement into its top-level clauses (column definitions and table
//! constraints) with the shared tokenizer, so quoted identifiers, string literals and comments
//! containing commas or parentheses cannot confuse it, then reads the constraint keywords of
//! each clause.

use crate::schema::model::{Dialect, TriggerEvent, TriggerTiming};
use crate::sql::lexer::{Spanned, Token, matching_paren, split_top_level_commas, tokenize};

/// A CHECK constraint as written: the expression is the source text inside `CHECK (...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlCheck {
    pub name: Option<String>,
    pub expr: String,
}

/// A UNIQUE constraint (table- or column-level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlUnique {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

/// A FOREIGN KEY / REFERENCES clause; only what is needed to find its name again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdlForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub ref_table: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableDdl {
    pub checks: Vec<DdlCheck>,
    pub uniques: Vec<DdlUnique>,
    pub foreign_keys: Vec<DdlForeignKey>,
    /// `WITHOUT ROWID` table: an INTEGER PRIMARY KEY is then not a rowid alias.
    pub without_rowid: bool,
    /// Whether the statement had a parenthesised clause list at all (not `CREATE TABLE … AS SELECT`).
    pub parsed: bool,
}

/// The top-level clauses of a `CREATE TABLE` statement and the tokens after its closing
/// parenthesis (table options).
pub struct Clauses<'t> {
    pub clauses: Vec<&'t [Spanned]>,
    pub options: &'t [Spanned],
}

/// Splits the tokens of a `CREATE TABLE` statement into clauses. None when there is no clause
/// list (`CREATE TABLE t AS SELECT …`) or the parentheses do not balance.
pub fn split_clauses(tokens: &[Spanned]) -> Option<Clauses<'_>> {
    // The first parenthesis follows the table name; a quoted name with `(` in it is one token.
    let open = tokens.iter().position(|t| t.token.is_punct("("))?;
    if tokens[..open].iter().any(|t| t.token.is_word("AS")) {
        return None;
    }
    let close = matching_paren(tokens, open)?;
    Some(Clauses {
        clauses: split_top_level_commas(&tokens[open + 1..close]),
        options: &tokens[close + 1..],
    })
}

/// Source text of each top-level clause, trimmed (for tests and messages).
pub fn clause_texts(sql: &str) -> Vec<String> {
    let tokens = tokenize(sql, Dialect::Sqlite);
    let Some(parts) = split_clauses(&tokens) else {
        return Vec::new();
    };
    parts
        .clauses
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| sql[c[0].start..c[c.len() - 1].end].to_string())
        .collect()
}

/// Reads the constraints SQLite's PRAGMAs do not report from a `CREATE TABLE` statement.
pub fn parse_create_table(sql: &str) -> TableDdl {
    let tokens = tokenize(sql, Dialect::Sqlite);
    let mut ddl = TableDdl::default();
    let Some(parts) = split_clauses(&tokens) else {
        return ddl;
    };
    ddl.parsed = true;
    ddl.without_rowid = parts
        .options
        .windows(2)
        .any(|w| w[0].token.is_word("WITHOUT") && w[1].token.is_word("ROWID"));
    for clause in parts.clauses {
        parse_clause(sql, clause, &mut ddl);
    }
    ddl
}

/// Words that start a table constraint (after an optional `CONSTRAINT name`).
fn starts_table_constraint(t: &Token) -> bool {
    ["PRIMARY", "UNIQUE", "CHECK", "FOREIGN"]
        .iter()
        .any(|kw| t.is_word(kw))
}

fn parse_clause(sql: &str, clause: &[Spanned], ddl: &mut TableDdl) {
    let Some(first) = clause.first() else { return };
    let (name, at) = if first.token.is_word("CONSTRAINT") {
        (
            clause
                .get(1)
                .and_then(|t| t.token.ident())
                .map(str::to_string),
            2,
        )
    } else {
        (None, 0)
    };
    match clause.get(at) {
        Some(t) if (at > 0 || starts_table_constraint(&first.token)) => {
            // A word like `check` could also be a column name, but a column definition never
            // continues with `(` right after its name, while these constraints do
            // (`UNIQUE (`, `CHECK (`, `PRIMARY KEY (`, `FOREIGN KEY (`).
            let next_is_paren = |k: usize| clause.get(k).is_some_and(|t| t.token.is_punct("("));
            if t.token.is_word("UNIQUE") && next_is_paren(at + 1) {
                ddl.uniques.push(DdlUnique {
                    name,
                    columns: paren_names(clause, at + 1),
                });
            } else if t.token.is_word("CHECK") && next_is_paren(at + 1) {
                if let Some(expr) = paren_text(sql, clause, at + 1) {
                    ddl.checks.push(DdlCheck { name, expr });
                }
            } else if t.token.is_word("FOREIGN") && next_is_paren(at + 2) {
                let columns = paren_names(clause, at + 2);
                let after = matching_paren(clause, at + 2).map_or(clause.len(), |c| c + 1);
                if let Some(ref_table) = references_target(clause, after) {
                    ddl.foreign_keys.push(DdlForeignKey {
                        name,
                        columns,
                        ref_table,
                    });
                }
            } else if t.token.is_word("PRIMARY") && next_is_paren(at + 2) {
                // The PRAGMAs report the primary key fully.
            } else if at == 0 {
                parse_column(sql, clause, ddl);
            }
        }
        Some(_) => parse_column(sql, clause, ddl),
        None => {}
    }
}

/// Reads the column constraints of a column definition:
/// `name [type] [[CONSTRAINT n] (CHECK (e) | UNIQUE | REFERENCES t … | NOT NULL | …)]…`
fn parse_column(sql: &str, clause: &[Spanned], ddl: &mut TableDdl) {
    let Some(column) = clause.first().and_then(|t| t.token.ident()) else {
        return;
    };
    let column = column.to_string();
    let mut pending_name: Option<String> = None;
    let mut i = 1;
    while i < clause.len() {
        let t = &clause[i].token;
        if t.is_punct("(") {
            // Type arguments or a parenthesised default: nothing to read inside.
            i = matching_paren(clause, i).map_or(clause.len(), |c| c + 1);
            continue;
        }
        if t.is_word("CONSTRAINT") {
            pending_name = clause
                .get(i + 1)
                .and_then(|t| t.token.ident())
                .map(str::to_string);
            i += 2;
            continue;
        }
        if t.is_word("CHECK") && clause.get(i + 1).is_some_and(|t| t.token.is_punct("(")) {
            if let Some(expr) = paren_text(sql, clause, i + 1) {
                ddl.checks.push(DdlCheck {
                    name: pending_name.take(),
                    expr,
                });
            }
            i = matching_paren(clause, i + 1).map_or(clause.len(), |c| c + 1);
            continue;
        }
        if t.is_word("UNIQUE") {
            ddl.uniques.push(DdlUnique {
                name: pending_name.take(),
                columns: vec![column.clone()],
            });
        } else if t.is_word("REFERENCES") {
            if let Some(ref_table) = references_target(clause, i) {
                ddl.foreign_keys.push(DdlForeignKey {
                    name: pending_name.take(),
                    columns: vec![column.clone()],
                    ref_table,
                });
            }
        } else if [
            "PRIMARY",
            "NOT",
            "NULL",
            "DEFAULT",
            "COLLATE",
            "GENERATED",
            "AS",
        ]
        .iter()
        .any(|kw| t.is_word(kw))
        {
            // A `CONSTRAINT name` before these names a constraint we do not track by name.
            pending_name = None;
        }
        i += 1;
    }
}

/// The table after `REFERENCES` at `at`.
fn references_target(clause: &[Spanned], at: usize) -> Option<String> {
    let kw = clause.get(at)?;
    if !kw.token.is_word("REFERENCES") {
        return None;
    }
    clause
        .get(at + 1)
        .and_then(|t| t.token.ident())
        .map(str::to_string)
}

/// The column names inside the parenthesised list at `open` (`(a, "b" COLLATE x, c DESC)`).
fn paren_names(clause: &[Spanned], open: usize) -> Vec<String> {
    let Some(close) = matching_paren(clause, open) else {
        return Vec::new();
    };
    split_top_level_commas(&clause[open + 1..close])
        .iter()
        .filter_map(|part| part.first().and_then(|t| t.token.ident()))
        .map(str::to_string)
        .collect()
}

/// The source text between the parenthesis at `open` and its match, trimmed.
fn paren_text(sql: &str, clause: &[Spanned], open: usize) -> Option<String> {
    let close = matching_paren(clause, open)?;
    Some(
        sql[clause[open].end..clause[close].start]
            .trim()
            .to_string(),
    )
}

/// What a `CREATE TRIGGER` statement says, as far as the model has a place for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerDdl {
    /// None for `INSTEAD OF` (views only).
    pub timing: Option<TriggerTiming>,
    pub event: TriggerEvent,
    /// `UPDATE OF col, …`: fires on some columns only.
    pub update_of: bool,
    /// Everything after `FOR EACH ROW` (or after the table name): an optional `WHEN` clause,
    /// then `BEGIN … END`, as written.
    pub body: String,
}

/// Reads `CREATE [TEMP] TRIGGER [IF NOT EXISTS] [schema.]name [BEFORE|AFTER|INSTEAD OF]
/// DELETE|INSERT|UPDATE [OF cols] ON table [FOR EACH ROW] body`. None when the text does not
/// have that shape.
pub fn parse_create_trigger(sql: &str) -> Option<TriggerDdl> {
    let tokens = tokenize(sql, Dialect::Sqlite);
    let mut i = 0;
    let word = |i: usize, kw: &str| tokens.get(i).is_some_and(|t| t.token.is_word(kw));
    if !word(i, "CREATE") {
        return None;
    }
    i += 1;
    if word(i, "TEMP") || word(i, "TEMPORARY") {
        i += 1;
    }
    if !word(i, "TRIGGER") {
        return None;
    }
    i += 1;
    if word(i, "IF") && word(i + 1, "NOT") && word(i + 2, "EXISTS") {
        i += 3;
    }
    // [schema.]name
    i += 1;
    if tokens.get(i).is_some_and(|t| t.token.is_punct(".")) {
        i += 2;
    }
    let timing = if word(i, "BEFORE") {
        i += 1;
        Some(TriggerTiming::Before)
    } else if word(i, "AFTER") {
        i += 1;
        Some(TriggerTiming::After)
    } else if word(i, "INSTEAD") && word(i + 1, "OF") {
        i += 2;
        None
    } else {
        // SQLite's default.
        Some(TriggerTiming::Before)
    };
    let event = ["DELETE", "INSERT", "UPDATE"]
        .into_iter()
        .find(|kw| word(i, kw))
        .and_then(TriggerEvent::parse)?;
    i += 1;
    let update_of = word(i, "OF");
    while i < tokens.len() && !word(i, "ON") {
        i += 1;
    }
    // ON [schema.]table
    i += 2;
    if tokens.get(i).is_some_and(|t| t.token.is_punct(".")) {
        i += 2;
    }
    if word(i, "FOR") && word(i + 1, "EACH") && word(i + 2, "ROW") {
        i += 3;
    }
    let start = tokens.get(i)?.start;
    Some(TriggerDdl {
        timing,
        event,
        update_of,
        body: sql[start..].trim_end().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_clauses_respecting_quotes_parens_strings_and_comments() {
        let sql = r#"CREATE TABLE "we(ird, t" (
            "a,b" VARCHAR(10) DEFAULT 'x), y' NOT NULL, -- a comment, with ) and (
            [c)d] NUMERIC(10, 2) /* , ( */ CHECK ((a > 0) AND (b IN (1, 2))),
            `e` TEXT,
            CONSTRAINT pk PRIMARY KEY ("a,b", [c)d])
        ) WITHOUT ROWID"#;
        assert_eq!(
            clause_texts(sql),
            vec![
                r#""a,b" VARCHAR(10) DEFAULT 'x), y' NOT NULL"#,
                "[c)d] NUMERIC(10, 2) /* , ( */ CHECK ((a > 0) AND (b IN (1, 2)))",
                "`e` TEXT",
                r#"CONSTRAINT pk PRIMARY KEY ("a,b", [c)d])"#,
            ]
        );
        let ddl = parse_create_table(sql);
        assert!(ddl.without_rowid);
        assert_eq!(
            ddl.checks,
            vec![DdlCheck {
                name: None,
                expr: "(a > 0) AND (b IN (1, 2))".into()
            }]
        );
    }

    #[test]
    fn reads_named_and_unnamed_constraints() {
        let sql = "CREATE TABLE image_members (
	id INTEGER NOT NULL,
	image_id VARCHAR(36) NOT NULL CONSTRAINT fk_img REFERENCES images (id),
	member VARCHAR(255) CONSTRAINT uq_m UNIQUE CONSTRAINT ck_m CHECK (member <> ''),
	can_share BOOLEAN NOT NULL CHECK (can_share IN (0, 1)),
	owner INTEGER REFERENCES users,
	PRIMARY KEY (id),
	FOREIGN KEY(image_id) REFERENCES images (id),
	CONSTRAINT fk_two FOREIGN KEY (a, b) REFERENCES \"other t\" (x, y) ON DELETE CASCADE,
	CONSTRAINT image_members_key UNIQUE (image_id, member),
	UNIQUE (member COLLATE NOCASE, id DESC),
	CONSTRAINT ck_named CHECK (deleted IN (0, 1)),
	CHECK (deleted IN (0, 1))
)";
        let ddl = parse_create_table(sql);
        assert!(!ddl.without_rowid);
        let checks: Vec<_> = ddl
            .checks
            .iter()
            .map(|c| (c.name.as_deref(), c.expr.as_str()))
            .collect();
        assert_eq!(
            checks,
            vec![
                (Some("ck_m"), "member <> ''"),
                (None, "can_share IN (0, 1)"),
                (Some("ck_named"), "deleted IN (0, 1)"),
                (None, "deleted IN (0, 1)"),
            ]
        );
        let uniques: Vec<_> = ddl
            .uniques
            .iter()
            .map(|u| (u.name.as_deref(), u.columns.join(",")))
            .collect();
        assert_eq!(
            uniques,
            vec![
                (Some("uq_m"), "member".to_string()),
                (Some("image_members_key"), "image_id,member".to_string()),
                (None, "member,id".to_string()),
            ]
        );
        let fks: Vec<_> = ddl
            .foreign_keys
            .iter()
            .map(|f| (f.name.as_deref(), f.columns.join(","), f.ref_table.as_str()))
            .collect();
        assert_eq!(
            fks,
            vec![
                (Some("fk_img"), "image_id".to_string(), "images"),
                (None, "owner".to_string(), "users"),
                (None, "image_id".to_string(), "images"),
                (Some("fk_two"), "a,b".to_string(), "other t"),
            ]
        );
    }

    #[test]
    fn odd_column_names_and_no_clause_list() {
        // Columns named like constraint keywords are still columns.
        let ddl = parse_create_table(
            "CREATE TABLE t (\"check\" INTEGER CHECK (\"check\" > 0), [unique] TEXT UNIQUE, \"select\" INT)",
        );
        assert_eq!(ddl.checks.len(), 1);
        assert_eq!(ddl.checks[0].expr, "\"check\" > 0");
        assert_eq!(ddl.uniques[0].columns, vec!["unique"]);
        assert!(!parse_create_table("CREATE TABLE t AS SELECT 1 AS x").parsed);
        assert!(clause_texts("CREATE TABLE broken (a INT").is_empty());
    }

    #[test]
    fn create_trigger_statements() {
        let t = parse_create_trigger(
            "CREATE TRIGGER \"set v\" AFTER UPDATE ON main.images FOR EACH ROW\nWHEN NEW.a IS NULL\nBEGIN UPDATE images SET a = 1; END",
        )
        .unwrap();
        assert_eq!(t.timing, Some(TriggerTiming::After));
        assert_eq!(t.event, TriggerEvent::Update);
        assert!(!t.update_of);
        assert_eq!(
            t.body,
            "WHEN NEW.a IS NULL\nBEGIN UPDATE images SET a = 1; END"
        );
        let t = parse_create_trigger(
            "create temp trigger if not exists x update of a, b on t begin select 1; end",
        )
        .unwrap();
        assert_eq!(t.timing, Some(TriggerTiming::Before));
        assert!(t.update_of);
        assert_eq!(t.body, "begin select 1; end");
        let t =
            parse_create_trigger("CREATE TRIGGER v INSTEAD OF DELETE ON vw BEGIN SELECT 1; END")
                .unwrap();
        assert_eq!(t.timing, None);
        assert!(parse_create_trigger("CREATE TABLE t (a)").is_none());
    }
}
