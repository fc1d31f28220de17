//! A small SQL tokenizer, shared by the SQLite `CREATE TABLE` parser (`introspect::sqlite_ddl`) and
//! by expression canonicalization ([`super::expr`]).
//!
//! It knows exactly what is needed to find clause boundaries safely: string literals, the three
//! identifier quoting styles, comments, numbers and operators. It does not parse SQL.

use crate::schema::model::Dialect;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// An unquoted word (keyword or identifier), as written.
    Word(String),
    /// A quoted identifier (`"x"`, `` `x` ``, SQLite `[x]`), quotes removed and doubled quotes undone.
    Quoted(String),
    /// A string literal, quotes removed and escapes undone.
    Str(String),
    Number(String),
    /// Punctuation or an operator: `(`, `)`, `,`, `.`, `=`, `<>`, `::`, `||`, …
    Punct(String),
}

impl Token {
    /// Whether this is the unquoted word `kw` (case-insensitive).
    pub fn is_word(&self, kw: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    pub fn is_punct(&self, p: &str) -> bool {
        matches!(self, Token::Punct(x) if x == p)
    }

    /// The identifier this token names, if it can name one (a word or a quoted identifier; SQLite
    /// also accepts a string literal where an identifier is expected).
    pub fn ident(&self) -> Option<&str> {
        match self {
            Token::Word(w) | Token::Quoted(w) | Token::Str(w) => Some(w),
            _ => None,
        }
    }
}

/// A token and the byte range of its source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned {
    pub token: Token,
    pub start: usize,
    pub end: usize,
}

/// Operators of more than one character, longest first.
const MULTI_CHAR_OPS: [&str; 10] = ["->>", "::", "<=", ">=", "<>", "!=", "==", "||", "->", "<<"];

/// Splits `sql` into tokens, skipping whitespace and comments. Never fails: an unterminated
/// quote or comment runs to the end of the input.
///
/// Dialect differences: SQLite also quotes identifiers with `[...]` (elsewhere `[` is
/// punctuation, e.g. PostgreSQL `ARRAY[...]`); MySQL strings honour backslash escapes and `#`
/// starts a comment.
pub fn tokenize(sql: &str, dialect: Dialect) -> Vec<Spanned> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'-' && bytes.get(i + 1) == Some(&b'-') || c == b'#' && dialect == Dialect::Mysql {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i = match sql[i + 2..].find("*/") {
                Some(p) => i + 2 + p + 2,
                None => bytes.len(),
            };
            continue;
        }
        let token = match c {
            b'\'' => {
                let (text, end) = quoted(sql, i, '\'', dialect == Dialect::Mysql);
                i = end;
                Token::Str(text)
            }
            b'"' | b'`' => {
                let (text, end) = quoted(sql, i, c as char, false);
                i = end;
                Token::Quoted(text)
            }
            b'[' if dialect == Dialect::Sqlite => {
                // `[name]`: no escape mechanism inside.
                let end = sql[i + 1..]
                    .find(']')
                    .map_or(bytes.len(), |p| i + 1 + p + 1);
                let text = sql[i + 1..end.min(bytes.len())]
                    .trim_end_matches(']')
                    .to_string();
                i = end;
                Token::Quoted(text)
            }
            b'0'..=b'9' => {
                i = number_end(bytes, i);
                Token::Number(sql[start..i].to_string())
            }
            b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = number_end(bytes, i);
                Token::Number(sql[start..i].to_string())
            }
            _ if is_word_start(sql, i) => {
                i = word_end(sql, i);
                Token::Word(sql[start..i].to_string())
            }
            _ => {
                let op = MULTI_CHAR_OPS
                    .iter()
                    .find(|op| sql[i..].starts_with(*op))
                    .map(|op| op.len());
                // Step over a whole UTF-8 character so slicing stays on char boundaries.
                let len = op.unwrap_or_else(|| sql[i..].chars().next().map_or(1, char::len_utf8));
                i += len;
                Token::Punct(sql[start..i].to_string())
            }
        };
        out.push(Spanned {
            token,
            start,
            end: i,
        });
    }
    out
}

/// Reads a literal or identifier quoted with `q` starting at `start`; a doubled quote stands for
/// one quote (and, with `backslash`, `\x` for x). Returns the text and the index after it.
fn quoted(sql: &str, start: usize, q: char, backslash: bool) -> (String, usize) {
    let mut text = String::new();
    let mut chars = sql[start + 1..].char_indices().peekable();
    while let Some((off, ch)) = chars.next() {
        if backslash && ch == '\\' {
            if let Some((_, next)) = chars.next() {
                text.push(match next {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    other => other,
                });
            }
            continue;
        }
        if ch == q {
            if chars.peek().is_some_and(|(_, n)| *n == q) {
                chars.next();
                text.push(q);
                continue;
            }
            return (text, start + 1 + off + ch.len_utf8());
        }
        text.push(ch);
    }
    (text, sql.len())
}

fn number_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
        i += 1;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            i = j;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    i
}

fn is_word_start(sql: &str, i: usize) -> bool {
    sql[i..]
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

fn word_end(sql: &str, start: usize) -> usize {
    sql[start..]
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '$'))
        .map_or(sql.len(), |(off, _)| start + off)
}

/// Index of the `)` matching the `(` at `open`, or None if unbalanced.
pub fn matching_paren(tokens: &[Spanned], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.token.is_punct("(") {
            depth += 1;
        } else if t.token.is_punct(")") {
            depth = depth.checked_sub(1)?;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Splits `tokens` at top-level commas (commas not inside parentheses).
pub fn split_top_level_commas(tokens: &[Spanned]) -> Vec<&[Spanned]> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut begin = 0;
    for (i, t) in tokens.iter().enumerate() {
        match &t.token {
            Token::Punct(p) if p == "(" => depth += 1,
            Token::Punct(p) if p == ")" => depth = depth.saturating_sub(1),
            Token::Punct(p) if p == "," && depth == 0 => {
                parts.push(&tokens[begin..i]);
                begin = i + 1;
            }
            _ => {}
        }
    }
    if begin < tokens.len() {
        parts.push(&tokens[begin..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(sql: &str, d: Dialect) -> Vec<Token> {
        tokenize(sql, d).into_iter().map(|s| s.token).collect()
    }

    #[test]
    fn quotes_comments_and_operators() {
        let t = toks(
            "a.\"b\"\"c\" = 'it''s' -- note ) \n /* ( */ <> `x`, 1.5e3::int",
            Dialect::Postgres,
        );
        assert_eq!(
            t,
            vec![
                Token::Word("a".into()),
                Token::Punct(".".into()),
                Token::Quoted("b\"c".into()),
                Token::Punct("=".into()),
                Token::Str("it's".into()),
                Token::Punct("<>".into()),
                Token::Quoted("x".into()),
                Token::Punct(",".into()),
                Token::Number("1.5e3".into()),
                Token::Punct("::".into()),
                Token::Word("int".into()),
            ]
        );
    }

    #[test]
    fn dialect_specifics() {
        assert_eq!(
            toks("[a b]", Dialect::Sqlite),
            vec![Token::Quoted("a b".into())]
        );
        assert_eq!(toks("[a]", Dialect::Postgres)[0], Token::Punct("[".into()));
        assert_eq!(
            toks(r"'it\'s' # c", Dialect::Mysql),
            vec![Token::Str("it's".into())]
        );
        assert_eq!(toks("'unterminated", Dialect::Sqlite).len(), 1);
        assert_eq!(toks("é(ü)", Dialect::Sqlite).len(), 4);
    }
}
