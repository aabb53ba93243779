//! The control server against the byte-exact BIRD 1.6.8 transcript: a mock daemon holding the
//! transcript's state answers every recorded request, and the bytes are compared reply by
//! reply, greeting included (the version string is ours by design, see `bird_version`).

mod control_common;

use control_common::*;

/// (request, reply bytes) pairs of the transcript.
fn transcript() -> Vec<(String, String)> {
    let text = include_str!("fixtures/bird16-cli-transcript.txt");
    let mut out = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in text.split_inclusive('\n') {
        if let Some(req) = line.strip_prefix(">>> ") {
            cur = Some((req.trim_end().to_string(), String::new()));
        } else if line.trim_end() == "<<<" {
            out.push(cur.take().unwrap());
        } else if let Some((_, reply)) = cur.as_mut() {
            reply.push_str(line);
        }
    }
    out
}

/// Lines whose counters `status.rs` does not carry (BIRD's export route-change statistics):
/// compared by shape, not value.
fn export_stats_line(l: &str) -> bool {
    l.starts_with("     Export updates:") || l.starts_with("     Export withdraws:")
}

#[test]
fn replies_match_bird_1_6_8_byte_for_byte() {
    let mock = Mock::fixture();
    let (path, _rt) = start(mock.clone(), fixture_options(), "fixture");
    let pairs = transcript();
    assert_eq!(pairs.len(), 11);
    let shape = regex::Regex::new(r"^     Export (updates|withdraws):( +(\d+|---)){5}$").unwrap();
    for (req, expected) in pairs {
        // The transcript was taken over a few seconds: some `since` times moved on.
        *mock.protocols.lock().unwrap() = fixture_protocols();
        if req.starts_with("show protocols all") {
            let mut ps = mock.protocols.lock().unwrap();
            ps[0] = kernel1(at(1, 43));
            ps[4] = mesh12(at(1, 45));
            ps[5] = mesh13(at(1, 53));
        }
        let mut c = Client::connect(&path);
        let reply = c.ask(req.as_bytes());
        let got = format!("{}{}", c.greeting, reply);
        let expected = expected.replace(
            "0001 BIRD 1.6.8 ready.",
            &format!("0001 BIRD {} ready.", bgpd::control::bird::bird_version()),
        );
        let expected = expected.replace(
            "1000-BIRD 1.6.8",
            &format!("1000-BIRD {}", bgpd::control::bird::bird_version()),
        );
        let (g, e): (Vec<&str>, Vec<&str>) = (
            got.split_inclusive('\n').collect(),
            expected.split_inclusive('\n').collect(),
        );
        assert_eq!(
            g.len(),
            e.len(),
            "{req}:\n--- got\n{got}--- expected\n{expected}"
        );
        for (gl, el) in g.iter().zip(&e) {
            if export_stats_line(el) {
                assert!(shape.is_match(gl.trim_end_matches('\n')), "{req}: {gl:?}");
                assert_eq!(&gl[..25], &el[..25], "{req}");
            } else {
                assert_eq!(gl, el, "{req}:\n--- got\n{got}--- expected\n{expected}");
            }
        }
    }
}

#[test]
fn greeting_satisfies_calico_and_birdc() {
    let (path, _rt) = start(Mock::fixture(), fixture_options(), "greet");
    let c = Client::connect(&path);
    // birdcl strips "0001 " and calico's -bird-live wants the output to start with "BIRD".
    let text = c.greeting.strip_prefix("0001 ").unwrap();
    assert!(text.starts_with("BIRD v"));
    assert!(text.contains("BIRD") && text.trim_end().ends_with("ready."));
    assert!(!bgpd::control::bird::bird_version().contains(' '));
}
