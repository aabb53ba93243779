//! `xtask hot-symbols [--any-hash] [BINARY]`: how much of `bgpd/hot-symbols.txt` (the idle
//! path's functions, linked first in release builds: `bgpd/build.rs`, docs/memory.md) a built
//! bgpd still holds. The list is of mangled names, whose hashes change with the toolchain, the
//! dependency versions and the build settings; the linker skips a name it does not find, so a
//! stale list goes unnoticed (the layout degrades, resident memory grows).
//!
//! Names are compared as functions: demangled (binutils' `c++filt`), without their hash
//! (`::h0123456789abcdef`), crate disambiguators (`std[0123456789abcdef]`) and LTO suffixes
//! (`.llvm.123`, `.45`), so that the list's 1,200-odd names (two builds' worth) are ~230
//! functions.
//!
//! * On a release binary (the default, `target/release/bgpd`): the share of the listed
//!   functions whose exact listed name the binary has, i.e. that the linker places first.
//!   Below [`MIN_SHARE`] the list is stale (a toolchain or dependency update: regenerate it with
//!   `scripts/hot-symbols.sh`).
//! * `--any-hash`, on any build (CI's dev build: its hashes differ from a release build's, so
//!   exact names cannot be compared there): the share of the listed functions the binary has
//!   under any hash. Functions renamed, moved or deleted fail it: all listed functions below
//!   [`MIN_SHARE`], or this workspace's own below [`MIN_WORKSPACE_SHARE`].
//!
//! Self-contained (std only, `nm` and `c++filt` from binutils): bgpd's test
//! `bgpd/tests/hot_symbols.rs` includes this file to run the `--any-hash` check on the binary it
//! was built with.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Least share of the listed functions that must be found.
pub const MIN_SHARE: f64 = 0.90;
/// Least share of the listed functions of this workspace's crates found by name.
pub const MIN_WORKSPACE_SHARE: f64 = 0.95;
/// This workspace's crates, as they appear in demangled paths.
const WORKSPACE_CRATES: &[&str] = &["bgpd", "bgp_core", "bgp_fib", "bgpd_control", "bgpd_config"];

/// How the listed functions were found in a binary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// Distinct functions of the list.
    pub functions: usize,
    /// Of which the binary has one of the exact listed names.
    pub exact: usize,
    /// Of which the binary has a symbol of the same function (any hash).
    pub by_name: usize,
    /// Functions of this workspace's crates in the list, and of those found by name.
    pub workspace: usize,
    pub workspace_by_name: usize,
    /// Functions not found under any name, sorted.
    pub missing: Vec<String>,
}

impl Coverage {
    fn share(n: usize, of: usize) -> f64 {
        if of == 0 {
            1.0
        } else {
            n as f64 / of as f64
        }
    }

    /// Whether the list is fresh enough for this binary: `exact` for a release binary,
    /// otherwise by name.
    pub fn verdict(&self, exact: bool) -> Result<(), String> {
        if Self::share(self.workspace_by_name, self.workspace) < MIN_WORKSPACE_SHARE {
            return Err(format!(
                "only {} of the {} workspace functions of bgpd/hot-symbols.txt are in the binary \
                 (at least {:.0}% wanted; renamed or gone: {:?}): regenerate the list \
                 (scripts/hot-symbols.sh, docs/memory.md)",
                self.workspace_by_name,
                self.workspace,
                MIN_WORKSPACE_SHARE * 100.0,
                self.missing
                    .iter()
                    .filter(|f| is_workspace(f))
                    .collect::<Vec<_>>()
            ));
        }
        let found = if exact { self.exact } else { self.by_name };
        let what = if exact {
            "by their exact listed names (the linker orders only those)"
        } else {
            "under any hash"
        };
        if Self::share(found, self.functions) < MIN_SHARE {
            return Err(format!(
                "only {found} of the {} functions of bgpd/hot-symbols.txt are in the binary {what} \
                 (at least {:.0}% wanted): regenerate the list (scripts/hot-symbols.sh, docs/memory.md){}",
                self.functions,
                MIN_SHARE * 100.0,
                if exact {
                    "; a dev build's names differ from a release build's: --any-hash for it"
                } else {
                    ""
                }
            ));
        }
        Ok(())
    }

