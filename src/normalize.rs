//! Canonical form of a resolved schema, so that an unchanged schema diffs to nothing.
//!
//! The engine applies [`normalize`] to BOTH sides before diffing: the snapshot resolved for the
//! dialect and the schema introspected from the database. Each rule removes a difference that is
//! not a difference in what the database enforces: names the server generated for unnamed
//! objects, spellings of the same check expression, charset aliases, MySQL's implicit foreign-key
//! indexes, and so on (`../shared/prior-art.md` §3.8). The function is pure and idempotent.
//!
//! Rename hints (`renamed_from`) are kept: the diff needs them.

use std::collections::HashSet;

use crate::introspect::lexer::{Token, tokenize};
use crate::model::{
    Check, ColumnType, DefaultValue, Dialect, FkAction, ForeignKey, Index, MysqlOptions, Schema,
    Table, Unique,
};

/// PostgreSQL identifiers are at most NAMEDATALEN - 1 bytes.
const PG_MAX_IDENTIFIER: usize = 63;

/// Returns the canonical form of `schema` (already resolved for `dialect`).
pub fn normalize(schema: &Schema, dialect: Dialect) -> Schema {
    let mut out = schema.clone();
    if dialect != Dialect::Postgres {
        // Only PostgreSQL has named enum types.
        out.enums.clear();
    }
    for table in out.tables.values_mut() {
        normalize_table(table, dialect);
    }
    out
}

fn normalize_table(t: &mut Table, dialect: Dialect) {
    normalize_columns(t, dialect);

    // No backend lets us name a primary key portably and Glance never names one.
    if let Some(pk) = &mut t.primary_key {
        pk.name = None;
    }

    if dialect == Dialect::Mysql {
        // MySQL has no unique constraint apart from a unique index: both are one object.
        let (unique_indexes, plain): (Vec<Index>, Vec<Index>) =
            t.indexes.drain(..).partition(|i| i.unique);
        t.indexes = plain;
        t.uniques.extend(unique_indexes.into_iter().map(|i| Unique {
            name: Some(i.name),
            columns: i.columns,
        }));
        // Before FK names are dropped: the implicit index may be named after the FK.
        drop_implicit_fk_indexes(t);
    }

    let table_name = t.name.clone();
    for fk in &mut t.foreign_keys {
        if fk
            .name
            .as_deref()
            .is_some_and(|n| is_generated_fk_name(n, &table_name, &fk.columns, dialect))
        {
            fk.name = None;
        }
        if dialect == Dialect::Mysql {
            // InnoDB checks immediately either way; MariaDB reports an omitted action as RESTRICT.
            for action in [&mut fk.on_delete, &mut fk.on_update] {
                if *action == FkAction::Restrict {
                    *action = FkAction::NoAction;
                }
            }
        }
    }

    let column_names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
    for check in &mut t.checks {
        check.expr = canonical_check(&check.expr, dialect);
        check.dialects = None;
        let referenced = referenced_columns(&check.expr, &column_names, dialect);
        if check
            .name
            .as_deref()
            .is_some_and(|n| is_generated_check_name(n, &table_name, &referenced, dialect))
        {
            check.name = None;
        }
    }
    for index in &mut t.indexes {
        index.dialects = None;
    }

    // Order is not meaningful for these lists; column order is kept (cosmetic, not drift).
    t.uniques
        .sort_by(|a, b| (&a.columns, &a.name).cmp(&(&b.columns, &b.name)));
    t.foreign_keys.sort_by(fk_order);
    t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
    t.checks
        .sort_by(|a: &Check, b: &Check| (&a.expr, &a.name).cmp(&(&b.expr, &b.name)));

    t.mysql = if dialect == Dialect::Mysql {
        normalize_mysql_options(&t.mysql)
    } else {
        MysqlOptions::default()
    };
}

fn fk_order(a: &ForeignKey, b: &ForeignKey) -> std::cmp::Ordering {
    (&a.columns, &a.ref_table, &a.ref_columns, &a.name).cmp(&(
        &b.columns,
        &b.ref_table,
        &b.ref_columns,
        &b.name,
    ))
}

