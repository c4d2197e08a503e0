//! The JSONPath parser (Jayway syntax).

use serde_json::Value;

use super::filter::{CompareOp, FilterExpr, Operand};
use super::{JsonPath, PathSyntaxError, Root, Segment, Selector};

/// Parses a whole path; `allow_context` admits `$$` paths.
pub(super) fn parse_path(text: &str, allow_context: bool) -> Result<JsonPath, PathSyntaxError> {
    let mut parser = Parser::new(text, false);
    let path = parser.path(allow_context)?;
    if !parser.at_end() {
        return Err(parser.error("unexpected character"));
    }
    Ok(path)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Inside a filter, names also stop at spaces and operator characters.
    in_filter: bool,
}

impl Parser {
    fn new(text: &str, in_filter: bool) -> Self {
        Parser { chars: text.chars().collect(), pos: 0, in_filter }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn error(&self, message: &str) -> PathSyntaxError {
        PathSyntaxError { message: message.to_string(), position: self.pos }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn path(&mut self, allow_context: bool) -> Result<JsonPath, PathSyntaxError> {
        let start = self.pos;
        if !self.eat('$') {
            return Err(self.error("a path must start with '$'"));
        }
        let root = if self.eat('$') {
            if !allow_context {
                return Err(PathSyntaxError {
                    message: "the context object ($$) cannot be used here".to_string(),
                    position: start,
                });
            }
            Root::Context
        } else {
            Root::Input
        };
        let segments = self.segments()?;
        let raw: String = self.chars[start..self.pos].iter().collect();
        Ok(JsonPath { raw, root, segments })
    }

    fn segments(&mut self) -> Result<Vec<Segment>, PathSyntaxError> {
        let mut segments = Vec::new();
        loop {
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    let descendant = self.eat('.');
                    if self.peek() == Some('[') {
                        if !descendant {
                            return Err(self.error("'.[' is not valid; use '[' directly"));
                        }
                        let selector = self.bracket()?;
                        segments.push(Segment { selector, descendant });
                    } else if self.eat('*') {
                        segments.push(Segment { selector: Selector::Wildcard, descendant });
                    } else {
                        let name = self.dot_name()?;
                        segments.push(Segment { selector: Selector::Name(name), descendant });
                    }
                }
                Some('[') => {
                    let selector = self.bracket()?;
                    segments.push(Segment { selector, descendant: false });
                }
                _ => return Ok(segments),
            }
        }
    }

    fn dot_name(&mut self) -> Result<String, PathSyntaxError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let stop =
                c == '.' || c == '[' || (self.in_filter && (c.is_whitespace() || "<>=!&|()".contains(c))) || c == ']';
            if stop {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected a field name"));
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        if self.peek() == Some('(') || name.ends_with("()") {
            return Err(self.error("path functions such as length() are not supported"));
        }
        Ok(name)
    }

    fn bracket(&mut self) -> Result<Selector, PathSyntaxError> {
        if !self.eat('[') {
            return Err(self.error("expected '['"));
        }
        self.skip_ws();
        let selector = match self.peek() {
            Some('\'' | '"') => {
                let name = self.quoted()?;
                self.skip_ws();
                if self.peek() == Some(',') {
                    return Err(self.error("several names in one bracket are not supported"));
                }
                Selector::Name(name)
            }
            Some('*') => {
                self.pos += 1;
                Selector::Wildcard
            }
            Some('?') => {
                self.pos += 1;
                self.skip_ws();
                if !self.eat('(') {
                    return Err(self.error("expected '(' after '?'"));
                }
                let expr = self.filter_or()?;
                self.skip_ws();
                if !self.eat(')') {
                    return Err(self.error("expected ')' to close the filter"));
                }
                Selector::Filter(Box::new(expr))
            }
            _ => self.index_or_slice()?,
        };
        self.skip_ws();
        if !self.eat(']') {
            return Err(self.error("expected ']'"));
        }
        Ok(selector)
    }

