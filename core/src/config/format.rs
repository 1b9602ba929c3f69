//! The nats-server configuration format, parsed into a tree of located values.
//!
//! `key: value`, `key = value` and `key value`; nested `{}` blocks and `[]` arrays; `#` and `//`
//! comments; double-quoted strings with escapes, single-quoted raw strings and bare strings;
//! integers with size suffixes (`1K` = 1000, `1KB`/`1KiB` = 1024 ...), floats and booleans
//! (`true`/`false`/`yes`/`no`/`on`/`off`); `include <file>` relative to the including file; and
//! `$VAR` references to a key defined earlier in an enclosing block, or else to the environment.
//!
//! The parser is pure: included files and environment variables come through [`Sources`], so the
//! core still performs no IO. Every value carries the file, line and column it came from, and
//! every error says where it is.

use std::fmt;
use std::sync::Arc;

/// Where a key or value starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as it was named (the top file as given, includes resolved against it).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Location {
    /// `file:line:column` as nats-server prints it: its columns are 0-based on the first line of
    /// a file and 1-based after it, and so are these.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let column = if self.line == 1 {
            self.column.saturating_sub(1)
        } else {
            self.column
        };
        write!(f, "{}:{}:{}", self.file, self.line, column)
    }
}

/// A configuration value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `true`, `yes`, `on` / `false`, `no`, `off`.
    Bool(bool),
    /// An integer, size suffixes applied.
    Int(i64),
    /// A float.
    Float(f64),
    /// A quoted or bare string.
    String(String),
    /// `[ ... ]`.
    Array(Vec<Located>),
    /// `{ ... }`.
    Map(Map),
}

impl Value {
    /// What the value is, for type errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "bool",
            Value::Int(_) => "int64",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::Array(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }
}

/// A value and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// The value.
    pub value: Value,
    /// Where it starts.
    pub at: Location,
}

/// A block's keys in file order. Later keys with the same name override earlier ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    /// (key, where the key is, value).
    pub entries: Vec<(String, Location, Located)>,
    /// Keys referenced as `$variables`: nats-server does not report those as unknown fields.
    pub used_as_variables: Vec<String>,
}

impl Map {
    /// The last value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Located> {
        self.entries.iter().rev().find(|(k, _, _)| k == key).map(|(_, _, v)| v)
    }
}

