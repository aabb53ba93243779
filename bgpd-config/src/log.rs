//! DOC: the log filter of `[log] level` and `RUST_LOG` (the daemon sets up its output with it).
//!
//! The filter is tracing-subscriber's [`Targets`]: comma-separated directives, each a level
//! (`info`), a target (`bgpd::daemon::peer`, every level) or `target=level`
//! (`bgpd::daemon::peer=debug`); a target covers every target that starts with it, and the
//! longest one decides. This is the subset of `RUST_LOG`'s syntax without span and
//! field filters (`target[span{field=value}]=level`) and without regular expressions, which
//! would cost the daemon a regex engine in its resident code (benches/README.md, idle).

use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};

/// The filter for `RUST_LOG` (when set and not empty: it overrides the configuration) and
/// `[log] level`, with a note for each of them that does not parse (the next one applies
/// then; `info` when neither does).
pub fn filter(rust_log: Option<&str>, level: &str) -> (Targets, Vec<String>) {
    let mut notes = Vec::new();
    let candidates = [("RUST_LOG", rust_log), ("[log] level", Some(level))];
    for (name, text) in candidates {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            continue;
        };
        // `Targets` would take `bgpd[peer]` for a target name that matches nothing.
        let parsed = if text.contains(['[', '{']) {
            Err("span and field filters ([span{field=value}]) are not supported".to_string())
        } else {
            Targets::from_str(text).map_err(|e| e.to_string())
        };
        match parsed {
            Ok(t) => return (t, notes),
            Err(e) => notes.push(format!("bgpd: {name} {text:?} is not a log filter: {e}")),
        }
    }
    (Targets::new().with_default(LevelFilter::INFO), notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(t: &Targets, target: &str, level: Level) -> bool {
        t.would_enable(target, &level)
    }

    #[test]
    fn rust_log_overrides_the_configured_level() {
        let (t, notes) = filter(Some("bgpd::daemon::peer=debug"), "warn");
        assert!(notes.is_empty());
        assert!(enabled(&t, "bgpd::daemon::peer", Level::DEBUG));
        assert!(enabled(&t, "bgpd::daemon::peer::conn", Level::DEBUG));
        assert!(!enabled(&t, "bgpd::daemon::peer", Level::TRACE));
        // Targets not named are off, as with RUST_LOG.
        assert!(!enabled(&t, "bgpd::daemon::rib", Level::ERROR));
    }

    #[test]
    fn the_documented_directives() {
        let (t, notes) = filter(None, "info");
        assert!(notes.is_empty());
        assert!(enabled(&t, "bgpd::daemon::rib", Level::INFO));
        assert!(!enabled(&t, "bgpd::daemon::rib", Level::DEBUG));
        // `[log] level = "bgpd=debug"` (docs/config.md), a default plus narrower targets.
        let (t, _) = filter(None, "bgpd=debug");
        assert!(enabled(&t, "bgpd::daemon::peer", Level::DEBUG));
        assert!(!enabled(&t, "bgp_fib", Level::ERROR));
        let (t, _) = filter(Some(" "), "warn,bgpd::daemon::peer=trace,bgp_fib=off");
        assert!(enabled(&t, "bgpd::daemon::peer", Level::TRACE));
        assert!(enabled(&t, "bgpd::daemon::rib", Level::WARN));
        assert!(!enabled(&t, "bgpd::daemon::rib", Level::INFO));
        assert!(!enabled(&t, "bgp_fib::thread", Level::ERROR));
        // Levels are case-insensitive; a bare target is every level.
        let (t, notes) = filter(Some("DEBUG,bgpd::daemon::rib"), "info");
        assert!(notes.is_empty());
        assert!(enabled(&t, "bgpd::daemon::rib", Level::TRACE));
        assert!(enabled(&t, "bgp_core", Level::DEBUG));
    }

    #[test]
    fn what_does_not_parse_falls_back_with_a_note() {
        // A span filter (EnvFilter's syntax, not ours), then a bad level: info, two notes.
        let (t, notes) = filter(Some("bgpd[peer{name=a}]=debug"), "bgpd=loud");
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].starts_with("bgpd: RUST_LOG "), "{notes:?}");
        assert!(
            notes[1].starts_with("bgpd: [log] level \"bgpd=loud\""),
            "{notes:?}"
        );
        assert!(enabled(&t, "bgpd::daemon::rib", Level::INFO));
        assert!(!enabled(&t, "bgpd::daemon::rib", Level::DEBUG));
        let (_, notes) = filter(Some("bgpd[peer]=debug"), "info");
        assert!(notes[0].contains("span and field filters"), "{notes:?}");
        // A bad RUST_LOG leaves the configuration's filter in force.
        let (t, notes) = filter(Some("bgpd=loud"), "debug");
        assert_eq!(notes.len(), 1);
        assert!(enabled(&t, "bgp_core", Level::DEBUG));
        // A bare word is a target (as in RUST_LOG), not an error: every level of `loud`.
        let (t, notes) = filter(None, "loud");
        assert!(notes.is_empty());
        assert!(enabled(&t, "loud", Level::TRACE));
        assert!(!enabled(&t, "bgpd", Level::ERROR));
    }
}
