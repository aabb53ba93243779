//! DOC: resolving a route protocol given by number or by name, as `ip route ... proto NAME`
//! does, from `/etc/iproute2/rt_protos` (and the `rt_protos.d/*.conf` drop-ins).

use std::path::Path;

/// The protocol names iproute2 knows without any file.
const BUILTIN: &[(&str, u8)] = &[
    ("unspec", 0),
    ("redirect", 1),
    ("kernel", 2),
    ("boot", 3),
    ("static", 4),
    ("bird", 12),
];

/// Parses `rt_protos` text: lines `NUMBER NAME`, `#` comments. Returns the number of `name`.
pub fn lookup_in(text: &str, name: &str) -> Option<u8> {
    text.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let mut it = line.split_whitespace();
        let num = it.next()?;
        let n = it.next()?;
        if n != name {
            return None;
        }
        match num.strip_prefix("0x") {
            Some(hex) => u8::from_str_radix(hex, 16).ok(),
            None => num.parse().ok(),
        }
    })
}

/// Resolves `spec` (a number such as `12`, or a name such as `bird`) to an `rtm_protocol`
/// using `/etc/iproute2/rt_protos` and `/etc/iproute2/rt_protos.d/*.conf`, then the builtin
/// names.
pub fn resolve(spec: &str) -> Option<u8> {
    resolve_with(Path::new("/etc/iproute2"), spec)
}

/// As `resolve`, with another iproute2 configuration directory.
pub fn resolve_with(dir: &Path, spec: &str) -> Option<u8> {
    let spec = spec.trim();
    if let Ok(n) = spec.parse::<u8>() {
        return Some(n);
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("rt_protos")) {
        if let Some(n) = lookup_in(&text, spec) {
            return Some(n);
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("rt_protos.d")) {
        for ent in rd.flatten() {
            if ent.path().extension().is_some_and(|e| e == "conf") {
                if let Ok(text) = std::fs::read_to_string(ent.path()) {
                    if let Some(n) = lookup_in(&text, spec) {
                        return Some(n);
                    }
                }
            }
        }
    }
    BUILTIN.iter().find(|(n, _)| *n == spec).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_numbers() {
        let t = "#\n# Reserved\n0\tunspec\n12\tbird # ours\n0x2a babel\n";
        assert_eq!(lookup_in(t, "bird"), Some(12));
        assert_eq!(lookup_in(t, "babel"), Some(42));
        assert_eq!(lookup_in(t, "zebra"), None);
        assert_eq!(resolve_with(Path::new("/nonexistent"), "12"), Some(12));
        assert_eq!(resolve_with(Path::new("/nonexistent"), "bird"), Some(12));
        assert_eq!(resolve_with(Path::new("/nonexistent"), "nope"), None);
        assert_eq!(resolve("bird"), Some(12));
    }
}
