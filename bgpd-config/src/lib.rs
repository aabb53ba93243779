//! DOC: bgpd's configuration, one model read from two languages. The TOML configuration: its schema (serde types, one per table), loading with
//! file/line/column error reports, validation (`bgpd --check`), and the derived values the
//! daemon runs on (session and RIB settings per peer, the mesh expanded into peers, policies
//! compiled into bgp-core's filter IR). Every key is documented in `docs/config.md`.
//!
//! * `schema`: the raw serde types (unknown keys are errors);
//! * `errors`: [`ConfigErrors`], `FILE:LINE:COL: KEY: message` per problem;
//! * `validate`: checks across the whole file (references, duplicates, ranges, families);
//! * `log`: the log filter of `[log] level` and `RUST_LOG` ([`log::filter`]);
//! * `bfd`: the BFD keys (`[bfd]`, per-peer `bfd`) and their resolution;
//! * `derive`: [`Config::peers`] (configured + mesh) and the bgp-core values built from them;
//! * `statics`: `[[static]]` as the RIB's static routes, the export filters with their
//!   communities' prelude;
//! * `kernel`: bgp-fib's settings (`Config::fib_config`) from `[kernel]` and `[[pools]]`;
//! * `fib`: the Loc-RIB as bgp-fib takes it (`fib::intent`, the tagged hand-off's state
//!   `fib::KernelSync`) and bgp-fib's events into the RIB (`Config::learn`);
//! * `reload`: what a reload changes ([`ReloadPlan`]: a [`PeerChange`] per running peer, the
//!   peers to start; the `[kernel]` keys that need a restart, the filters whose text changed);
//! * `listen`: the listeners a reload rebinds, their TCP-MD5 keys, what a connection from an
//!   address without a running peer becomes ([`Incoming`]);
//! * `bird`: the second front-end, BIRD 1.6's configuration language (`bird.cfg` as Calico's
//!   confd renders it), lowered onto the same [`ConfigFile`]; `docs/bird-config.md`.
//!
//! Which front-end reads a file ([`Config::load`]): a name ending in `.toml` is TOML, any other
//! BIRD syntax, unless [`LoadOptions::format`] forces one.
//!
//! A crate of its own (the daemon re-exports it as `bgpd::config`): it needs no runtime, so
//! tools and tests check or build configurations without the daemon (`bgpd -p` is a call of
//! [`Config::load`]), and the daemon crate stays the driver.

pub mod bfd;
pub mod bird;
mod derive;
mod errors;
pub mod fib;
mod kernel;
mod listen;
pub mod log;
mod policy;
mod reload;
mod schema;
mod statics;
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
pub use listen::{Incoming, ListenerKey, Rebind};
pub use reload::{KeptPeer, PeerChange, ReloadPlan};
pub use schema::*;

/// The configuration languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// bgpd's TOML (`docs/config.md`).
    Toml,
    /// BIRD 1.6's language (`docs/bird-config.md`).
    Bird,
}

impl ConfigFormat {
    /// The front-end a file name selects: `.toml` is TOML, anything else BIRD.
    pub fn of_path(path: &Path) -> ConfigFormat {
        if path.extension().is_some_and(|e| e == "toml") {
            ConfigFormat::Toml
        } else {
            ConfigFormat::Bird
        }
    }
}

impl std::str::FromStr for ConfigFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "toml" => Ok(ConfigFormat::Toml),
            "bird" => Ok(ConfigFormat::Bird),
            _ => Err(format!("unknown config format {s:?} (toml or bird)")),
        }
    }
}

/// How [`Config::load_with`] reads a file; kept in the [`Config`] so a reload reads the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// Force a front-end (`--config-format`); `None`: by the file name.
    pub format: Option<ConfigFormat>,
    /// The address family the daemon handles (`--family`; a BIRD 1.6 daemon handles one).
    /// `None`: TOML handles both, BIRD syntax IPv4 (as `bird`; `bird6` passes IPv6).
    pub family: Option<FamilyName>,
}

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
    /// How it was read (a reload reads the same way).
    pub load: LoadOptions,
    /// The front-end that read it.
    pub format: ConfigFormat,
    /// The only address family handled, when restricted (BIRD syntax: always).
    pub family: Option<FamilyName>,
    /// The protocols as BIRD names them (BIRD syntax: `kernel1`, `device1`, `direct1`,
    /// `static1`, the BGP protocols...); empty for TOML.
    pub protocols: Vec<bird::ProtoInfo>,
    /// The router ID was chosen from the host's interfaces (BIRD syntax without `router id`);
    /// a reload keeps it, as BIRD does.
    pub router_id_auto: bool,
}

