//! A small expression tokenizer and recursive-descent evaluator.

use std::fmt;
use std::iter::Peekable;
use std::str::Chars;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Number(f64),
    Ident(String),
    Op(char),
    LParen,
    RParen,
}

#[derive(Debug)]
pub enum ParseError {
    Unexpected(char, usize),
    UnexpectedEnd,
    UnknownVariable(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unexpected(c, pos) => write!(f, "unexpected {c:?} at {pos}"),
            ParseError::UnexpectedEnd => write!(f, "unexpected end of input"),
            ParseError::UnknownVariable(name) => write!(f, "unknown variable `{name}`"),
        }
    }
}

impl std::error::Error for ParseError {}

pub fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut out = Vec::new();
    let mut chars: Peekable<Chars<'_>> = src.chars().peekable();
    let mut pos = 0usize;
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' | '\n' => {
                chars.next();
            }
            '0'..='9' | '.' => {
                let mut s = String::new();
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_digit() || d == '.' {
                        s.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                pos += s.len() - 1;
                out.push(Token::Number(s.parse().map_err(|_| ParseError::Unexpected(c, pos))?));
            }
            'a'..='z' | 'A'..='Z' | '_' => {
                let mut s = String::new();
                while let Some(&d) = chars.peek() {
                    if d.is_alphanumeric() || d == '_' {
                        s.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Ident(s));
            }
            '+' | '-' | '*' | '/' | '^' => {
                out.push(Token::Op(c));
                chars.next();
            }
            '(' => {
                out.push(Token::LParen);
                chars.next();
            }
            ')' => {
                out.push(Token::RParen);
                chars.next();
            }
            other => return Err(ParseError::Unexpected(other, pos)),
        }
        pos += 1;
    }
    Ok(out)
}

pub struct Parser<'a, F: Fn(&str) -> Option<f64>> {
    tokens: &'a [Token],
    pos: usize,
    lookup: F,
}

impl<'a, F: Fn(&str) -> Option<f64>> Parser<'a, F> {
    pub fn new(tokens: &'a [Token], lookup: F) -> Self {
        Self { tokens, pos: 0, lookup }
    }

    fn next(&mut self) -> Option<&'a Token> {
        let t = self.tokens.get(self.pos);
        self.pos += 1;
        t
    }

    pub fn expr(&mut self) -> Result<f64, ParseError> {
        let mut value = self.term()?;
        while let Some(Token::Op(op @ ('+' | '-'))) = self.tokens.get(self.pos) {
            self.pos += 1;
            let rhs = self.term()?;
            value = if *op == '+' { value + rhs } else { value - rhs };
        }
        Ok(value)
    }

    fn term(&mut self) -> Result<f64, ParseError> {
        let mut value = self.factor()?;
        while let Some(Token::Op(op @ ('*' | '/'))) = self.tokens.get(self.pos) {
            self.pos += 1;
            let rhs = self.factor()?;
            value = if *op == '*' { value * rhs } else { value / rhs };
        }
        Ok(value)
    }

    fn factor(&mut self) -> Result<f64, ParseError> {
        match self.next().ok_or(ParseError::UnexpectedEnd)? {
            Token::Number(n) => Ok(*n),
            Token::Ident(name) => (self.lookup)(name).ok_or_else(|| ParseError::UnknownVariable(name.clone())),
            Token::Op('-') => Ok(-self.factor()?),
            Token::LParen => {
                let v = self.expr()?;
                match self.next() {
                    Some(Token::RParen) => Ok(v),
                    _ => Err(ParseError::UnexpectedEnd),
                }
            }
            _ => Err(ParseError::UnexpectedEnd),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tokens = tokenize("2 * (x + 3.5) - y / 4")?;
    let value = Parser::new(&tokens, |name| match name {
        "x" => Some(1.5),
        "y" => Some(8.0),
        _ => None,
    })
    .expr()?;
    println!("{tokens:?}\n= {value}");
    Ok(())
}
