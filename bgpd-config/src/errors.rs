//! DOC: configuration error reports: one line per problem, `FILE:LINE:COL: KEY: message`.

use std::fmt;
use std::ops::Range;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub col: usize,
    /// The key (dotted path, e.g. `peers[2].export`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.col, self.key, self.message
        )
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// 1-based (line, column) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |p| {
        before.get(p + 1..).unwrap_or("").chars().count()
    }) + 1;
    (line, col)
}

impl ConfigErrors {
    pub(crate) fn single(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }

    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn push(
        &mut self,
        file: &str,
        text: &str,
        span: Option<Range<usize>>,
        key: &str,
        msg: impl Into<String>,
    ) {
        let (line, col) = span.map_or((0, 0), |s| line_col(text, s.start));
        self.0.push(ConfigError {
            file: file.to_string(),
            line,
            col,
            key: key.to_string(),
            message: msg.into(),
        });
    }

    /// A parse/type error from `toml`: the key is the one on the line the span points at.
    pub(crate) fn from_toml(file: &str, text: &str, e: &toml::de::Error) -> Self {
        let span = e.span();
        let key = span
            .as_ref()
            .map(|s| key_at(text, s.start))
            .unwrap_or_else(|| "-".into());
        let mut errs = ConfigErrors::default();
        errs.push(
            file,
            text,
            span,
            &key,
            e.message().trim().replace('\n', " "),
        );
        errs
    }
}

/// The key being defined on the line containing `offset`: `key = ...` gives `key`, a table
/// header `[a.b]` / `[[a]]` gives `a.b` / `a`, anything else `-`.
fn key_at(text: &str, offset: usize) -> String {
    let start = text
        .get(..offset.min(text.len()))
        .and_then(|b| b.rfind('\n'))
        .map_or(0, |p| p + 1);
    let line = text
        .get(start..)
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .trim();
    if line.starts_with('[') {
        return line
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string();
    }
    match line.split_once('=') {
        Some((k, _)) if !k.trim().is_empty() && !k.contains('{') => k.trim().to_string(),
        _ => "-".into(),
    }
}
