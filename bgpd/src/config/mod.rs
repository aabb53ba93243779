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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bgp_core::filter::Filter;

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
    /// Filters compiled by a front-end (BIRD's `filter NAME { ... }` and inline filters), by
    /// name. Peers' `import`/`export` and the kernel's `export` refer to them exactly as to
    /// TOML `[[policies]]` names (a name must not be both). Empty for TOML files.
    pub filters: BTreeMap<String, Arc<Filter>>,
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
        Config::from_parts(file, BTreeMap::new(), name, text)
    }

    /// Validates a configuration built by a front-end: `file` with the compiled `filters` it
    /// refers to by name. `name` and `text` are used in error messages (spans in `file` index
    /// into `text`; pass `""` when they index nothing).
    pub fn from_parts(
        file: ConfigFile,
        filters: BTreeMap<String, Arc<Filter>>,
        name: &str,
        text: &str,
    ) -> Result<Config, ConfigErrors> {
        let errs = validate::validate(&file, &filters, name, text);
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Config {
            path: None,
            file,
            filters,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"router_id = "10.0.0.1"
asn = 64512
[kernel]
export = "kernel_out"
[[peers]]
name = "a"
address = "10.0.0.2"
asn = 64512
import = "bird_in"
export = "nope"
"#;

    #[test]
    fn front_end_filters_are_valid_references() {
        let file: ConfigFile = toml::from_str(TEXT).unwrap();
        let mut filters = BTreeMap::new();
        for n in ["kernel_out", "bird_in"] {
            filters.insert(n.to_string(), Arc::new(Filter::accept_all()));
        }
        let e = Config::from_parts(file.clone(), filters.clone(), "t", TEXT)
            .unwrap_err()
            .to_string();
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("peers[0].export: policy \"nope\""), "{e}");
        filters.insert("nope".into(), Arc::new(Filter::reject_all()));
        let c = Config::from_parts(file, filters, "t", TEXT).unwrap();
        assert_eq!(c.filters.len(), 3);
        // A TOML file has none, and then the names are errors.
        let e = Config::parse(TEXT, "t").unwrap_err().to_string();
        assert_eq!(e.lines().count(), 3, "{e}");
    }
}