fn normalize_columns(t: &mut Table, dialect: Dialect) {
    let pk_columns: Vec<String> = t
        .primary_key
        .as_ref()
        .map(|pk| pk.columns.clone())
        .unwrap_or_default();
    for column in &mut t.columns {
        // `0` and `false` on a boolean column, `'5'` and `5` on an integer column are one value.
        column.default = column.default.take().map(|d| coerce_default(d, &column.ty));
        // PostgreSQL and MySQL force primary-key columns NOT NULL whatever the DDL says.
        if dialect != Dialect::Sqlite && pk_columns.contains(&column.name) {
            column.nullable = false;
        }
    }
    // SQLite: a single INTEGER primary key is the rowid, generated and never NULL, whether or not
    // the snapshot says autoincrement.
    if dialect == Dialect::Sqlite
        && let [only] = pk_columns.as_slice()
        && let Some(c) = t.column_mut(only)
        && c.ty == ColumnType::Integer
    {
        c.autoincrement = true;
        c.nullable = false;
    }
}

/// Reads a default under its column's type: `0`/`1`/`'0'`/`'true'` on a boolean column are
/// booleans, a quoted integer on an integer column is an integer, a number on a text column is
/// the text of that number.
pub fn coerce_default(value: DefaultValue, ty: &ColumnType) -> DefaultValue {
    use DefaultValue as D;
    match ty {
        ColumnType::Boolean => match &value {
            D::Int(0) => D::Bool(false),
            D::Int(1) => D::Bool(true),
            D::Str(s) | D::Expr(s) => match s.trim().to_ascii_lowercase().as_str() {
                "0" | "f" | "false" => D::Bool(false),
                "1" | "t" | "true" => D::Bool(true),
                _ => value,
            },
            _ => value,
        },
        ColumnType::SmallInt | ColumnType::Integer | ColumnType::BigInt => match &value {
            D::Str(s) => s.trim().parse().map_or(value, D::Int),
            D::Bool(b) => D::Int(i64::from(*b)),
            _ => value,
        },
        ColumnType::String(_)
        | ColumnType::Char(_)
        | ColumnType::Text
        | ColumnType::Json
        | ColumnType::Enum { .. } => match value {
            D::Int(n) => D::Str(n.to_string()),
            other => other,
        },
        _ => value,
    }
}

/// MySQL creates an index for a foreign key that no index covers, named after the constraint
/// (or its first column when unnamed). It is the server's, not the schema's: drop it when no
/// other index, unique or primary key has the FK's columns as a prefix (if one did, MySQL would
/// not have created this one, so it was made on purpose).
fn drop_implicit_fk_indexes(t: &mut Table) {
    let is_prefix =
        |cols: &[String], of: &[String]| of.len() >= cols.len() && of[..cols.len()] == *cols;
    let mut implicit: HashSet<String> = HashSet::new();
    for fk in &t.foreign_keys {
        let Some(first) = fk.columns.first() else {
            continue;
        };
        for index in &t.indexes {
            let named_like_implicit =
                fk.name.as_deref() == Some(index.name.as_str()) || index.name == *first;
            if index.unique || index.columns != fk.columns || !named_like_implicit {
                continue;
            }
            let covered_elsewhere = t
                .primary_key
                .iter()
                .any(|pk| is_prefix(&fk.columns, &pk.columns))
                || t.uniques.iter().any(|u| is_prefix(&fk.columns, &u.columns))
                || t.indexes
                    .iter()
                    .any(|o| o.name != index.name && is_prefix(&fk.columns, &o.columns));
            if !covered_elsewhere {
                implicit.insert(index.name.clone());
            }
        }
    }
    t.indexes.retain(|i| !implicit.contains(&i.name));
}

