//! The parser of intrinsic function calls.

use serde_json::Value;

use super::{Arg, Function, Intrinsic, IntrinsicSyntaxError, MAX_NESTING, Piece};
use crate::path::JsonPath;

/// Parses a whole `States.Name(...)` call.
pub(super) fn parse_call(text: &str) -> Result<Intrinsic, IntrinsicSyntaxError> {
    let mut parser = Parser { chars: text.trim().chars().collect(), pos: 0 };
    let call = parser.call(1)?;
    parser.skip_ws();
    if parser.pos < parser.chars.len() {
        return Err(parser.invalid("unexpected text after the closing ')'"));
    }
    Ok(call)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn invalid(&self, message: &str) -> IntrinsicSyntaxError {
        IntrinsicSyntaxError::Invalid(format!("{message} (at character {})", self.pos))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn starts_with(&self, word: &str) -> bool {
        word.chars().enumerate().all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    fn call(&mut self, depth: usize) -> Result<Intrinsic, IntrinsicSyntaxError> {
        if depth > MAX_NESTING {
            return Err(self.invalid(&format!("intrinsic functions can be nested at most {MAX_NESTING} deep")));
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '.') {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let function = Function::from_name(&name).ok_or(IntrinsicSyntaxError::UnknownFunction(name.clone()))?;
        self.skip_ws();
        if self.peek() != Some('(') {
            return Err(self.invalid(&format!("expected '(' after {name}")));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                args.push(self.arg(depth)?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.invalid("expected ',' or ')'")),
                }
            }
        }
        let (min, max) = function.arity();
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(IntrinsicSyntaxError::Invalid(format!(
                "{name} takes {expected} arguments, not {}",
                args.len()
            )));
        }
        if function == Function::Format
            && let Some(Arg::Str(pieces)) = args.first()
        {
            let slots = pieces.iter().filter(|p| matches!(p, Piece::Slot)).count();
            if slots != args.len() - 1 {
                return Err(IntrinsicSyntaxError::Invalid(format!(
                    "States.Format has {slots} '{{}}' in its template but {} arguments follow it",
                    args.len() - 1
                )));
            }
        }
        Ok(Intrinsic { function, args })
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, IntrinsicSyntaxError> {
        self.skip_ws();
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => self.path(),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            _ if self.starts_with("States.") => Ok(Arg::Call(Box::new(self.call(depth + 1)?))),
            _ => {
                for (word, value) in [("true", Value::Bool(true)), ("false", Value::Bool(false)), ("null", Value::Null)]
                {
                    if self.starts_with(word) {
                        self.pos += word.len();
                        return Ok(Arg::Literal(value));
                    }
                }
                Err(self.invalid("expected a 'string', a number, true, false, null, a path or a States. call"))
            }
        }
    }

    /// A quoted string. `\'`, `\{`, `\}` and `\\` are the only escapes AWS defines.
    fn string(&mut self) -> Result<Arg, IntrinsicSyntaxError> {
        self.pos += 1;
        let mut pieces = Vec::new();
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err(self.invalid("unterminated string")),
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ ('\'' | '{' | '}' | '\\')) => {
                            text.push(c);
                            self.pos += 1;
                        }
                        _ => return Err(self.invalid("an open escape '\\' (only \\' \\{ \\} \\\\ are allowed)")),
                    }
                }
                Some('{') if self.chars.get(self.pos + 1) == Some(&'}') => {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                    pieces.push(Piece::Slot);
                    self.pos += 2;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        pieces.push(Piece::Text(text));
        Ok(Arg::Str(pieces))
    }

    fn number(&mut self) -> Result<Arg, IntrinsicSyntaxError> {
        let start = self.pos;
        self.pos += 1;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || "+-.eE".contains(c)) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        serde_json::from_str::<serde_json::Number>(&text)
            .map(|n| Arg::Literal(Value::Number(n)))
            .map_err(|_| IntrinsicSyntaxError::Invalid(format!("'{text}' is not a number")))
    }

    /// A path runs to the next ',' or ')' outside brackets, parentheses and quotes.
    fn path(&mut self) -> Result<Arg, IntrinsicSyntaxError> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), '\\') => self.pos += 1,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '[' | '(') => depth += 1,
                (None, ']' | ')') if depth > 0 => depth -= 1,
                (None, ',' | ')') => break,
                _ => {}
            }
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect::<String>().trim_end().to_string();
        JsonPath::parse(&text, true)
            .map(Arg::Path)
            .map_err(|e| IntrinsicSyntaxError::Invalid(format!("invalid path '{text}': {e}")))
    }
}