    fn quoted(&mut self) -> Result<String, PathSyntaxError> {
        let Some(quote) = self.peek() else {
            return Err(self.error("expected a quoted name"));
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated quoted name")),
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        None => return Err(self.error("unterminated escape")),
                    }
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn integer(&mut self) -> Result<Option<i64>, PathSyntaxError> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == start {
            return Ok(None);
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let value = text
            .parse::<i64>()
            .map_err(|_| PathSyntaxError { message: format!("'{text}' is not a valid index"), position: start })?;
        self.skip_ws();
        Ok(Some(value))
    }

    fn index_or_slice(&mut self) -> Result<Selector, PathSyntaxError> {
        let first = self.integer()?;
        match self.peek() {
            Some(':') => {
                self.pos += 1;
                let end = self.integer()?;
                let step = if self.eat(':') { self.integer()?.unwrap_or(1) } else { 1 };
                if step == 0 {
                    return Err(self.error("a slice step cannot be 0"));
                }
                Ok(Selector::Slice { start: first, end, step })
            }
            Some(',') => {
                let mut indices = vec![first.ok_or_else(|| self.error("expected an index"))?];
                while self.eat(',') {
                    indices.push(self.integer()?.ok_or_else(|| self.error("expected an index"))?);
                }
                Ok(Selector::Indices(indices))
            }
            _ => first
                .map(Selector::Index)
                .ok_or_else(|| self.error("expected an index, a slice, '*', '?' or a quoted name")),
        }
    }

    fn filter_or(&mut self) -> Result<FilterExpr, PathSyntaxError> {
        let mut parts = vec![self.filter_and()?];
        loop {
            self.skip_ws();
            if self.peek() == Some('|') && self.peek_at(1) == Some('|') {
                self.pos += 2;
                parts.push(self.filter_and()?);
            } else {
                break;
            }
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { FilterExpr::Or(parts) })
    }

    fn filter_and(&mut self) -> Result<FilterExpr, PathSyntaxError> {
        let mut parts = vec![self.filter_unary()?];
        loop {
            self.skip_ws();
            if self.peek() == Some('&') && self.peek_at(1) == Some('&') {
                self.pos += 2;
                parts.push(self.filter_unary()?);
            } else {
                break;
            }
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { FilterExpr::And(parts) })
    }

    fn filter_unary(&mut self) -> Result<FilterExpr, PathSyntaxError> {
        self.skip_ws();
        if self.peek() == Some('!') && self.peek_at(1) != Some('=') {
            self.pos += 1;
            return Ok(FilterExpr::Not(Box::new(self.filter_unary()?)));
        }
        if self.eat('(') {
            let inner = self.filter_or()?;
            self.skip_ws();
            if !self.eat(')') {
                return Err(self.error("expected ')'"));
            }
            return Ok(inner);
        }
        let left = self.operand()?;
        self.skip_ws();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some('='), Some('=')) => Some((CompareOp::Eq, 2)),
            (Some('!'), Some('=')) => Some((CompareOp::Ne, 2)),
            (Some('<'), Some('=')) => Some((CompareOp::Le, 2)),
            (Some('>'), Some('=')) => Some((CompareOp::Ge, 2)),
            (Some('<'), _) => Some((CompareOp::Lt, 1)),
            (Some('>'), _) => Some((CompareOp::Gt, 1)),
            (Some('='), Some('~')) => return Err(self.error("regular expression filters (=~) are not supported")),
            _ => None,
        };
        match op {
            Some((op, width)) => {
                self.pos += width;
                // Jayway accepts a triple '=' as a synonym of '=='.
                if op == CompareOp::Eq || op == CompareOp::Ne {
                    self.eat('=');
                }
                let right = self.operand()?;
                Ok(FilterExpr::Compare(left, op, right))
            }
            None => match left {
                Operand::Literal(_) => Err(self.error("a filter needs a comparison or a path to test")),
                path => Ok(FilterExpr::Exists(path)),
            },
        }
    }

    fn operand(&mut self) -> Result<Operand, PathSyntaxError> {
        self.skip_ws();
        match self.peek() {
            Some('@') => {
                self.pos += 1;
                Ok(Operand::Current(self.filter_segments()?))
            }
            Some('$') => {
                self.pos += 1;
                Ok(Operand::Root(self.filter_segments()?))
            }
            Some('\'' | '"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some(c) if c == '-' || c.is_ascii_digit() => {
                let start = self.pos;
                self.pos += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || "+-.eE".contains(c)) {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                serde_json::from_str::<serde_json::Number>(&text)
                    .map(|n| Operand::Literal(Value::Number(n)))
                    .map_err(|_| PathSyntaxError { message: format!("'{text}' is not a number"), position: start })
            }
            _ => {
                for (word, value) in [("true", Value::Bool(true)), ("false", Value::Bool(false)), ("null", Value::Null)]
                {
                    let matches = word.chars().enumerate().all(|(i, c)| self.peek_at(i) == Some(c));
                    if matches {
                        self.pos += word.len();
                        return Ok(Operand::Literal(value));
                    }
                }
                Err(self.error("expected '@', '$', a string, a number, true, false or null"))
            }
        }
    }

    fn filter_segments(&mut self) -> Result<Vec<Segment>, PathSyntaxError> {
        let start = self.pos;
        let saved = self.in_filter;
        self.in_filter = true;
        let segments = self.segments();
        self.in_filter = saved;
        let segments = segments?;
        if segments.iter().all(Segment::is_singular) {
            Ok(segments)
        } else {
            Err(PathSyntaxError {
                message: "paths inside a filter may only use names and single indices".to_string(),
                position: start,
            })
        }
    }
}