fn normalize_mysql_options(o: &MysqlOptions) -> MysqlOptions {
    // `utf8` is an alias of `utf8mb3` (MariaDB ≥ 10.6 and MySQL 8 report the latter).
    let alias = |s: &str| {
        let s = s.to_ascii_lowercase();
        match s.strip_prefix("utf8") {
            Some("") => "utf8mb3".to_string(),
            Some(rest) if rest.starts_with('_') => format!("utf8mb3{rest}"),
            _ => s,
        }
    };
    let collation = o.collation.as_deref().map(alias);
    let charset = o.charset.as_deref().map(alias).or_else(|| {
        // A collation implies its charset (`latin1_swedish_ci` → `latin1`).
        collation
            .as_deref()
            .and_then(|c| c.split('_').next())
            .map(str::to_string)
    });
    // A collation that is the charset's default says nothing a snapshot naming only the charset
    // does not.
    let collation = collation.filter(|c| {
        !charset
            .as_deref()
            .is_some_and(|cs| default_collations(cs).contains(&c.as_str()))
    });
    let engine = o.engine.as_deref().map(|e| {
        // Engine names are case-insensitive; keep the spelling the server reports.
        match e.to_ascii_lowercase().as_str() {
            "innodb" => "InnoDB".to_string(),
            "myisam" => "MyISAM".to_string(),
            "aria" => "Aria".to_string(),
            "memory" => "MEMORY".to_string(),
            "csv" => "CSV".to_string(),
            "archive" => "ARCHIVE".to_string(),
            _ => e.to_string(),
        }
    });
    MysqlOptions {
        engine,
        charset,
        collation,
    }
}

/// The server default collation(s) of a charset: MariaDB's, plus MySQL 8's for utf8mb4.
fn default_collations(charset: &str) -> &'static [&'static str] {
    match charset {
        "utf8mb3" => &["utf8mb3_general_ci"],
        "utf8mb4" => &["utf8mb4_general_ci", "utf8mb4_0900_ai_ci"],
        "latin1" => &["latin1_swedish_ci"],
        "ascii" => &["ascii_general_ci"],
        "binary" => &["binary"],
        _ => &[],
    }
}

// ---------------------------------------------------------------------------------------------
// Generated constraint names

fn is_generated_fk_name(name: &str, table: &str, columns: &[String], dialect: Dialect) -> bool {
    match dialect {
        // PostgreSQL: `<table>_<col1>_<col2>_fkey`, truncated to 63 bytes, `fkey1`… on collision.
        Dialect::Postgres => is_pg_generated_name(name, table, Some(&columns.join("_")), "fkey"),
        // MySQL/MariaDB: `<table>_ibfk_<n>`.
        Dialect::Mysql => has_numbered_suffix(name, &format!("{table}_ibfk_")),
        // SQLite reports only the names written in the DDL.
        Dialect::Sqlite => false,
    }
}

fn is_generated_check_name(
    name: &str,
    table: &str,
    referenced: &[String],
    dialect: Dialect,
) -> bool {
    match dialect {
        // PostgreSQL: `<table>_<col>_check` when the expression uses one column, else
        // `<table>_check`; numbered on collision.
        Dialect::Postgres => {
            let column = match referenced {
                [only] => Some(only.as_str()),
                _ => None,
            };
            is_pg_generated_name(name, table, column, "check")
        }
        // MariaDB: `CONSTRAINT_<n>`; MySQL 8: `<table>_chk_<n>`; MariaDB names a column-level
        // check after its column.
        Dialect::Mysql => {
            has_numbered_suffix(name, "CONSTRAINT_")
                || has_numbered_suffix(name, &format!("{table}_chk_"))
                || matches!(referenced, [only] if only == name)
        }
        Dialect::Sqlite => false,
    }
}

