//! Canonical text of SQL expressions (check constraints), so that two spellings of one
//! expression compare equal: keywords and unquoted identifiers in lower case, identifier quotes
//! removed where not needed, PostgreSQL casts dropped, `x = ANY (ARRAY[…])` written `x in (…)`,
//! redundant parentheses removed, one spelling of whitespace and commas.
//!
//! Used by `normalize` (both sides of a diff) and nowhere else needs to re-derive a spelling: the
//! model keeps the text as written next to the canonical form.

use super::lexer::{Token, tokenize};
use crate::schema::model::Dialect;

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

/// Comparison form of a trigger body (or any statement text): its tokens in one spelling, so
/// whitespace, comments, the case of keywords and unquoted identifiers, and needless identifier
/// quotes do not count; string literals and quoted identifiers keep their text. Nothing is
/// rewritten beyond that (a body is code, not an expression to simplify).
pub fn canonical_body(body: &str, dialect: Dialect) -> String {
    let tokens: Vec<Token> = tokenize(body, dialect)
        .into_iter()
        .map(|s| s.token)
        .collect();
    render(&tokens)
}

/// The table columns an expression refers to (case-insensitive match on identifiers).
pub fn referenced_columns(expr: &str, columns: &[String], dialect: Dialect) -> Vec<String> {
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
                let plain = crate::schema::model::is_identifier(q)
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
}
