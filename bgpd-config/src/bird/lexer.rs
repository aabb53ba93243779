//! DOC: the BIRD 1.6 lexer: comments (`#`, `/* */`), strings, quoted symbols (`'a-b'`),
//! numbers (decimal, `0x` hex), IPv4 and IPv6 addresses (as BIRD's flex rules: an IPv6 literal
//! wins over a symbol that starts it, `fd00::1`), the multi-character operators and the path
//! mask brackets `[=` / `=]`. Every token carries its position (file, line, column); a file's
//! tokens end with no end marker, the include expansion ([`super::source`]) adds one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{BirdError, Pos};

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// A symbol or keyword (`protocol`, `bgp_path`); quoted symbols (`'x-y'`) too, with
    /// `quoted` set (they are never keywords).
    Sym { name: String, quoted: bool },
    /// `"text"`.
    Str(String),
    /// A number.
    Num(u64),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// Punctuation and operators.
    P(&'static str),
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Sym {
                name,
                quoted: false,
            } => format!("`{name}`"),
            Tok::Sym { name, quoted: true } => format!("`'{name}'`"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Num(n) => format!("number {n}"),
            Tok::Ip(a) => format!("address {a}"),
            Tok::P(p) => format!("`{p}`"),
            Tok::Eof => "end of file".into(),
        }
    }
}

/// A token and where it starts; `line_start`: the first token on its line (where BIRD
/// recognises `include`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
    pub line_start: bool,
    /// Length in characters.
    pub len: u32,
}

const PUNCT2: [&str; 9] = ["[=", "=]", "!=", "!~", "<=", ">=", "&&", "||", ".."];
const PUNCT1: &str = "(){}[],;:.!=<>~+-*/%?";

/// Longest accepted input, in bytes (a bound for the fuzz target and hostile files).
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// Splits `text` (file number `file`) into tokens.
pub fn lex(text: &str, file: u16) -> Result<Vec<Token>, BirdError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(BirdError::new(
            Pos {
                file,
                line: 1,
                col: 1,
            },
            "file too large",
        ));
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    let mut line_start = true;
    let at = |i: usize| chars.get(i).copied();
    while let Some(c) = at(i) {
        let pos = Pos { file, line, col };
        // Whitespace and comments.
        if c == '\n' {
            i += 1;
            line += 1;
            col = 1;
            line_start = true;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            col += 1;
            continue;
        }
        if c == '#' {
            while at(i).is_some_and(|c| c != '\n') {
                i += 1;
            }
            continue;
        }
        if c == '/' && at(i + 1) == Some('*') {
            i += 2;
            col += 2;
            loop {
                match at(i) {
                    None => return Err(BirdError::new(pos, "unterminated comment")),
                    Some('*') if at(i + 1) == Some('/') => {
                        i += 2;
                        col += 2;
                        break;
                    }
                    Some('\n') => {
                        i += 1;
                        line += 1;
                        col = 1;
                    }
                    Some(_) => {
                        i += 1;
                        col += 1;
                    }
                }
            }
            continue;
        }
        let start = i;
        let tok = if c == '"' || c == '\'' {
            i += 1;
            while at(i).is_some_and(|x| x != c && x != '\n') {
                i += 1;
            }
            if at(i) != Some(c) {
                return Err(BirdError::new(
                    pos,
                    if c == '"' {
                        "unterminated string"
                    } else {
                        "unterminated quoted symbol"
                    },
                ));
            }
            let body: String = chars.get(start + 1..i).unwrap_or_default().iter().collect();
            i += 1;
            if c == '"' {
                Tok::Str(body)
            } else {
                if body.is_empty()
                    || !body
                        .chars()
                        .all(|x| x.is_ascii_alphanumeric() || "_.:-".contains(x))
                {
                    return Err(BirdError::new(
                        pos,
                        format!("invalid quoted symbol '{body}'"),
                    ));
                }
                Tok::Sym {
                    name: body,
                    quoted: true,
                }
            }
        } else if let Some((t, n)) = address(&chars, i) {
            i += n;
            t
        } else if c.is_ascii_digit() {
            let (t, n) = number(&chars, i).ok_or_else(|| BirdError::new(pos, "invalid number"))?;
            i += n;
            t
        } else if c.is_ascii_alphabetic() || c == '_' {
            while at(i).is_some_and(|x| x.is_ascii_alphanumeric() || x == '_') {
                i += 1;
            }
            Tok::Sym {
                name: chars.get(start..i).unwrap_or_default().iter().collect(),
                quoted: false,
            }
        } else {
            let two: String = chars.get(i..i + 2).unwrap_or_default().iter().collect();
            if let Some(p) = PUNCT2.iter().find(|p| **p == two) {
                i += 2;
                Tok::P(p)
            } else if let Some(p) = PUNCT1.find(c).and_then(|k| PUNCT1.get(k..k + 1)) {
                i += 1;
                Tok::P(p)
            } else {
                return Err(BirdError::new(pos, format!("unexpected character {c:?}")));
            }
        };
        col += (i - start) as u32;
        out.push(Token {
            tok,
            pos,
            line_start,
            len: (i - start) as u32,
        });
        line_start = false;
    }
    Ok(out)
}

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An IPv4 (`a.b.c.d`) or IPv6 literal at `i`: (token, length in chars).
fn address(chars: &[char], i: usize) -> Option<(Tok, usize)> {
    let mut j = i;
    while chars
        .get(j)
        .is_some_and(|c| c.is_ascii_hexdigit() || *c == ':' || *c == '.')
    {
        j += 1;
    }
    // A run ending in `.` may be `a.b.c.d.` or a method call; never part of an address.
    while j > i && chars.get(j - 1) == Some(&'.') {
        j -= 1;
    }
    if is_word(chars.get(j).copied()) {
        // `fd00x`, `add_x`: a symbol or an error, not an address.
        return None;
    }
    let run: String = chars.get(i..j)?.iter().collect();
    if run.contains(':') {
        // BIRD: `xx::` or at least three colons.
        let colons = run.matches(':').count();
        if !(run.contains("::") || colons >= 3) || run.contains(":::") {
            return None;
        }
        let a: Ipv6Addr = run.parse().ok()?;
        return Some((Tok::Ip(IpAddr::V6(a)), j - i));
    }
    if run.matches('.').count() == 3 && run.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let a: Ipv4Addr = run.parse().ok()?;
        return Some((Tok::Ip(IpAddr::V4(a)), j - i));
    }
    None
}