    /// One line per figure, for people.
    pub fn report(&self) -> String {
        let pct = |n: usize, of: usize| 100.0 * Self::share(n, of);
        let mut s = format!(
            "{} listed functions: {} ({:.1}%) by exact name, {} ({:.1}%) under any hash; \
             workspace functions {}/{} under any hash\n",
            self.functions,
            self.exact,
            pct(self.exact, self.functions),
            self.by_name,
            pct(self.by_name, self.functions),
            self.workspace_by_name,
            self.workspace,
        );
        for m in &self.missing {
            s.push_str(&format!("  missing: {m}\n"));
        }
        s
    }
}

/// The names of the list: its lines without comments and blanks.
pub fn listed(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// A mangled name without the suffixes LTO and LLVM add (`.llvm.123`, `.45`).
fn strip_suffixes(mut name: &str) -> &str {
    loop {
        let Some((head, tail)) = name.rsplit_once('.') else {
            return name;
        };
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            name = head.strip_suffix(".llvm").unwrap_or(head);
        } else {
            return name;
        }
    }
}

/// A demangled name as a function: without the legacy hash (`::h` and 16 hex digits at the
/// end) and v0 crate disambiguators (`[` hex `]`).
pub fn function_key(demangled: &str) -> String {
    let mut s = demangled;
    if let Some((head, hash)) = s.rsplit_once("::h") {
        if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            s = head;
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some((head, tail)) = rest.split_once('[') {
        out.push_str(head);
        match tail.split_once(']') {
            Some((inner, after))
                if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                rest = after;
            }
            _ => {
                out.push('[');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether a function's path names one of this workspace's crates (`bgp_core::...`, also as
/// a type or generic argument: `drop_in_place<bgpd::control::Conn>`).
fn is_workspace(function: &str) -> bool {
    function
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .any(|path| {
            WORKSPACE_CRATES
                .iter()
                .any(|c| path.strip_prefix(c).is_some_and(|r| r.starts_with("::")))
        })
}

/// Compares the list (`listed` names with their `listed_keys`) with a binary's symbols (its
/// exact `names` and their function `keys`).
pub fn coverage(
    listed: &[String],
    listed_keys: &[String],
    names: &HashSet<String>,
    keys: &HashSet<String>,
) -> Coverage {
    let mut by_function: HashMap<&str, Vec<&str>> = HashMap::new();
    for (n, k) in listed.iter().zip(listed_keys) {
        by_function.entry(k.as_str()).or_default().push(n.as_str());
    }
    let mut c = Coverage {
        functions: by_function.len(),
        ..Coverage::default()
    };
    for (f, ns) in &by_function {
        let exact = ns.iter().any(|n| names.contains(*n));
        let found = exact || keys.contains(*f);
        c.exact += usize::from(exact);
        c.by_name += usize::from(found);
        if is_workspace(f) {
            c.workspace += 1;
            c.workspace_by_name += usize::from(found);
        }
        if !found {
            c.missing.push((*f).to_string());
        }
    }
    c.missing.sort();
    c
}

/// The defined symbols of `binary` (`nm --defined-only`).
pub fn symbols(binary: &Path) -> Result<Vec<String>, String> {
    let out = Command::new("nm")
        .args(["--defined-only", "--format=posix"])
        .arg(binary)
        .output()
        .map_err(|e| format!("nm (binutils): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "nm {}: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// The function keys of mangled names, in order (`c++filt`, one line in, one line out).
pub fn function_keys(names: &[String]) -> Result<Vec<String>, String> {
    let mut child = Command::new("c++filt")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("c++filt (binutils): {e}"))?;
    let input: String = names
        .iter()
        .map(|n| format!("{}\n", strip_suffixes(n)))
        .collect();
    let mut stdin = child.stdin.take().ok_or("c++filt: no stdin")?;
    // Written from a thread: c++filt answers line by line and would fill its pipe.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("c++filt: {e}"))?;
    writer
        .join()
        .map_err(|_| "c++filt: writer panicked".to_string())?
        .map_err(|e| format!("c++filt: {e}"))?;
    let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(function_key)
        .collect();
    if keys.len() != names.len() {
        return Err(format!(
            "c++filt: {} lines for {} names",
            keys.len(),
            names.len()
        ));
    }
    Ok(keys)
}

/// The list at `list` against `binary`.
pub fn check(list: &Path, binary: &Path) -> Result<Coverage, String> {
    let text = std::fs::read_to_string(list).map_err(|e| format!("{}: {e}", list.display()))?;
    let listed = listed(&text);
    let names = symbols(binary)?;
    let mut all = listed.clone();
    all.extend(names.iter().cloned());
    let mut keys = function_keys(&all)?;
    let binary_keys: HashSet<String> = keys.split_off(listed.len()).into_iter().collect();
    let names: HashSet<String> = names.into_iter().collect();
    Ok(coverage(&listed, &keys, &names, &binary_keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_keys_drop_hashes_disambiguators_and_suffixes() {
        assert_eq!(
            function_key("bgpd::control::Conn::request::{{closure}}::h8ea50e5997851314"),
            "bgpd::control::Conn::request::{{closure}}"
        );
        assert_eq!(
            function_key("<std[e28293b1aa0f68bd]::io::error::Error>::kind"),
            "<std::io::error::Error>::kind"
        );
        // Not a hash: kept.
        assert_eq!(function_key("a::hello"), "a::hello");
        assert_eq!(function_key("x[T]::y[]"), "x[T]::y[]");
        assert_eq!(
            strip_suffixes("_ZN1a1b17h0123456789abcdefE.llvm.123"),
            "_ZN1a1b17h0123456789abcdefE"
        );
        assert_eq!(strip_suffixes("_RNvNtCs1_3std1a.45"), "_RNvNtCs1_3std1a");
        assert_eq!(
            strip_suffixes("_ZN11bgpd_config..Config"),
            "_ZN11bgpd_config..Config"
        );
    }

    #[test]
    fn coverage_counts_functions_once_and_workspace_apart() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // Two builds' names of one function, one of another, one of a workspace function.
        let listed = s(&["a1", "a2", "b1", "w1"]);
        let keys = s(&[
            "core::a",
            "core::a",
            "core::b",
            "bgp_core::peer::Peer::collect",
        ]);
        let set = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<HashSet<_>>();
        assert!(is_workspace(
            "core::ptr::drop_in_place<bgpd::control::Conn>"
        ));
        assert!(!is_workspace("xbgpd::a") && !is_workspace("core::a"));
        // A release build with the second build's name of `a` and `w` under a new hash.
        let c = coverage(
            &listed,
            &keys,
            &set(&["a2", "w9"]),
            &set(&["core::a", "bgp_core::peer::Peer::collect"]),
        );
        assert_eq!((c.functions, c.exact, c.by_name), (3, 1, 2));
        assert_eq!((c.workspace, c.workspace_by_name), (1, 1));
        assert_eq!(c.missing, ["core::b"]);
        assert!(c.verdict(true).is_err());
        assert!(c.verdict(false).is_err());
        // Everything by name, nothing exact: a dev build passes by name, not exactly.
        let c = coverage(
            &listed,
            &keys,
            &set(&[]),
            &set(&["core::a", "core::b", "bgp_core::peer::Peer::collect"]),
        );
        assert!(c.verdict(false).is_ok());
        assert!(c.verdict(true).is_err());
        // The workspace function renamed: fails by name.
        let c = coverage(&listed, &keys, &set(&[]), &set(&["core::a", "core::b"]));
        assert!(c.verdict(false).unwrap_err().contains("Peer::collect"));
    }
}
