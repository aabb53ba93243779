//! DOC: the token cursor shared by the statement and filter parsers: look-ahead, keyword and
//! punctuation matching, typed value readers (numbers, addresses, strings, BIRD's optional
//! booleans) and the nesting bound that keeps hostile input from exhausting the stack.

use std::net::{IpAddr, Ipv4Addr};

use super::ast::At;
use super::lexer::{Tok, Token};
use super::{BirdError, Pos};

/// Deepest nesting of blocks and expressions accepted.
pub const MAX_DEPTH: usize = 64;

pub struct Cursor<'a> {
    toks: &'a [Token],
    i: usize,
    depth: usize,
    eof: Token,
}

pub type R<T> = Result<T, BirdError>;

impl<'a> Cursor<'a> {
    pub fn new(toks: &'a [Token]) -> Self {
        // End of input: just after the last token.
        let last = toks
            .last()
            .map(|t| Pos {
                col: t.pos.col + t.len,
                ..t.pos
            })
            .unwrap_or_default();
        Cursor {
            toks,
            i: 0,
            depth: 0,
            eof: Token {
                tok: Tok::Eof,
                pos: last,
                line_start: false,
                len: 0,
            },
        }
    }

    pub fn token(&self, k: usize) -> &Token {
        self.toks.get(self.i + k).unwrap_or(&self.eof)
    }
    pub fn peek(&self) -> &Tok {
        &self.token(0).tok
    }
    pub fn peek_at(&self, k: usize) -> &Tok {
        &self.token(k).tok
    }
    pub fn pos(&self) -> Pos {
        self.token(0).pos
    }
    pub fn at_eof(&self) -> bool {
        self.i >= self.toks.len()
    }
    pub fn bump(&mut self) -> Token {
        let t = self.token(0).clone();
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    /// An error at the current token.
    pub fn err<T>(&self, msg: impl Into<String>) -> R<T> {
        Err(BirdError::new(self.pos(), msg))
    }
    /// "expected X, found Y" at the current token.
    pub fn expected<T>(&self, what: &str) -> R<T> {
        self.err(format!(
            "syntax error: expected {what}, found {}",
            self.peek().describe()
        ))
    }

    pub fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Whether the current token is the (unquoted) keyword `kw`.
    pub fn is_kw(&self, kw: &str) -> bool {
        self.is_kw_at(0, kw)
    }
    pub fn is_kw_at(&self, k: usize, kw: &str) -> bool {
        matches!(self.peek_at(k), Tok::Sym { name, quoted: false } if name.eq_ignore_ascii_case(kw))
    }
    pub fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.bump();
            true
        } else {
            false
        }
    }
    pub fn expect_kw(&mut self, kw: &str) -> R<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            self.expected(&format!("`{kw}`"))
        }
    }
    pub fn is_p(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::P(x) if *x == p)
    }
    pub fn is_p_at(&self, k: usize, p: &str) -> bool {
        matches!(self.peek_at(k), Tok::P(x) if *x == p)
    }
    pub fn eat_p(&mut self, p: &str) -> bool {
        if self.is_p(p) {
            self.bump();
            true
        } else {
            false
        }
    }
    pub fn expect_p(&mut self, p: &str) -> R<()> {
        if self.eat_p(p) {
            Ok(())
        } else {
            self.expected(&format!("`{p}`"))
        }
    }

    /// Any symbol (quoted or not).
    pub fn symbol(&mut self, what: &str) -> R<At<String>> {
        match self.peek().clone() {
            Tok::Sym { name, .. } => {
                let pos = self.bump().pos;
                Ok(At { pos, v: name })
            }
            _ => self.expected(what),
        }
    }
    pub fn num(&mut self) -> R<u64> {
        match *self.peek() {
            Tok::Num(n) => {
                self.bump();
                Ok(n)
            }
            _ => self.expected("a number"),
        }
    }
    /// A number within `lo..=hi`.
    pub fn num_in(&mut self, lo: u64, hi: u64) -> R<u64> {
        let pos = self.pos();
        let n = self.num()?;
        if n < lo || n > hi {
            return Err(BirdError::new(
                pos,
                format!("value {n} out of range {lo}..{hi}"),
            ));
        }
        Ok(n)
    }
    pub fn ip(&mut self) -> R<IpAddr> {
        match *self.peek() {
            Tok::Ip(a) => {
                self.bump();
                Ok(a)
            }
            _ => self.expected("an IP address"),
        }
    }
    pub fn ipv4(&mut self) -> R<Ipv4Addr> {
        match *self.peek() {
            Tok::Ip(IpAddr::V4(a)) => {
                self.bump();
                Ok(a)
            }
            _ => self.expected("an IPv4 address"),
        }
    }
    pub fn string(&mut self) -> R<String> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                Ok(s)
            }
            _ => self.expected("a string"),
        }
    }

    /// BIRD's `bool`: `on|off|yes|no|true|false`, or nothing (true).
    pub fn opt_bool(&mut self) -> R<bool> {
        for (w, v) in [
            ("on", true),
            ("yes", true),
            ("true", true),
            ("off", false),
            ("no", false),
            ("false", false),
        ] {
            if self.eat_kw(w) {
                return Ok(v);
            }
        }
        Ok(true)
    }

    /// Consumes up to and including the next `;` outside braces (statements kept but not
    /// applied: `log`, `debug`, `timeformat`).
    pub fn skip_statement(&mut self) -> R<()> {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                Tok::Eof => return self.expected("`;`"),
                Tok::P("{") => depth += 1,
                Tok::P("}") if depth == 0 => return self.expected("`;`"),
                Tok::P("}") => depth -= 1,
                Tok::P(";") if depth == 0 => {
                    self.bump();
                    return Ok(());
                }
                _ => {}
            }
            self.bump();
        }
    }
}
