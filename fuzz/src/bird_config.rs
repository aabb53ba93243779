//! `bird_config`: the BIRD configuration front-end never panics. The input is up to three
//! files separated by NUL bytes: the root `bird.cfg` and two files it may include (under the
//! names confd uses, `bird_aggr.cfg` / `bird_ipam.cfg`, their `bird6_` twins, and `a.cfg` /
//! `b.cfg`), so includes, cycles and depth are exercised. Both families are tried; an error
//! always names a file that was read and a position in it.

use std::path::{Path, PathBuf};

use bgpd::config::bird::{self, MemFiles};
use bgpd::config::{Config, FamilyName};

pub fn bird_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let mut files = MemFiles::default();
    let names: [&[&str]; 3] = [
        &["/c/bird.cfg"],
        &["/c/bird_aggr.cfg", "/c/bird6_aggr.cfg", "/c/a.cfg"],
        &["/c/bird_ipam.cfg", "/c/bird6_ipam.cfg", "/c/b.cfg"],
    ];
    for group in names {
        let Some(p) = parts.next() else { break };
        for n in group {
            files.0.insert(PathBuf::from(n), p.to_string());
        }
    }
    for family in [FamilyName::Ipv4, FamilyName::Ipv6] {
        match bird::load(Path::new("/c/bird.cfg"), &mut files.clone(), family) {
            Ok(l) => {
                let _ = Config::from_bird(l, family, "/c/bird.cfg");
            }
            Err(e) => {
                for err in &e.0 {
                    assert!(err.file.starts_with("/c/"), "{err}");
                    assert!(!err.message.is_empty());
                    let _ = bird::bird_message(err);
                }
            }
        }
    }
}
