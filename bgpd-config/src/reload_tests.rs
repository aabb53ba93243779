//! What a reload changes, from pairs of configuration texts.

use super::*;

use crate::test_config as cfg;

fn peer(extra: &str) -> String {
    format!("[[peers]]\nname = \"a\"\naddress = \"10.0.0.2\"\nasn = 65001\n{extra}")
}

const POLICY_A: &str =
    "[[policies]]\nname = \"in\"\ndefault = \"accept\"\n  [[policies.terms]]\n  match = { prefix = [\"10.0.0.0/8+\"] }\n  verdict = \"reject\"\n";
const POLICY_B: &str =
    "[[policies]]\nname = \"in\"\ndefault = \"accept\"\n  [[policies.terms]]\n  match = { prefix = [\"10.1.0.0/16+\"] }\n  verdict = \"reject\"\n";

/// The change for the one running peer of `old` when `new` is applied.
fn change(old: &str, new: &str) -> PeerChange {
    let (o, n) = (cfg(old), cfg(new));
    let spec = o.peers().remove(0);
    o.peer_change(&n, &spec, o.identity_changed(&n), &o.changed_policies(&n))
}

fn kept(c: PeerChange) -> KeptPeer {
    match c {
        PeerChange::Keep(k) => k,
        c => panic!("{c:?}"),
    }
}

#[test]
fn session_settings_reset_the_session_and_others_keep_it() {
    assert!(matches!(
        change(&peer(""), &peer("hold_time = 30\n")),
        PeerChange::Reset(w) if w.common.hold_time == Some(30)
    ));
    // As in BIRD: the routes' kernel next hops are resolved anew with the session's routes.
    assert!(matches!(
        change(&peer(""), &peer("gateway = \"direct\"\n")),
        PeerChange::Reset(w) if w.common.gateway == crate::GatewayMode::Direct
    ));
    let k = kept(change(&peer(""), &peer("description = \"tor\"\n")));
    assert_eq!(k.spec.common.description.as_deref(), Some("tor"));
    assert!(!k.import_changed && !k.bfd_changed && k.admin().is_none());
}

#[test]
fn a_peer_gone_is_removed_and_a_new_identity_resets_every_session() {
    let other = "[[peers]]\nname = \"b\"\naddress = \"10.0.0.3\"\nasn = 65001\n";
    assert_eq!(change(&peer(""), other), PeerChange::Remove);
    let (o, n) = (
        cfg(&peer("")),
        Config::parse(
            &format!("router_id = \"10.0.0.9\"\nasn = 64512\n{}", peer("")),
            "t",
        )
        .unwrap(),
    );
    assert!(o.identity_changed(&n));
    let spec = o.peers().remove(0);
    assert!(matches!(
        o.peer_change(&n, &spec, true, &[]),
        PeerChange::Reset(_)
    ));
}

#[test]
fn an_import_filter_renamed_or_rewritten_refilters_the_peer() {
    let with = |p: &str| format!("{}{p}", peer("import = \"in\"\n"));
    let k = kept(change(&peer(""), &with(POLICY_A)));
    assert!(k.import_changed);
    // Same name, other text.
    let (o, n) = (cfg(&with(POLICY_A)), cfg(&with(POLICY_B)));
    // The filter and the export wrapper built on it.
    let changed = o.changed_policies(&n);
    assert!(changed.contains(&"in".to_string()), "{changed:?}");
    assert!(kept(change(&with(POLICY_A), &with(POLICY_B))).import_changed);
    // Same text: nothing to do.
    assert!(cfg(&with(POLICY_A))
        .changed_policies(&cfg(&with(POLICY_A)))
        .is_empty());
    assert!(!kept(change(&with(POLICY_A), &with(POLICY_A))).import_changed);
}

