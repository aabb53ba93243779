//! DOC: the TOML configuration: its schema (serde types, one per table), loading with
//! file/line/column error reports, validation (`bgpd --check`), and the derived values the
//! daemon runs on (session and RIB settings per peer, the mesh expanded into peers, policies
//! turned into `bgp_core::rib::Policy`). Every key is documented in `docs/config.md`.
//!
//! * `schema`: the raw serde types (unknown keys are errors);
//! * `errors`: [`ConfigErrors`], `FILE:LINE:COL: KEY: message` per problem;
//! * `validate`: checks across the whole file (references, duplicates, ranges, families);
//! * `bfd`: the BFD keys (`[bfd]`, per-peer `bfd`) and their resolution;
//! * `derive`: [`Config::peers`] (configured + mesh) and the bgp-core values built from them.

pub mod bfd;
mod derive;
mod errors;
mod schema;
mod validate;

use std::path::{Path, PathBuf};

pub use derive::{
    export_policy_name, family, parse_community, parse_large_community, peer_name, PeerCommon,
    PeerOrigin, PeerSpec,
};
pub use errors::{ConfigError, ConfigErrors};
pub use schema::*;

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (for reload and error messages); `None` when built from a string.
    pub path: Option<PathBuf>,
    /// The parsed content.
    pub file: ConfigFile,
}

impl Config {
    /// Reads, parses and validates `path`. Errors name the file, line, column and key.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::single(ConfigError {
                file: path.display().to_string(),
                line: 0,
                col: 0,
                key: "-".into(),
                message: format!("cannot read: {e}"),
            })
        })?;
        let mut c = Config::parse(&text, &path.display().to_string())?;
        c.path = Some(path.to_path_buf());
        Ok(c)
    }

    /// Parses and validates TOML text; `name` is used in error messages.
    pub fn parse(text: &str, name: &str) -> Result<Config, ConfigErrors> {
        let file: ConfigFile =
            toml::from_str(text).map_err(|e| ConfigErrors::from_toml(name, text, &e))?;
        let errs = validate::validate(&file, name, text);
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Config { path: None, file })
    }
}