/// A number at `i` (decimal or `0x` hex): (token, length).
fn number(chars: &[char], i: usize) -> Option<(Tok, usize)> {
    let (radix, skip) =
        if chars.get(i) == Some(&'0') && chars.get(i + 1).is_some_and(|c| *c == 'x' || *c == 'X') {
            (16, 2)
        } else {
            (10, 0)
        };
    let mut j = i + skip;
    while chars.get(j).is_some_and(|c| c.is_digit(radix)) {
        j += 1;
    }
    if j == i + skip || is_word(chars.get(j).copied()) {
        return None;
    }
    let digits: String = chars.get(i + skip..j)?.iter().collect();
    let n = u64::from_str_radix(&digits, radix).ok()?;
    Some((Tok::Num(n), j - i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s, 0).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn sym(s: &str) -> Tok {
        Tok::Sym {
            name: s.into(),
            quoted: false,
        }
    }

    #[test]
    fn vectors() {
        let cases: Vec<(&str, Vec<Tok>)> = vec![
            (
                "router id 10.0.0.1;",
                vec![
                    sym("router"),
                    sym("id"),
                    Tok::Ip("10.0.0.1".parse().unwrap()),
                    Tok::P(";"),
                ],
            ),
            (
                "fd00::1/64",
                vec![
                    Tok::Ip("fd00::1".parse().unwrap()),
                    Tok::P("/"),
                    Tok::Num(64),
                ],
            ),
            ("::", vec![Tok::Ip("::".parse().unwrap())]),
            (
                "2001:db8:0:1:2:3:4:5",
                vec![Tok::Ip("2001:db8:0:1:2:3:4:5".parse().unwrap())],
            ),
            ("add paths", vec![sym("add"), sym("paths")]),
            (
                "bgp_path.len",
                vec![sym("bgp_path"), Tok::P("."), sym("len")],
            ),
            ("0x10 42", vec![Tok::Num(16), Tok::Num(42)]),
            (
                "'bgp_a-b_importFilterV4'()",
                vec![
                    Tok::Sym {
                        name: "bgp_a-b_importFilterV4".into(),
                        quoted: true,
                    },
                    Tok::P("("),
                    Tok::P(")"),
                ],
            ),
            (
                "[= 65000 * =]",
                vec![Tok::P("[="), Tok::Num(65000), Tok::P("*"), Tok::P("=]")],
            ),
            (
                "a!~b != c <= >= && || ..",
                vec![
                    sym("a"),
                    Tok::P("!~"),
                    sym("b"),
                    Tok::P("!="),
                    sym("c"),
                    Tok::P("<="),
                    Tok::P(">="),
                    Tok::P("&&"),
                    Tok::P("||"),
                    Tok::P(".."),
                ],
            ),
            ("x # comment\n/* multi\nline */ y", vec![sym("x"), sym("y")]),
            (
                "krt_tunnel=\"\";",
                vec![
                    sym("krt_tunnel"),
                    Tok::P("="),
                    Tok::Str(String::new()),
                    Tok::P(";"),
                ],
            ),
            (
                "10.0.0.0/8{16,24}",
                vec![
                    Tok::Ip("10.0.0.0".parse().unwrap()),
                    Tok::P("/"),
                    Tok::Num(8),
                    Tok::P("{"),
                    Tok::Num(16),
                    Tok::P(","),
                    Tok::Num(24),
                    Tok::P("}"),
                ],
            ),
            (
                "error wait time 5,30;",
                vec![
                    sym("error"),
                    sym("wait"),
                    sym("time"),
                    Tok::Num(5),
                    Tok::P(","),
                    Tok::Num(30),
                    Tok::P(";"),
                ],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(toks(text), want, "{text}");
        }
    }

    #[test]
    fn positions() {
        let t = lex("a\n  bb /* x\n */ c", 3).unwrap();
        let p: Vec<_> = t
            .iter()
            .map(|t| (t.pos.line, t.pos.col, t.line_start))
            .collect();
        assert_eq!(p, vec![(1, 1, true), (2, 3, true), (3, 5, false)]);
        assert_eq!(t[0].pos.file, 3);
    }

    #[test]
    fn errors() {
        let cases = [
            ("\"abc", 1, 1, "unterminated string"),
            ("x /* y", 1, 3, "unterminated comment"),
            ("a\n  $", 2, 3, "unexpected character '$'"),
            ("12ab", 1, 1, "invalid number"),
            ("99999999999999999999", 1, 1, "invalid number"),
            ("'a b'", 1, 1, "invalid quoted symbol 'a b'"),
            ("'x", 1, 1, "unterminated quoted symbol"),
        ];
        for (text, line, col, msg) in cases {
            let e = lex(text, 0).unwrap_err();
            assert_eq!(
                (e.pos.line, e.pos.col, e.msg.as_str()),
                (line, col, msg),
                "{text}"
            );
        }
    }
}