/// `name` is `prefix` followed by a positive decimal number.
fn has_numbered_suffix(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `name` is what PostgreSQL's `ChooseConstraintName(name1, name2, label)` generates,
/// including the numbered variants (`label1`, `label2`, …) used on collision.
fn is_pg_generated_name(name: &str, name1: &str, name2: Option<&str>, label: &str) -> bool {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let suffix = &name[name.len() - digits..];
    let numbered_label = format!("{label}{suffix}");
    pg_object_name(name1, name2, &numbered_label) == name
}

/// PostgreSQL's `makeObjectName`: `name1_name2_label`, truncating the longer of the two names
/// first so the result fits in 63 bytes (never splitting a UTF-8 character).
pub fn pg_object_name(name1: &str, name2: Option<&str>, label: &str) -> String {
    let overhead = label.len() + 1 + usize::from(name2.is_some());
    let available = PG_MAX_IDENTIFIER.saturating_sub(overhead);
    let mut len1 = name1.len();
    let mut len2 = name2.map_or(0, str::len);
    while len1 + len2 > available {
        if len1 > len2 {
            len1 -= 1;
        } else {
            len2 -= 1;
        }
    }
    let clip = |s: &str, mut n: usize| {
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        s[..n].to_string()
    };
    let mut out = clip(name1, len1);
    if let Some(n2) = name2 {
        out.push('_');
        out.push_str(&clip(n2, len2));
    }
    out.push('_');
    out.push_str(label);
    out
}

// ---------------------------------------------------------------------------------------------
// Check expressions

/// A parenthesised group or a single token.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Tok(Token),
    Group(Vec<Node>),
}

/// Canonical text of a check expression, for comparison: keywords and unquoted identifiers in
/// lower case, identifier quotes removed where not needed, PostgreSQL casts dropped,
/// `x = ANY (ARRAY[…])` written `x in (…)`, redundant parentheses removed, one spelling of
/// whitespace and commas. So `deleted IN (0, 1)`, `(deleted IN (0,1))`, `` `deleted` in (0,1) ``
/// and `(deleted = ANY (ARRAY[0, 1]))` all become `deleted in (0, 1)`.
pub fn canonical_check(expr: &str, dialect: Dialect) -> String {
    let tokens: Vec<Token> = tokenize(expr, dialect)
        .into_iter()
        .map(|s| s.token)
        .collect();
    let tokens = drop_casts(tokens);
    let mut pos = 0;
    let nodes = group(&tokens, &mut pos);
    let mut nodes = simplify(nodes);
    // The whole expression in parentheses: the parentheses say nothing.
    while let [Node::Group(inner)] = nodes.as_slice() {
        nodes = inner.clone();
    }
    let mut flat = Vec::new();
    flatten(&nodes, &mut flat);
    render(&flat)
}

/// The table columns an expression refers to (case-insensitive match on identifiers).
fn referenced_columns(expr: &str, columns: &[String], dialect: Dialect) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for t in tokenize(expr, dialect) {
        if let Token::Word(w) | Token::Quoted(w) = &t.token
            && let Some(c) = columns.iter().find(|c| c.eq_ignore_ascii_case(w))
            && !found.contains(c)
        {
            found.push(c.clone());
        }
    }
    found
}

/// Multi-word PostgreSQL type names that can follow `::`.
const MULTI_WORD_TYPES: [&[&str]; 6] = [
    &["character", "varying"],
    &["double", "precision"],
    &["bit", "varying"],
    &["timestamp", "without", "time", "zone"],
    &["timestamp", "with", "time", "zone"],
    &["time", "without", "time", "zone"],
];

/// Removes PostgreSQL casts (`'a'::character varying`, `(x)::text[]`): the catalog adds them,
/// snapshots do not write them.
fn drop_casts(tokens: Vec<Token>) -> Vec<Token> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if !tokens[i].is_punct("::") {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        }
        i += 1;
        // The type name: one identifier, or a known multi-word name.
        let words = MULTI_WORD_TYPES
            .iter()
            .find(|ws| {
                ws.iter()
                    .enumerate()
                    .all(|(k, w)| tokens.get(i + k).is_some_and(|t| t.is_word(w)))
            })
            .map_or(1, |ws| ws.len());
        i += words;
        // Optional `.name` of a schema-qualified type.
        while tokens.get(i).is_some_and(|t| t.is_punct("."))
            && tokens.get(i + 1).is_some_and(|t| t.ident().is_some())
        {
            i += 2;
        }
        // Optional type modifier `(n)` and array brackets `[]`.
        if tokens.get(i).is_some_and(|t| t.is_punct("(")) {
            let mut depth = 0;
            while i < tokens.len() {
                if tokens[i].is_punct("(") {
                    depth += 1;
                } else if tokens[i].is_punct(")") {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                i += 1;
            }
        }
        while tokens.get(i).is_some_and(|t| t.is_punct("["))
            && tokens.get(i + 1).is_some_and(|t| t.is_punct("]"))
        {
            i += 2;
        }
    }
    out
}

