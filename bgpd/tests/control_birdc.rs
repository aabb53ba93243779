//! BIRD's own client against our server: `birdc` 1.6.8 (`$BIRDC`, else
//! `/opt/bird16/usr/sbin/birdc`; the test fails, naming the Debian package, without it)
//! prints exactly what `bgpd` prints for the same commands.

mod control_common;

use std::path::PathBuf;
use std::process::Command;

use control_common::*;

fn birdc() -> PathBuf {
    let p = std::env::var_os("BIRDC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/bird16/usr/sbin/birdc"));
    assert!(
        p.exists(),
        "{} is missing: BIRD 1.6's birdc comes from the Debian package `bird` (1.6), unpacked \
         into /opt/bird16 (`apt-get download bird && dpkg-deb -x bird_*.deb /opt/bird16`; \
         scripts/test-all.sh does it), or set BIRDC",
        p.display()
    );
    p
}

#[test]
fn birdc_and_bgpd_print_the_same() {
    let birdc = birdc();
    let (sock, _rt) = start(Mock::fixture(), fixture_options(), "birdc");
    for cmd in [
        "show status",
        "show protocols",
        "show protocols all Mesh_172_30_0_12",
        "show protocols all Mesh_172_30_0_13",
        "show route",
        "show route all",
        "show route count",
    ] {
        let words: Vec<&str> = cmd.split(' ').collect();
        let theirs = Command::new(&birdc)
            .arg("-s")
            .arg(&sock)
            .args(&words)
            .output()
            .unwrap();
        let ours = Command::new(env!("CARGO_BIN_EXE_bgpd"))
            .arg("-s")
            .arg(&sock)
            .args(&words)
            .output()
            .unwrap();
        assert!(ours.status.success(), "{cmd}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{cmd}"
        );
    }
}