/// A configuration that cannot be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    /// Where the problem is, for errors nats-server locates (syntax errors say only the line).
    pub at: Option<Location>,
    /// What it is.
    pub message: String,
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some(at) => write!(f, "{at}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfError {}

/// What the parser may read besides the text it is given.
pub trait Sources {
    /// The text of `path` (already resolved against the including file), or why not.
    fn read(&self, path: &str) -> Result<String, String>;
    /// An environment variable.
    fn env(&self, name: &str) -> Option<String>;
}

/// Parses the text of configuration file `file`.
pub fn parse(file: &str, text: &str, sources: &dyn Sources) -> Result<Map, ConfError> {
    let mut scopes = Vec::new();
    Parser::new(file, text, sources, 0).parse_top(&mut scopes)
}

/// Deepest include nesting before it is taken for a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

struct Parser<'a> {
    file: Arc<str>,
    chars: Vec<char>,
    pos: usize,
    line: usize,
    column: usize,
    sources: &'a dyn Sources,
    depth: usize,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_newline(c: char) -> bool {
    c == '\n' || c == '\r'
}

/// Characters that end a key.
fn ends_key(c: char) -> bool {
    is_blank(c) || is_newline(c) || matches!(c, ':' | '=' | '{' | '[' | '#' | ',' | ';' | '}')
}

/// Characters that end a variable name.
fn ends_bare(c: char) -> bool {
    is_newline(c) || matches!(c, ',' | ';' | '}' | ']' | '#') || is_blank(c)
}

impl<'a> Parser<'a> {
    fn new(file: &str, text: &str, sources: &'a dyn Sources, depth: usize) -> Self {
        Parser {
            file: Arc::from(file),
            chars: text.chars().collect(),
            pos: 0,
            line: 1,
            column: 1,
            sources,
            depth,
        }
    }

    fn here(&self) -> Location {
        Location {
            file: Arc::clone(&self.file),
            line: self.line,
            column: self.column,
        }
    }

    /// A syntax error, reported as nats-server's lexer does: by line only.
    fn error<T>(&self, at: Location, message: impl Into<String>) -> Result<T, ConfError> {
        Err(ConfError {
            at: None,
            message: format!("Parse error on line {}: '{}'", at.line, message.into()),
        })
    }

    /// An error nats-server reports without a location.
    fn plain_error<T>(&self, message: impl Into<String>) -> Result<T, ConfError> {
        Err(ConfError {
            at: None,
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn at_comment(&self) -> bool {
        self.peek() == Some('#') || (self.peek() == Some('/') && self.peek_at(1) == Some('/'))
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    /// Skips blanks, newlines, comments and the separators between entries.
    fn skip_between_entries(&mut self) {
        while let Some(c) = self.peek() {
            if is_blank(c) || is_newline(c) || c == ',' || c == ';' {
                self.bump();
            } else if self.at_comment() {
                self.skip_comment();
            } else {
                break;
            }
        }
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.bump();
        }
    }

    fn parse_top(mut self, scopes: &mut Vec<Map>) -> Result<Map, ConfError> {
        scopes.push(Map::default());
        self.parse_entries(scopes, None)?;
        Ok(scopes.pop().unwrap_or_default())
    }

    /// Parses `key value` entries into the innermost scope until EOF or the closing brace.
    fn parse_entries(&mut self, scopes: &mut Vec<Map>, close: Option<Location>) -> Result<(), ConfError> {
        loop {
            self.skip_between_entries();
            match self.peek() {
                None => {
                    return match close {
                        Some(_) => self.error(self.here(), "Unexpected EOF processing map."),
                        None => Ok(()),
                    }
                }
                Some('}') => {
                    return match close {
                        Some(_) => {
                            self.bump();
                            Ok(())
                        }
                        None => self.error(self.here(), "Unexpected '}'."),
                    }
                }
                Some(_) => self.parse_entry(scopes)?,
            }
        }
    }

    fn parse_key(&mut self) -> Result<(String, Location, bool), ConfError> {
        let at = self.here();
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                let key = if q == '"' {
                    self.parse_quoted()?
                } else {
                    self.parse_raw()?
                };
                Ok((key, at, true))
            }
            _ => {
                let mut key = String::new();
                while let Some(c) = self.peek() {
                    if ends_key(c) {
                        break;
                    }
                    key.push(c);
                    self.bump();
                }
                if key.is_empty() {
                    let c = self.peek().unwrap_or(' ');
                    if c == '=' || c == ':' {
                        return self.error(at, format!("Unexpected key separator '{c}'"));
                    }
                    return self.error(at, format!("Unexpected character '{c}' where a key was expected."));
                }
                Ok((key, at, false))
            }
        }
    }

    fn parse_entry(&mut self, scopes: &mut Vec<Map>) -> Result<(), ConfError> {
        let (key, key_at, quoted) = self.parse_key()?;
        self.skip_blanks();
        if !quoted && key == "include" {
            let value = self.parse_value(scopes)?;
            let Value::String(path) = value.value else {
                return self.error(value.at, "include needs a file name");
            };
            return self.include(&path, value.at, scopes);
        }
        if matches!(self.peek(), Some(':' | '=')) {
            self.bump();
            self.skip_blanks();
        }
        if self
            .peek()
            .is_none_or(|c| is_newline(c) || c == ',' || c == ';' || c == '}')
            || self.at_comment()
        {
            return self.error(self.here(), format!("Key '{key}' has no value."));
        }
        let value = self.parse_value(scopes)?;
        self.expect_value_end(scopes.len() > 1)?;
        if let Some(scope) = scopes.last_mut() {
            scope.entries.push((key, key_at, value));
        }
        Ok(())
    }

    /// After a value only blanks, then a newline, comment, separator or the end may follow.
    fn expect_value_end(&mut self, in_map: bool) -> Result<(), ConfError> {
        self.skip_blanks();
        match self.peek() {
            None | Some('\n' | '\r' | ',' | ';') => Ok(()),
            Some('}') if in_map => Ok(()),
            Some(_) if self.at_comment() => Ok(()),
            Some(c) if in_map => self.error(
                self.here(),
                format!(
                    "Expected a map value to end with a ',', ';', new line, comment or '}}', but got '{c}' instead."
                ),
            ),
            Some(c) => self.error(
                self.here(),
                format!("Expected a top-level value to end with a new line, comment or EOF, but got '{c}' instead."),
            ),
        }
    }

    fn include(&mut self, path: &str, at: Location, scopes: &mut Vec<Map>) -> Result<(), ConfError> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return self.error(at, format!("include nesting too deep at {path:?} (a loop?)"));
        }
        let resolved = resolve(&self.file, path);
        let _ = at;
        let text = match self.sources.read(&resolved) {
            Ok(text) => text,
            Err(e) => return self.plain_error(format!("error parsing include file '{path}', {e}")),
        };
        let mut inner = Parser::new(&resolved, &text, self.sources, self.depth + 1);
        inner.parse_entries(scopes, None)
    }

    fn parse_value(&mut self, scopes: &mut Vec<Map>) -> Result<Located, ConfError> {
        let at = self.here();
        let value = match self.peek() {
            Some('{') => {
                self.bump();
                scopes.push(Map::default());
                let result = self.parse_entries(scopes, Some(at.clone()));
                let map = scopes.pop().unwrap_or_default();
                result?;
                Value::Map(map)
            }
            Some('[') => Value::Array(self.parse_array(scopes)?),
            Some('"') => Value::String(self.parse_quoted()?),
            Some('\'') => Value::String(self.parse_raw()?),
            Some('(') => Value::String(self.parse_block_string()?),
            Some('$') => return self.parse_variable(scopes),
            Some(_) => self.parse_bare()?,
            None => return self.error(at, "Unexpected EOF."),
        };
        Ok(Located { value, at })
    }

    fn parse_array(&mut self, scopes: &mut Vec<Map>) -> Result<Vec<Located>, ConfError> {
        let open = self.here();
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip_between_entries();
            let _ = &open;
            match self.peek() {
                None => return self.error(self.here(), "Unexpected EOF processing array."),
                Some(']') => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => {
                    items.push(self.parse_value(scopes)?);
                    self.skip_blanks();
                    match self.peek() {
                        Some(',') => {
                            self.bump();
                            self.skip_blanks();
                            if self.peek() == Some(',') {
                                return self.error(self.here(), "Unexpected array value terminator ','.");
                            }
                        }
                        None | Some(']' | '\n' | '\r') => {}
                        Some(_) if self.at_comment() => {}
                        Some(c) => {
                            return self.error(
                                self.here(),
                                format!("Expected an array value terminator ',' or an array terminator ']', but got '{c}' instead."),
                            )
                        }
                    }
                }
            }
        }
    }

    fn parse_quoted(&mut self) -> Result<String, ConfError> {
        let open = self.here();
        self.bump();
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return self.error(self.here(), "Unexpected EOF.");
            };
            let _ = &open;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let at = self.here();
                    match self.bump() {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some('r') => out.push('\r'),
                        Some('"') => out.push('"'),
                        Some('\\') => out.push('\\'),
                        Some('/') => out.push('/'),
                        Some('b') => out.push('\u{8}'),
                        Some('f') => out.push('\u{c}'),
                        Some('x') => {
                            let hex: String = (0..2).filter_map(|_| self.bump()).collect();
                            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                                Some(ch) => out.push(ch),
                                None => return self.error(at, format!("Invalid hex escape '\\x{hex}'.")),
                            }
                        }
                        Some('u') => {
                            let hex: String = (0..4).filter_map(|_| self.bump()).collect();
                            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                                Some(ch) => out.push(ch),
                                None => return self.error(at, format!("invalid unicode escape '\\u{hex}'")),
                            }
                        }
                        Some(other) => return self.error(
                            at,
                            format!("Invalid escape character '{other}'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\."),
                        ),
                        None => return self.error(self.here(), "Unexpected EOF."),
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn parse_raw(&mut self) -> Result<String, ConfError> {
        let open = self.here();
        self.bump();
        let mut out = String::new();
        let _ = &open;
        loop {
            match self.bump() {
                Some('\'') => return Ok(out),
                None => return self.error(self.here(), "Unexpected EOF."),
                Some(c) => out.push(c),
            }
        }
    }

    /// `( ... )`: raw text up to a `)` alone at the start of a line.
    fn parse_block_string(&mut self) -> Result<String, ConfError> {
        let open = self.here();
        self.bump();
        let mut out = String::new();
        loop {
            match self.bump() {
                None => {
                    let _ = &open;
                    return self.error(self.here(), "Unexpected EOF.");
                }
                Some(')') if out.is_empty() || out.ends_with('\n') => return Ok(out.trim().to_string()),
                Some(c) => out.push(c),
            }
        }
    }

    fn parse_variable(&mut self, scopes: &mut [Map]) -> Result<Located, ConfError> {
        let at = self.here();
        self.bump();
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if ends_bare(c) {
                break;
            }
            name.push(c);
            self.bump();
        }
        for scope in scopes.iter_mut().rev() {
            if let Some(value) = scope.get(&name) {
                let value = value.value.clone();
                scope.used_as_variables.push(name);
                return Ok(Located { value, at });
            }
        }
        match self.sources.env(&name) {
            // An environment variable is read as if its text stood in the file.
            Some(text) => {
                let mut inner = Parser::new(&self.file, &text, self.sources, self.depth + 1);
                inner.line = at.line;
                inner.column = at.column;
                let mut empty = Vec::new();
                let mut value = inner.parse_value(&mut empty)?;
                if inner.peek().is_some() {
                    value.value = Value::String(text.trim().to_string());
                }
                value.at = at;
                Ok(value)
            }
            None => self.plain_error(format!(
                "variable reference for '{name}' on line {} can not be found",
                at.line
            )),
        }
    }

    fn parse_bare(&mut self) -> Result<Value, ConfError> {
        let mut token = String::new();
        while let Some(c) = self.peek() {
            // `//` inside a bare value (a URL such as `nats://host:4222`) is not a comment.
            if is_newline(c) || is_blank(c) || matches!(c, ',' | ';' | '}' | ']' | '#') {
                break;
            }
            token.push(c);
            self.bump();
        }
        Ok(classify(&token))
    }
}