/// Builds the parenthesis tree. An unmatched `)` stays a token.
fn group(tokens: &[Token], pos: &mut usize) -> Vec<Node> {
    let mut out = Vec::new();
    while *pos < tokens.len() {
        let t = &tokens[*pos];
        *pos += 1;
        if t.is_punct("(") {
            out.push(Node::Group(group(tokens, pos)));
        } else if t.is_punct(")") {
            return out;
        } else {
            out.push(Node::Tok(t.clone()));
        }
    }
    out
}

fn flatten(nodes: &[Node], out: &mut Vec<Token>) {
    for n in nodes {
        match n {
            Node::Tok(t) => out.push(t.clone()),
            Node::Group(inner) => {
                out.push(Token::Punct("(".into()));
                flatten(inner, out);
                out.push(Token::Punct(")".into()));
            }
        }
    }
}

fn is_word(n: Option<&Node>, words: &[&str]) -> bool {
    matches!(n, Some(Node::Tok(t)) if words.iter().any(|w| t.is_word(w)))
}

/// Removes parentheses that do not change the meaning and rewrites `= ANY (ARRAY[…])`.
fn simplify(nodes: Vec<Node>) -> Vec<Node> {
    let nodes: Vec<Node> = nodes
        .into_iter()
        .map(|n| match n {
            Node::Group(inner) => Node::Group(simplify(inner)),
            tok => tok,
        })
        .collect();
    let nodes = rewrite_any_array(nodes);
    let mut out: Vec<Node> = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        if let Node::Group(inner) = node
            && redundant_parens(out.last(), inner, nodes.get(i + 1))
        {
            out.extend(inner.iter().cloned());
            continue;
        }
        out.push(node.clone());
    }
    out
}

/// `x = ANY (ARRAY[a, b])` → `x in (a, b)`; `x <> ALL (ARRAY[a, b])` → `x not in (a, b)`
/// (PostgreSQL stores `IN` lists that way).
fn rewrite_any_array(nodes: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::with_capacity(nodes.len());
    let mut i = 0;
    while i < nodes.len() {
        let op = match &nodes[i] {
            Node::Tok(t) if t.is_punct("=") && is_word(nodes.get(i + 1), &["any", "some"]) => {
                Some(false)
            }
            Node::Tok(t)
                if (t.is_punct("<>") || t.is_punct("!="))
                    && is_word(nodes.get(i + 1), &["all"]) =>
            {
                Some(true)
            }
            _ => None,
        };
        if let Some(negated) = op
            && let Some(Node::Group(arg)) = nodes.get(i + 2)
            && let Some(items) = array_items(arg)
        {
            if negated {
                out.push(Node::Tok(Token::Word("not".into())));
            }
            out.push(Node::Tok(Token::Word("in".into())));
            out.push(Node::Group(items));
            i += 3;
            continue;
        }
        out.push(nodes[i].clone());
        i += 1;
    }
    out
}

/// The items of `ARRAY[ … ]` (possibly still in one pair of parentheses).
fn array_items(arg: &[Node]) -> Option<Vec<Node>> {
    match arg {
        [Node::Group(inner)] => array_items(inner),
        [Node::Tok(kw), Node::Tok(open), items @ .., Node::Tok(close)]
            if kw.is_word("array") && open.is_punct("[") && close.is_punct("]") =>
        {
            Some(items.to_vec())
        }
        _ => None,
    }
}