#[test]
fn bfd_and_disabled_changes_keep_the_session() {
    let k = kept(change(&peer(""), &peer("bfd = true\n")));
    assert!(k.bfd_changed);
    let k = kept(change(&peer(""), &peer("disabled = true\n")));
    assert_eq!(k.enable, Some(false));
    assert_eq!(
        k.admin(),
        Some(Admin::Disable("disabled by configuration".into()))
    );
    let k = kept(change(&peer("disabled = true\n"), &peer("")));
    assert_eq!(k.enable, Some(true));
    assert_eq!(k.admin(), Some(Admin::Enable));
}

#[test]
fn kernel_keys_changed_require_a_restart() {
    let (o, n) = (
        cfg("[kernel]\ntable = 254\n"),
        cfg("[kernel]\ntable = 100\nlearn = true\n"),
    );
    assert_eq!(o.restart_required(&n), ["table", "learn"]);
    assert!(o.restart_required(&o).is_empty());
    let n = cfg("[kernel]\ntable = 254\nnexthop_objects = \"off\"\n");
    assert_eq!(o.restart_required(&n), ["nexthop_objects"]);
    assert!(!Config::kernel_import_changed(&n, &["in".to_string()]));
}

#[test]
fn a_plan_changes_the_running_peers_and_starts_the_new_ones() {
    let b = "[[peers]]\nname = \"b\"\naddress = \"10.0.0.3\"\nasn = 65001\n";
    let range = "[[peer_ranges]]\nname = \"r\"\nprefix = \"10.1.0.0/16\"\nasn = 65002\n";
    let import = "[kernel]\nimport = \"in\"\n";
    let o = cfg(&format!("{}{range}{import}{POLICY_A}", peer("")));
    let n = cfg(&format!(
        "{}{b}{import}{POLICY_B}",
        peer("hold_time = 30\n")
    ));
    let dynamic = o.dynamic_peer("10.1.0.5".parse().unwrap()).unwrap();
    let running = [o.peers().remove(0), dynamic];
    let plan = o.reload_plan(&n, &running);
    assert!(!plan.identity);
    assert!(plan.reimport_kernel);
    assert!(matches!(plan.peers[0], PeerChange::Reset(_)));
    assert_eq!(plan.peers[1], PeerChange::Remove, "its range is gone");
    let spawn: Vec<_> = plan.spawn.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(spawn, ["b"]);
    let same = o.reload_plan(&o, &running);
    assert!(!same.reimport_kernel && same.spawn.is_empty());
    assert!(matches!(same.peers[1], PeerChange::Keep(_)));
}

#[test]
fn the_rib_gets_the_new_settings_of_kept_and_reset_configured_peers() {
    let range = "[[peer_ranges]]\nname = \"r\"\nprefix = \"10.1.0.0/16\"\nasn = 65002\n";
    let (o, n) = (
        cfg(&format!("{}{range}", peer(""))),
        cfg(&format!("{}{range}", peer("hold_time = 30\n"))),
    );
    let spec = o.peers().remove(0);
    let local: std::net::IpAddr = "10.0.0.7".parse().unwrap();
    let reset = o.peer_change(&n, &spec, false, &[]);
    let pc = n.rib_peer_config_after(&reset, &spec, Some(local)).unwrap();
    assert_eq!(pc, n.rib_peer_config(&n.peers().remove(0)));
    let keep = o.peer_change(&o, &spec, false, &[]);
    let pc = o.rib_peer_config_after(&keep, &spec, Some(local)).unwrap();
    assert_eq!(pc, o.rib_peer_config_on(&spec, Some(local)));
    assert_ne!(
        pc,
        o.rib_peer_config_on(&spec, None),
        "the session's address is kept"
    );
    assert_eq!(
        o.rib_peer_config_after(&PeerChange::Remove, &spec, None),
        None
    );
    let dynamic = o.dynamic_peer("10.1.0.5".parse().unwrap()).unwrap();
    let reset = PeerChange::Reset(dynamic.clone());
    assert_eq!(n.rib_peer_config_after(&reset, &dynamic, None), None);
}
