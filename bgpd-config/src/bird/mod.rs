//! DOC: BIRD's configuration language (the BIRD 1.6 dialect confd renders for Calico) as a
//! second front-end of bgpd, beside TOML, over the same model.
//!
//! * `lexer`: tokens with positions; `source`: the file tree (`include`, bounded, no cycles);
//! * `cursor`, `parser`, `filter_parse`: the parse tree ([`ast`]) of statements, protocol
//!   options and filter code, every node with its file, line and column;
//! * `lower`: templates and `from` inheritance resolved, protocols mapped onto
//!   [`super::ConfigFile`] with BIRD 1.6's defaults; `check`: symbol and reference checks of the
//!   filter code; `lower_filter`: filter code onto the filter engine (`bgp_core::filter`).
//!
//! Errors stop at the first problem (as BIRD does) and name file, line, column and the
//! construct. `docs/bird-config.md` lists the supported subset and every known difference.

pub mod ast;
mod check;
mod cursor;
mod filter_parse;
mod host;
pub mod lexer;
mod lower;
mod lower_bgp;
mod lower_filter;
mod parser;
pub mod source;

use std::fmt;
use std::path::Path;

pub use host::{host_addresses, router_id_from, HostAddress};
pub use lower::{Lowered, ProtoInfo};
pub use source::{Files, Fs, MemFiles};

use super::{ConfigError, ConfigErrors, FamilyName};

/// A position: file number (index into the names of the files read), 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub file: u16,
    pub line: u32,
    pub col: u32,
}

/// One error, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdError {
    pub pos: Pos,
    pub msg: String,
}

impl BirdError {
    pub fn new(pos: Pos, msg: impl Into<String>) -> Self {
        BirdError {
            pos,
            msg: msg.into(),
        }
    }

    fn into_config_error(self, names: &[String]) -> ConfigError {
        ConfigError {
            file: names
                .get(usize::from(self.pos.file))
                .cloned()
                .unwrap_or_else(|| "-".into()),
            line: self.pos.line as usize,
            col: self.pos.col as usize,
            key: "bird".into(),
            message: self.msg,
        }
    }
}

impl fmt::Display for BirdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.pos.line, self.pos.col, self.msg)
    }
}

/// Parses the configuration tree rooted at `root` (read through `files`) and lowers it onto
/// the model. `family`: the address family the daemon handles (BIRD 1.6 builds one per family:
/// `bird` IPv4, `bird6` IPv6).
pub fn load(
    root: &Path,
    files: &mut dyn Files,
    family: FamilyName,
) -> Result<Lowered, ConfigErrors> {
    let loaded = source::load(root, files)
        .map_err(|(e, names)| ConfigErrors(vec![e.into_config_error(&names)]))?;
    let names = loaded.names;
    let fail = |e: BirdError| ConfigErrors(vec![e.into_config_error(&names)]);
    let tree = parser::parse(&loaded.tokens).map_err(fail)?;
    check::check(&tree).map_err(fail)?;
    let mut l = lower::lower(&tree, family).map_err(fail)?;
    l.compiled = lower_filter::compile(&l).map_err(fail)?;
    Ok(l)
}

/// BIRD's `-p` report of an error, as BIRD 1.6.8 prints it: `bird: FILE:LINE:COL message`.
pub fn bird_message(e: &ConfigError) -> String {
    format!("bird: {}:{}:{} {}", e.file, e.line, e.col, e.message)
}

#[cfg(test)]
mod tests;