/// Reads a bare token as a boolean, a number (with size suffix) or a string.
fn classify(token: &str) -> Value {
    match token.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => return Value::Bool(true),
        "false" | "no" | "off" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_sized_int(token) {
        return Value::Int(n);
    }
    if token.contains('.') && !token.contains(char::is_alphabetic) && token.matches('.').count() == 1 {
        if let Ok(f) = token.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::String(token.to_string())
}

/// `1024`, `-1`, `1K`, `10MB`, `2GiB`: decimal suffixes are powers of 1000, binary (`KB`, `KiB`,
/// `Ki`) powers of 1024.
pub fn parse_sized_int(token: &str) -> Option<i64> {
    let digits_end = token
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && *c == '-')))
        .map_or(token.len(), |(i, _)| i);
    let (digits, suffix) = token.split_at(digits_end);
    if digits.is_empty() || digits == "-" {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let multiplier: i64 = match suffix.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" => 1000,
        "kb" | "ki" | "kib" => 1 << 10,
        "m" => 1000 * 1000,
        "mb" | "mi" | "mib" => 1 << 20,
        "g" => 1000 * 1000 * 1000,
        "gb" | "gi" | "gib" => 1 << 30,
        "t" => 1000i64.pow(4),
        "tb" | "ti" | "tib" => 1 << 40,
        "p" => 1000i64.pow(5),
        "pb" | "pi" | "pib" => 1 << 50,
        "e" => 1000i64.pow(6),
        "eb" | "ei" | "eib" => 1 << 60,
        _ => return None,
    };
    n.checked_mul(multiplier)
}

