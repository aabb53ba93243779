//! `--check` on every file of config-examples/, and the error report format.

use std::path::PathBuf;

use bgpd::config::Config;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config-examples")
}

#[test]
fn every_example_checks() {
    let mut n = 0;
    for e in std::fs::read_dir(examples()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let c = Config::load(&p).unwrap_or_else(|e| panic!("{}:\n{e}", p.display()));
            let _ = c.peers();
            let _ = c.policies();
            n += 1;
        }
    }
    assert!(n >= 6, "expected the six examples, found {n}");
}

#[test]
fn examples_mean_what_they_say() {
    let c = Config::load(&examples().join("mesh.toml")).unwrap();
    let peers = c.peers();
    let names: Vec<_> = peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Mesh_10_0_0_2", "Mesh_10_0_0_3"]);
    // Calico: `passive on` towards peers with a greater address: 10.0.0.1 waits for both.
    assert!(peers.iter().all(|p| p.common.passive));
    let c = Config::parse(
        &std::fs::read_to_string(examples().join("mesh.toml"))
            .unwrap()
            .replace("router_id = \"10.0.0.1\"", "router_id = \"10.0.0.2\""),
        "mesh2",
    )
    .unwrap();
    let p = c.peers();
    assert_eq!(p.len(), 2);
    assert!(
        !p[0].common.passive,
        "10.0.0.1 < 10.0.0.2: we connect to it"
    );
    assert!(
        p[1].common.passive,
        "10.0.0.3 > 10.0.0.2: it connects to us"
    );

    let rr = Config::load(&examples().join("route-reflector.toml")).unwrap();
    let d = rr.dynamic_peer("10.0.0.33".parse().unwrap()).unwrap();
    assert_eq!(d.name, "Client_10_0_0_33");
    assert!(d.common.rr_client && d.common.passive);
    // A range's neighbours share one copy of its settings (issue 19: ~0.3 KB each).
    let d2 = rr.dynamic_peer("10.0.0.34".parse().unwrap()).unwrap();
    assert_eq!(d2.name, "Client_10_0_0_34");
    assert!(std::sync::Arc::ptr_eq(&d.common, &d2.common));
    assert!(rr.dynamic_peer("10.9.0.1".parse().unwrap()).is_none());
}

#[test]
fn errors_name_file_line_column_and_key() {
    let text = r#"router_id = "10.0.0.1"
asn = 64512

[[peers]]
name = "a"
address = "10.0.0.2"
asn = 64512
export = "nope"

[[peers]]
name = "a"
address = "10.0.0.2"
asn = 64512
hold_time = 2
"#;
    let e = Config::parse(text, "t.toml").unwrap_err().to_string();
    let lines: Vec<&str> = e.lines().collect();
    assert!(
        lines.contains(
            &"t.toml:8:10: peers[0].export: policy \"nope\" is not defined in [[policies]]"
        ),
        "{e}"
    );
    assert!(
        lines.contains(&"t.toml:11:8: peers[1].name: duplicate peer name \"a\""),
        "{e}"
    );
    assert!(
        lines.contains(&"t.toml:12:11: peers[1].address: duplicate peer address"),
        "{e}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("t.toml:14:13: peers[1].hold_time:")),
        "{e}"
    );

    let e = Config::parse("router_id = \"10.0.0.1\"\nasn = 1\nbogus = 3\n", "u.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("u.toml:3:1: bogus: unknown field `bogus`"),
        "{e}"
    );
    let e = Config::parse("router_id = \"10.0.0.1\"\nasn = \"x\"\n", "v.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("v.toml:2:7: asn: "), "{e}");
}