/// Whether the parentheses around `inner`, between `prev` and `next`, can go.
fn redundant_parens(prev: Option<&Node>, inner: &[Node], next: Option<&Node>) -> bool {
    // After a function name or IN/ANY/EXISTS/…, the parentheses are syntax.
    if let Some(Node::Tok(Token::Word(w) | Token::Quoted(w))) = prev
        && !["and", "or", "not"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
    {
        return false;
    }
    if is_primary(inner) {
        return true;
    }
    let boundary = |n: Option<&Node>, words: &[&str]| {
        n.is_none() || is_word(n, words) || matches!(n, Some(Node::Tok(t)) if t.is_punct(","))
    };
    let top_level_word = |w: &str| {
        inner
            .iter()
            .any(|n| matches!(n, Node::Tok(t) if t.is_word(w)))
    };
    let has_or = top_level_word("or");
    let has_and = top_level_word("and");
    let has_comma = inner
        .iter()
        .any(|n| matches!(n, Node::Tok(t) if t.is_punct(",")));
    if has_comma {
        return false;
    }
    if has_or {
        // OR binds loosest: only among other ORs.
        return boundary(prev, &["or"]) && boundary(next, &["or"]);
    }
    if has_and {
        return boundary(prev, &["and", "or"]) && boundary(next, &["and", "or"]);
    }
    // A comparison binds tighter than NOT/AND/OR and looser than arithmetic.
    is_comparison(inner) && boundary(prev, &["and", "or", "not"]) && boundary(next, &["and", "or"])
}

/// A single operand: a token, a group, `ARRAY[…]`, or a function call `f(…)`.
fn is_primary(inner: &[Node]) -> bool {
    match inner {
        [_] => true,
        [Node::Tok(Token::Word(_)), Node::Group(_)] => true,
        [Node::Tok(kw), Node::Tok(open), .., Node::Tok(close)] => {
            kw.is_word("array")
                && open.is_punct("[")
                && close.is_punct("]")
                && !inner[2..inner.len() - 1]
                    .iter()
                    .any(|n| matches!(n, Node::Tok(t) if t.is_punct("[") || t.is_punct("]")))
        }
        _ => false,
    }
}

fn is_comparison(inner: &[Node]) -> bool {
    inner.iter().any(|n| match n {
        Node::Tok(Token::Punct(p)) => {
            ["=", "<", ">", "<=", ">=", "<>", "!=", "=="].contains(&p.as_str())
        }
        Node::Tok(t) => ["in", "is", "like", "between"].iter().any(|w| t.is_word(w)),
        Node::Group(_) => false,
    })
}

/// Words after which `(` is separated by a space (operators, not function names).
const KEYWORDS: [&str; 16] = [
    "and", "or", "not", "in", "is", "like", "between", "any", "all", "some", "exists", "case",
    "when", "then", "else", "end",
];

/// Identifiers that must stay quoted in canonical text.
const RESERVED: [&str; 24] = [
    "select",
    "from",
    "where",
    "order",
    "group",
    "table",
    "check",
    "in",
    "and",
    "or",
    "not",
    "null",
    "is",
    "default",
    "key",
    "primary",
    "unique",
    "references",
    "case",
    "when",
    "then",
    "else",
    "end",
    "between",
];

fn render(tokens: &[Token]) -> String {
    let mut out = String::new();
    let mut prev: Option<&Token> = None;
    for t in tokens {
        let text = match t {
            Token::Word(w) => w.to_lowercase(),
            Token::Quoted(q) => {
                let plain = crate::model::is_identifier(q)
                    && q.chars().all(|c| !c.is_ascii_uppercase())
                    && !RESERVED.contains(&q.as_str());
                if plain {
                    q.clone()
                } else {
                    format!("\"{}\"", q.replace('"', "\"\""))
                }
            }
            Token::Str(s) => format!("'{}'", s.replace('\'', "''")),
            Token::Number(n) => n.clone(),
            Token::Punct(p) => match p.as_str() {
                "!=" => "<>".to_string(),
                "==" => "=".to_string(),
                _ => p.clone(),
            },
        };
        if let Some(p) = prev
            && space_between(p, t)
        {
            out.push(' ');
        }
        out.push_str(&text);
        prev = Some(t);
    }
    out
}

fn space_between(prev: &Token, cur: &Token) -> bool {
    let punct = |t: &Token, set: &[&str]| matches!(t, Token::Punct(p) if set.contains(&p.as_str()));
    if punct(prev, &["(", "[", "."]) || punct(cur, &[")", "]", ",", "."]) {
        return false;
    }
    if punct(cur, &["["]) {
        return false;
    }
    if punct(cur, &["("]) {
        return match prev {
            Token::Word(w) => KEYWORDS.iter().any(|k| w.eq_ignore_ascii_case(k)),
            Token::Quoted(_) => false,
            _ => true,
        };
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Column, PrimaryKey};

    #[test]
    fn check_spellings_agree() {
        let want = "deleted in (0, 1)";
        for (expr, d) in [
            ("deleted IN (0, 1)", Dialect::Sqlite),
            ("(deleted IN (0,1))", Dialect::Sqlite),
            ("`deleted` in (0,1)", Dialect::Mysql),
            ("(deleted = ANY (ARRAY[0, 1]))", Dialect::Postgres),
            ("((deleted = ANY (ARRAY[0, 1])))", Dialect::Postgres),
            ("\"deleted\"   IN(0 , 1) -- bool", Dialect::Sqlite),
        ] {
            assert_eq!(canonical_check(expr, d), want, "{expr}");
        }
        assert_eq!(
            canonical_check(
                "((status)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[]))",
                Dialect::Postgres
            ),
            "status in ('a', 'b')"
        );
        assert_eq!(
            canonical_check("((a > 0) AND (b <= 1))", Dialect::Postgres),
            "a > 0 and b <= 1"
        );
        // Parentheses that matter stay.
        assert_eq!(
            canonical_check("(a + b) * 2 > 0", Dialect::Sqlite),
            "(a + b) * 2 > 0"
        );
        assert_eq!(
            canonical_check("NOT (a = 1 AND b = 2)", Dialect::Sqlite),
            "not (a = 1 and b = 2)"
        );
        assert_eq!(
            canonical_check("(a = 1 OR b = 2) AND c = 3", Dialect::Sqlite),
            "(a = 1 or b = 2) and c = 3"
        );
        assert_eq!(
            canonical_check("length(name) > 0", Dialect::Sqlite),
            "length(name) > 0"
        );
        assert_eq!(
            canonical_check("\"select\" <> 'It''s'", Dialect::Sqlite),
            "\"select\" <> 'It''s'"
        );
    }

    #[test]
    fn canonical_check_is_idempotent() {
        for (e, d) in [
            (
                "((status)::text = ANY ((ARRAY['a'::text])::text[]))",
                Dialect::Postgres,
            ),
            ("(a + b) * -2 > 0 AND x IS NOT NULL", Dialect::Sqlite),
            ("`x` between 1 and 2", Dialect::Mysql),
            ("\"Odd Name\" in ('a', 'b')", Dialect::Sqlite),
        ] {
            let once = canonical_check(e, d);
            assert_eq!(canonical_check(&once, d), once, "{e}");
        }
    }

    #[test]
    fn pg_generated_names() {
        assert_eq!(pg_object_name("images", None, "pkey"), "images_pkey");
        assert!(is_pg_generated_name(
            "image_members_image_id_fkey",
            "image_members",
            Some("image_id"),
            "fkey"
        ));
        assert!(is_pg_generated_name("t_c_check1", "t", Some("c"), "check"));
        assert!(!is_pg_generated_name("fk_custom", "t", Some("c"), "fkey"));
        // 63-byte truncation: the longer part is shortened first.
        let table = "metadef_namespace_resource_types_with_a_very_long_name_indeed";
        let name = pg_object_name(table, Some("resource_type_id"), "fkey");
        assert_eq!(name.len(), 63);
        assert!(name.starts_with("metadef_namespace_resource_types_with_a_v"));
        assert!(name.ends_with("_resource_type_id_fkey"));
        assert!(is_pg_generated_name(
            &name,
            table,
            Some("resource_type_id"),
            "fkey"
        ));
    }

    fn table_with(name: &str) -> Table {
        let mut t = Table::new(name);
        for c in ["id", "node_reference_id", "deleted"] {
            t.columns.push(Column::new(c, ColumnType::Integer));
        }
        t.primary_key = Some(PrimaryKey {
            name: Some("PRIMARY".into()),
            columns: vec!["id".into()],
        });
        t
    }

    #[test]
    fn mysql_rules() {
        let mut t = table_with("cached_images");
        t.foreign_keys.push(ForeignKey {
            name: Some("cached_images_ibfk_1".into()),
            columns: vec!["node_reference_id".into()],
            ref_table: "node_reference".into(),
            ref_columns: vec!["node_reference_id".into()],
            on_delete: FkAction::Restrict,
            on_update: FkAction::Restrict,
        });
        t.indexes.push(Index {
            name: "node_reference_id".into(),
            columns: vec!["node_reference_id".into()],
            unique: false,
            dialects: None,
        });
        t.checks.push(Check {
            name: Some("CONSTRAINT_1".into()),
            expr: "`deleted` in (0,1)".into(),
            dialects: None,
        });
        t.checks.push(Check {
            name: Some("deleted".into()),
            expr: "`deleted` >= 0".into(),
            dialects: None,
        });
        t.mysql = MysqlOptions {
            engine: Some("innodb".into()),
            charset: Some("utf8".into()),
            collation: Some("utf8mb3_general_ci".into()),
        };
        let mut s = Schema::default();
        s.tables.insert(t.name.clone(), t);
        let n = normalize(&s, Dialect::Mysql);
        assert_eq!(normalize(&n, Dialect::Mysql), n, "idempotent");
        let t = &n.tables["cached_images"];
        assert!(t.indexes.is_empty(), "implicit FK index dropped");
        assert_eq!(t.primary_key.as_ref().unwrap().name, None);
        let fk = &t.foreign_keys[0];
        assert_eq!(fk.name, None);
        assert_eq!(
            (fk.on_delete, fk.on_update),
            (FkAction::NoAction, FkAction::NoAction)
        );
        let checks: Vec<_> = t
            .checks
            .iter()
            .map(|c| (c.name.clone(), c.expr.as_str()))
            .collect();
        assert_eq!(
            checks,
            vec![(None, "deleted >= 0"), (None, "deleted in (0, 1)")]
        );
        assert_eq!(
            t.mysql,
            MysqlOptions {
                engine: Some("InnoDB".into()),
                charset: Some("utf8mb3".into()),
                collation: None
            }
        );
    }

    #[test]
    fn explicit_fk_index_is_kept_when_another_covers_it() {
        let mut t = table_with("t");
        t.foreign_keys.push(ForeignKey {
            name: None,
            columns: vec!["node_reference_id".into()],
            ref_table: "n".into(),
            ref_columns: vec!["id".into()],
            on_delete: FkAction::NoAction,
            on_update: FkAction::NoAction,
        });
        for (name, cols) in [
            ("node_reference_id", vec!["node_reference_id"]),
            ("ix_both", vec!["node_reference_id", "deleted"]),
        ] {
            t.indexes.push(Index {
                name: name.into(),
                columns: cols.into_iter().map(String::from).collect(),
                unique: false,
                dialects: None,
            });
        }
        let mut s = Schema::default();
        s.tables.insert("t".into(), t);
        assert_eq!(normalize(&s, Dialect::Mysql).tables["t"].indexes.len(), 2);
    }

    #[test]
    fn defaults_and_sqlite_rowid() {
        let mut t = Table::new("t");
        let mut id = Column::new("id", ColumnType::Integer);
        id.nullable = true;
        let mut flag = Column::new("flag", ColumnType::Boolean);
        flag.default = Some(DefaultValue::Int(0));
        let mut label = Column::new("label", ColumnType::String(5));
        label.default = Some(DefaultValue::Int(7));
        t.columns = vec![id, flag, label];
        t.primary_key = Some(PrimaryKey {
            name: None,
            columns: vec!["id".into()],
        });
        let mut s = Schema::default();
        s.tables.insert("t".into(), t);
        let n = normalize(&s, Dialect::Sqlite);
        let t = &n.tables["t"];
        assert!(t.columns[0].autoincrement && !t.columns[0].nullable);
        assert_eq!(t.columns[1].default, Some(DefaultValue::Bool(false)));
        assert_eq!(t.columns[2].default, Some(DefaultValue::Str("7".into())));
        let pg = normalize(&s, Dialect::Postgres);
        assert!(!pg.tables["t"].columns[0].nullable);
        assert!(!pg.tables["t"].columns[0].autoincrement);
    }
}