impl Config {
    /// Reads, parses and validates `path`, choosing the front-end by its name. Errors name the
    /// file, line, column and key (or construct).
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::load_with(path, LoadOptions::default())
    }

    /// Reads `path` again the way this configuration was read (SIGHUP, `bgpd reload`).
    pub fn reread(&self, path: &Path) -> Result<Config, ConfigErrors> {
        let mut c = Config::load_with(path, self.load)?;
        if c.router_id_auto && self.router_id_auto {
            // BIRD 1.6 (`global_commit`): a configuration without `router id` keeps the old one.
            c.file.router_id = self.file.router_id.clone();
        }
        Ok(c)
    }

    /// [`Config::load`] with a forced front-end and/or family.
    pub fn load_with(path: &Path, opts: LoadOptions) -> Result<Config, ConfigErrors> {
        let format = opts.format.unwrap_or_else(|| ConfigFormat::of_path(path));
        let mut c = match format {
            ConfigFormat::Toml => Config::load_toml(path)?,
            ConfigFormat::Bird => {
                let family = opts.family.unwrap_or(FamilyName::Ipv4);
                let l = bird::load(path, &mut bird::Fs, family)?;
                Config::from_bird(l, family, &path.display().to_string())?
            }
        };
        if format == ConfigFormat::Toml {
            if let Some(f) = opts.family {
                c.restrict_family(f);
            }
        }
        c.path = Some(path.to_path_buf());
        c.load = opts;
        Ok(c)
    }

    /// A configuration from the lowered BIRD tree (checked like any front-end's; `name`: the
    /// root file, for messages).
    pub fn from_bird(
        mut l: bird::Lowered,
        family: FamilyName,
        name: &str,
    ) -> Result<Config, ConfigErrors> {
        if l.router_id_auto {
            let addrs = bird::host_addresses();
            // BIRD 1.6's IPv6 build cannot choose one ("Cannot determine router ID").
            let chosen = (family == FamilyName::Ipv4)
                .then(|| bird::router_id_from(&addrs))
                .flatten();
            let Some((id, iface)) = chosen else {
                return Err(ConfigErrors::single(ConfigError {
                    file: name.to_string(),
                    line: 0,
                    col: 0,
                    key: "bird".into(),
                    message: "Cannot determine router ID, please configure it manually".into(),
                }));
            };
            tracing::info!(router_id = %id, %iface, "Chosen router ID according to interface");
            l.file.router_id = serde_spanned::Spanned::new(0..0, id);
        }
        let auto = l.router_id_auto;
        let mut c = Config::from_parts(l.file, l.compiled, name, "")?;
        c.router_id_auto = auto;
        c.format = ConfigFormat::Bird;
        c.family = Some(family);
        c.protocols = l.protocols;
        Ok(c)
    }

    /// Handles only `f`: peers keep only that family, listeners only its wildcard address.
    fn restrict_family(&mut self, f: FamilyName) {
        self.family = Some(f);
        let want_v4 = f == FamilyName::Ipv4;
        self.file
            .listen
            .addresses
            .retain(|a| a.is_ipv4() == want_v4);
        for p in &mut self.file.peers {
            let fams = p.families.get_mut();
            fams.retain(|x| *x == f);
        }
    }

    fn load_toml(path: &Path) -> Result<Config, ConfigErrors> {
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
            load: LoadOptions::default(),
            format: ConfigFormat::Toml,
            family: None,
            protocols: Vec::new(),
            router_id_auto: false,
        })
    }
}

/// A TOML configuration of router id 10.0.0.1 and AS 64512 followed by `text` (tests).
#[cfg(test)]
pub(crate) fn test_config(text: &str) -> Config {
    #[allow(clippy::unwrap_used)]
    Config::parse(
        &format!("router_id = \"10.0.0.1\"\nasn = 64512\n{text}"),
        "t",
    )
    .unwrap()
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

    #[test]
    fn peer_gateway_and_graceful_restart_keys() {
        let base = "router_id = \"10.0.0.1\"\nasn = 64512\n[[peers]]\nname = \"a\"\naddress = \"10.0.0.2\"\nasn = 65001\n";
        let c = Config::parse(
            &format!("{base}gateway = \"direct\"\ngraceful_restart = \"aware\"\n"),
            "t",
        )
        .unwrap();
        let p = &c.peers()[0];
        assert_eq!(p.common.gateway, GatewayMode::Direct);
        assert_eq!(p.common.graceful_restart, Some(PeerGracefulRestart::Aware));
        let e = Config::parse(&format!("{base}gateway = \"direct\"\nmultihop = 2\n"), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("peers[0].gateway"), "{e}");
        let e = Config::parse(&format!("{base}graceful_restart = \"maybe\"\n"), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("graceful_restart"), "{e}");
    }

    #[test]
    fn kernel_nexthop_objects_key() {
        let base = "router_id = \"10.0.0.1\"\nasn = 64512\n[kernel]\n";
        let mode = |v: &str| {
            Config::parse(&format!("{base}{v}"), "t").map(|c| c.file.kernel.nexthop_objects)
        };
        assert_eq!(mode("").unwrap(), NexthopObjectsMode::Auto);
        assert_eq!(
            mode("nexthop_objects = \"on\"\n").unwrap(),
            NexthopObjectsMode::On
        );
        assert_eq!(
            mode("nexthop_objects = \"off\"\n").unwrap(),
            NexthopObjectsMode::Off
        );
        let e = mode("nexthop_objects = \"yes\"\n").unwrap_err().to_string();
        assert!(e.contains("nexthop_objects") || e.contains(":4:"), "{e}");
    }
}
