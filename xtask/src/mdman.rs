//! A small Markdown → man(7) converter for `docs/config.md` → `bgpd.toml(5)`: the subset the
//! docs use (headings, paragraphs, tables, fenced code, bullet lists, inline code, bold,
//! links). Tables become tagged paragraphs (`.TP`): the first column is the tag, the middle
//! columns `header: value` lines, the last column the text, so no `tbl` preprocessor is
//! needed. Generated at package time, so the page cannot drift from the Markdown.

/// Escapes text for roff: backslashes, and non-ASCII characters as `\[uXXXX]` (the page is
/// ASCII, whatever the reader's locale and whether `preconv` runs).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
        }
    }
    out
}

/// Code: also `-` as the minus sign (`\-`), so options can be searched for and copied.
fn escape_code(s: &str) -> String {
    escape(s).replace('-', "\\-")
}

/// Inline Markdown (`code`, **bold**, *em*, [text](url)) to roff fonts.
pub fn inline(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '`' {
            if let Some(end) = rest[1..].find('`') {
                out.push_str("\\fB");
                out.push_str(&escape_code(&rest[1..1 + end]));
                out.push_str("\\fR");
                rest = &rest[end + 2..];
                continue;
            }
        } else if let Some(r) = rest.strip_prefix("**") {
            if let Some(end) = r.find("**") {
                out.push_str("\\fB");
                out.push_str(&inline(&r[..end]));
                out.push_str("\\fR");
                rest = &r[end + 2..];
                continue;
            }
        } else if c == '[' {
            if let Some(close) = rest.find("](") {
                if let Some(end) = rest[close..].find(')') {
                    out.push_str(&inline(&rest[1..close]));
                    rest = &rest[close + end + 1..];
                    continue;
                }
            }
        } else if c == '\\' && rest.len() > 1 {
            // Markdown escape (`\|` in tables): the next character as is.
            let next = rest[1..].chars().next().unwrap_or('\\');
            out.push_str(&escape(&next.to_string()));
            rest = &rest[1 + next.len_utf8()..];
            continue;
        }
        out.push_str(&escape(&c.to_string()));
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Protects a line that would start with a roff control character.
fn line(s: &str) -> String {
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s.to_string()
    }
}

/// Splits a table row on unescaped `|`.
fn cells(row: &str) -> Vec<String> {
    let row = row.trim().trim_start_matches('|');
    let row = row.strip_suffix('|').unwrap_or(row);
    let mut out = vec![String::new()];
    let mut chars = row.chars().peekable();
    let mut code = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                if let Some(last) = out.last_mut() {
                    last.push_str("\\|");
                }
                chars.next();
            }
            '`' => {
                code = !code;
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
            '|' if !code => out.push(String::new()),
            _ => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

fn is_separator(row: &str) -> bool {
    let t = row.trim();
    t.starts_with('|') && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// Converts a Markdown document to the body of a man page (after `.TH` and NAME): the first
/// `#` heading is dropped (the page has its own title), `##` become `.SH`, `###` `.SS`.
pub fn to_roff(md: &str) -> String {
    let mut out = String::new();
    let mut lines = md.lines().peekable();
    let mut para = false;
    let mut first_heading = true;
    while let Some(l) = lines.next() {
        let t = l.trim_end();
        if let Some(h) = t.strip_prefix("# ") {
            if first_heading {
                first_heading = false;
                out.push_str(".SH DESCRIPTION\n");
            } else {
                out.push_str(&format!(".SH {}\n", inline(h).to_uppercase()));
            }
            para = false;
        } else if let Some(h) = t.strip_prefix("## ") {
            out.push_str(&format!(".SH \"{}\"\n", inline(h).replace('"', "\\(dq")));
            para = false;
        } else if let Some(h) = t.strip_prefix("### ") {
            out.push_str(&format!(".SS \"{}\"\n", inline(h).replace('"', "\\(dq")));
            para = false;
        } else if t.starts_with("```") {
            out.push_str(".PP\n.RS 4\n.nf\n");
            for code in lines.by_ref() {
                if code.trim_end().starts_with("```") {
                    break;
                }
                out.push_str(&line(&escape_code(code)));
                out.push('\n');
            }
            out.push_str(".fi\n.RE\n");
            para = false;
        } else if t.trim_start().starts_with('|') {
            let header = cells(t);
            if lines.peek().is_some_and(|n| is_separator(n)) {
                lines.next();
            }
            while let Some(row) = lines.next_if(|n| n.trim_start().starts_with('|')) {
                let c = cells(row);
                let Some((tag, rest)) = c.split_first() else {
                    continue;
                };
                out.push_str(".TP\n");
                out.push_str(&line(&inline(tag)));
                out.push('\n');
                let n = rest.len();
                for (i, v) in rest.iter().enumerate() {
                    let h = header.get(i + 1).map(String::as_str).unwrap_or("");
                    if i + 1 == n {
                        if n > 1 {
                            out.push_str(".br\n");
                        }
                        out.push_str(&line(&inline(v)));
                    } else {
                        if i > 0 {
                            out.push_str(".br\n");
                        }
                        out.push_str(&line(&format!("{}: {}", inline(h), inline(v))));
                    }
                    out.push('\n');
                }
            }
            para = false;
        } else if let Some(item) = t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) {
            out.push_str(".IP \\(bu 2\n");
            out.push_str(&line(&inline(item)));
            out.push('\n');
            para = true;
        } else if t.is_empty() {
            para = false;
        } else {
            if !para {
                out.push_str(".PP\n");
                para = true;
            }
            out.push_str(&line(&inline(t.trim_start())));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markup() {
        assert_eq!(inline("a `b-c` d"), "a \\fBb\\-c\\fR d");
        assert_eq!(inline("**x** [y](http://z)"), "\\fBx\\fR y");
        assert_eq!(inline("back\\slash"), "backslash");
        assert_eq!(inline("a\\|b"), "a|b");
        assert_eq!(inline("≥ 3 — x"), "\\[u2265] 3 \\[u2014] x");
    }

    #[test]
    fn tables_become_tagged_paragraphs() {
        let md = "## `[listen]`\n\n| key | type | meaning |\n|---|---|---|\n| `port` | u16 | `0` \\| any |\n";
        let r = to_roff(md);
        assert_eq!(
            r,
            ".SH \"\\fB[listen]\\fR\"\n.TP\n\\fBport\\fR\ntype: u16\n.br\n\\fB0\\fR | any\n"
        );
    }

    #[test]
    fn code_and_control_characters() {
        let r = to_roff("# T\n\n.dot line\n\n```toml\n'quoted = 1\n```\n- item\n");
        assert_eq!(
            r,
            ".SH DESCRIPTION\n.PP\n\\&.dot line\n.PP\n.RS 4\n.nf\n\\&'quoted = 1\n.fi\n.RE\n.IP \\(bu 2\nitem\n"
        );
    }
}