/// `path` relative to the directory of `including`, unless absolute, cleaned the way Go's
/// `filepath.Join` cleans it (so error messages name the same file nats-server names).
fn resolve(including: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        match including.rfind('/') {
            Some(slash) => format!("{}/{}", &including[..slash], path),
            None => path.to_string(),
        }
    };
    clean(&joined)
}

/// Drops `.` segments and empty segments, and resolves `..` where it can.
fn clean(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        files: HashMap<String, String>,
        env: HashMap<String, String>,
    }

    impl Sources for Fake {
        fn read(&self, path: &str) -> Result<String, String> {
            self.files
                .get(path)
                .cloned()
                .ok_or_else(|| "open: no such file or directory".to_string())
        }
        fn env(&self, name: &str) -> Option<String> {
            self.env.get(name).cloned()
        }
    }

    fn parse_ok(text: &str) -> Map {
        parse("test.conf", text, &Fake::default()).unwrap()
    }

    fn get<'m>(map: &'m Map, key: &str) -> &'m Value {
        &map.get(key).unwrap_or_else(|| panic!("no {key}")).value
    }

    #[test]
    fn separators_comments_and_scalars() {
        let map = parse_ok(
            "# comment\nport: 4222\nhost = 127.0.0.1 // trailing\nname my-server\n\
             debug: true; trace: off, logtime: YES\nratio: 1.5\nquoted: \"a\\tb\\x41\"\nraw: 'c:\\\\d'\n",
        );
        assert_eq!(get(&map, "port"), &Value::Int(4222));
        assert_eq!(get(&map, "host"), &Value::String("127.0.0.1".into()));
        assert_eq!(get(&map, "name"), &Value::String("my-server".into()));
        assert_eq!(get(&map, "debug"), &Value::Bool(true));
        assert_eq!(get(&map, "trace"), &Value::Bool(false));
        assert_eq!(get(&map, "logtime"), &Value::Bool(true));
        assert_eq!(get(&map, "ratio"), &Value::Float(1.5));
        assert_eq!(get(&map, "quoted"), &Value::String("a\tbA".into()));
        assert_eq!(get(&map, "raw"), &Value::String("c:\\\\d".into()));
    }

    #[test]
    fn sizes() {
        let map = parse_ok("a: 1K\nb: 1KB\nc: 2mb\nd: 1GiB\ne: -1\nf: 8M\n");
        assert_eq!(get(&map, "a"), &Value::Int(1000));
        assert_eq!(get(&map, "b"), &Value::Int(1024));
        assert_eq!(get(&map, "c"), &Value::Int(2 << 20));
        assert_eq!(get(&map, "d"), &Value::Int(1 << 30));
        assert_eq!(get(&map, "e"), &Value::Int(-1));
        assert_eq!(get(&map, "f"), &Value::Int(8_000_000));
    }

    #[test]
    fn blocks_arrays_and_variables() {
        let map = parse_ok("routes: [nats://a:6222, nats://b:6222] # two\n");
        let Value::Array(routes) = get(&map, "routes") else {
            panic!()
        };
        assert_eq!(routes[1].value, Value::String("nats://b:6222".into()));
        let map = parse_ok(
            "limit: 100\ncluster {\n  name: c1\n  routes = [\n    nats://a:6222\n    \"nats://b:6222\",\n  ]\n  max: $limit\n}\n",
        );
        let Value::Map(cluster) = get(&map, "cluster") else {
            panic!()
        };
        assert_eq!(get(cluster, "name"), &Value::String("c1".into()));
        let Value::Array(routes) = get(cluster, "routes") else {
            panic!()
        };
        assert_eq!(routes.len(), 2);
        assert_eq!(get(cluster, "max"), &Value::Int(100));
    }

    #[test]
    fn includes_and_environment() {
        let mut fake = Fake::default();
        fake.files
            .insert("conf/limits.conf".into(), "max_payload: 2MB\n".into());
        fake.env.insert("PORT".into(), "4333".into());
        let map = parse("conf/main.conf", "include 'limits.conf'\nport: $PORT\n", &fake).unwrap();
        assert_eq!(get(&map, "max_payload"), &Value::Int(2 << 20));
        assert_eq!(get(&map, "port"), &Value::Int(4333));
    }

    #[test]
    fn syntax_errors_read_as_nats_servers() {
        // What nats-server 2.9.10 prints for the same files.
        let cases = [
            ("server_name: \"abc\n", "Parse error on line 2: 'Unexpected EOF.'"),
            ("server_name: 'abc\n", "Parse error on line 2: 'Unexpected EOF.'"),
            ("cluster {\n  port: 1\n", "Parse error on line 3: 'Unexpected EOF processing map.'"),
            (
                "server_name: \"a\\qb\"\n",
                "Parse error on line 1: 'Invalid escape character 'q'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.'",
            ),
            (
                "port: 4222 x\n",
                "Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got 'x' instead.'",
            ),
            ("port: 4222\n= 5\n", "Parse error on line 2: 'Unexpected key separator '=''"),
            ("server_tags: [a,,b]\n", "Parse error on line 1: 'Unexpected array value terminator ','.'"),
            ("port: $NOPE_X\n", "variable reference for 'NOPE_X' on line 1 can not be found"),
            ("include ./nope.conf\n", "error parsing include file './nope.conf', open: no such file or directory"),
        ];
        for (text, expected) in cases {
            let err = parse("x.conf", text, &Fake::default()).unwrap_err();
            assert_eq!(err.to_string(), expected, "{text:?}");
        }
    }
}
