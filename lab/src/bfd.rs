//! BFD session states as each daemon reports them through its own interface, for the BFD
//! tests (`lab/tests/bfd.rs`) and the BFD figures (`benches/src/bin/bfd_figures.rs`):
//! bgpd's `show bfd sessions --json`, BIRD 2's `birdc show bfd sessions`, FRR's `show bfd
//! peers json`.

use serde_json::Value;

use crate::{Bgpd, Bird, Frr, Result};

/// bgpd's sessions: (address, state, the whole JSON object).
pub fn bgpd_sessions(b: &Bgpd) -> Result<Vec<(String, String, Value)>> {
    let out = b.cli(&["show", "bfd", "sessions", "--json"])?;
    let v: Value = serde_json::from_str(&out)?;
    Ok(v["bfd_sessions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            (
                s["address"].as_str().unwrap_or("").to_string(),
                s["state"].as_str().unwrap_or("").to_string(),
                s,
            )
        })
        .collect())
}

/// bgpd's state of the session to `addr` (`Up`, `Down`, `Init`, `AdminDown`), or `none`.
pub fn bgpd_state(b: &Bgpd, addr: &str) -> Result<String> {
    Ok(bgpd_sessions(b)?
        .into_iter()
        .find(|(a, _, _)| a == addr)
        .map_or_else(|| "none".to_string(), |(_, s, _)| s))
}

/// BIRD's state of the session to `addr` (`Up`, `Down`, `Init`, `AdminDown`), or `none`.
pub fn bird_state(b: &Bird, addr: &str) -> Result<String> {
    let out = b.ctl.cmd("show bfd sessions")?;
    Ok(out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(addr))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("none")
        .to_string())
}

/// FRR's state of its BFD peer `addr`: `up`, `down`, `init`, `shutdown`, or `none`.
pub fn frr_state(f: &Frr, addr: &str) -> Result<String> {
    let v = f.json("show bfd peers json")?;
    Ok(v.as_array()
        .and_then(|a| a.iter().find(|p| p["peer"].as_str() == Some(addr)))
        .and_then(|p| p["status"].as_str())
        .unwrap_or("none")
        .to_string())
}
