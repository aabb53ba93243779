//! DOC: reload (SIGHUP, `bgpd reload`, `Handle::reload`): diff the running and the new
//! configuration by peer name and apply it without touching sessions whose settings did not
//! change. Added peers start, removed ones stop with Cease 6/3, peers whose session settings
//! changed reset with Cease 6/6; policy-only changes go to the RIB (`set_peer_config`, the new
//! filters) and take effect through the stored Adj-RIB-In (`reimport`) or a ROUTE-REFRESH, and
//! `refresh_export`.
//!
//! Daemon-wide settings: `listen` changes rebind the listeners live (kept addresses keep their
//! socket; a bind error refuses the reload); an `asn` or `router_id` change resets every session
//! with the new identity (as BIRD restarts its protocols). `[kernel]` is read once at start-up
//! (FIB thread, which filters it names), so a reload that changes it is refused, with an error
//! saying a restart is required, before anything changes ([`check`]); a new text of the kernel
//! filters themselves applies (the RIB hands every route to the FIB again, `Rib::set_policy`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use bgp_core::rib::SourceId;

use super::peer::{self, PeerCmd};
use super::rib::RibMsg;
use super::{listener, lock, PeerHandle, Shared};
use crate::config::Kernel;
use crate::config::{Config, PeerSpec};
use crate::status::ControlError;

/// Whether two specs differ in what the session itself uses (so it must be reset).
fn session_changed(a: &PeerSpec, b: &PeerSpec) -> bool {
    let (x, y) = (&a.common, &b.common);
    a.address != b.address
        || a.asn != b.asn
        || x.port != y.port
        || x.passive != y.passive
        || x.password != y.password
        || x.multihop != y.multihop
        || x.ttl_security != y.ttl_security
        || x.source_address != y.source_address
        || x.hold_time != y.hold_time
        || x.keepalive_time != y.keepalive_time
        || x.add_path != y.add_path
        || x.graceful_restart_time != y.graceful_restart_time
        || x.max_prefixes != y.max_prefixes
        || x.families != y.families
        || x.next_hop_v6 != y.next_hop_v6
        || x.local_asn != y.local_asn
        || x.connect_delay_time != y.connect_delay_time
        || x.connect_retry_time != y.connect_retry_time
        || x.error_wait_time != y.error_wait_time
}

/// The `[kernel]` keys that differ between `a` and `b`.
fn kernel_changes(a: &Kernel, b: &Kernel) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut diff = |changed: bool, key: &'static str| {
        if changed {
            v.push(key);
        }
    };
    diff(a.enabled != b.enabled, "enabled");
    diff(a.protocol.get_ref() != b.protocol.get_ref(), "protocol");
    diff(a.table != b.table, "table");
    diff(a.metric != b.metric, "metric");
    diff(a.learn != b.learn, "learn");
    diff(a.persist != b.persist, "persist");
    diff(
        a.scan_interval.get_ref() != b.scan_interval.get_ref(),
        "scan_interval",
    );
    diff(a.ecmp_max.get_ref() != b.ecmp_max.get_ref(), "ecmp_max");
    diff(a.tunnel_device != b.tunnel_device, "tunnel_device");
    diff(a.nexthop_objects != b.nexthop_objects, "nexthop_objects");
    diff(
        a.export.as_ref().map(|e| e.get_ref()) != b.export.as_ref().map(|e| e.get_ref()),
        "export",
    );
    diff(
        a.import.as_ref().map(|e| e.get_ref()) != b.import.as_ref().map(|e| e.get_ref()),
        "import",
    );
    v
}

/// What a running daemon cannot apply: `[kernel]` changes (read once at start-up). Such a
/// reload is refused before anything changes.
pub(crate) fn check(old: &Config, new: &Config) -> Result<(), ControlError> {
    let k = kernel_changes(&old.file.kernel, &new.file.kernel);
    if !k.is_empty() {
        return Err(ControlError::RestartRequired(k));
    }
    Ok(())
}

/// Applies `new` to the running daemon.
pub(crate) async fn apply(shared: &Arc<Shared>, new: Config) -> Result<(), ControlError> {
    prepare(shared, &new).await?;
    finish(shared, new).await
}

/// The part of a reload that may fail, done first so that a failure changes nothing else:
/// [`check`], then the listeners of a changed `listen`.
pub(crate) async fn prepare(shared: &Arc<Shared>, new: &Config) -> Result<(), ControlError> {
    if shared.shutting_down.load(Ordering::SeqCst) {
        return Err(ControlError::ShuttingDown);
    }
    let old = shared.config();
    check(&old, new)?;
    let (ol, nl) = (&old.file.listen, &new.file.listen);
    if ol.addresses != nl.addresses || ol.port != nl.port {
        listener::rebind(shared, new).await?;
    }
    Ok(())
}

/// The rest of a reload, after [`prepare`] succeeded: peers, policies, statics.
pub(crate) async fn finish(shared: &Arc<Shared>, new: Config) -> Result<(), ControlError> {
    shared.reconfiguring.store(true, Ordering::SeqCst);
    let old = shared.config();
    let new = Arc::new(new);
    let identity = old.asn() != new.asn() || old.router_id() != new.router_id();
    if identity {
        tracing::info!(
            asn = new.asn(),
            router_id = %new.router_id(),
            "new identity: resetting every session"
        );
        let cluster = new
            .file
            .route_reflector
            .as_ref()
            .map(|r| r.cluster_id.unwrap_or(new.router_id()));
        let msg = RibMsg::Identity {
            asn: new.asn(),
            router_id: new.router_id(),
            cluster,
        };
        let _ = shared.rib_tx.send(msg).await;
    }
    let old_policies: HashMap<String, bgp_core::filter::Filter> =
        old.policies().into_iter().collect();
    let changed_policies: Vec<String> = new
        .policies()
        .into_iter()
        .filter(|(n, p)| old_policies.get(n) != Some(p))
        .map(|(n, _)| n)
        .collect();
    *lock(&shared.config) = Arc::clone(&new);

    let running: Vec<_> = lock(&shared.peers).clone();
    let wanted = new.peers();
    let mut reimport: Vec<SourceId> = Vec::new();
    // The kernel import filter's text changed: re-filter the learned routes.
    if new
        .file
        .kernel
        .import
        .as_ref()
        .is_some_and(|i| changed_policies.contains(i.get_ref()))
    {
        reimport.push(SourceId::KERNEL);
    }
    for h in &running {
        let spec = lock(&h.spec).clone();
        if spec.origin == crate::config::PeerOrigin::Dynamic {
            // Dynamic neighbours follow their range; a vanished range removes them.
            match new.dynamic_peer(spec.address) {
                Some(n) if !identity && !session_changed(&spec, &n) => {
                    update_policy(shared, h, &new, &spec, &n, &changed_policies, &mut reimport)
                        .await;
                    bfd_follow(h, &old, &new, &spec, &n);
                    *lock(&h.spec) = Arc::new(n);
                }
                Some(n) => {
                    let _ = h.cmd.send(PeerCmd::Reconfigure(Box::new(n)));
                }
                None => {
                    let _ = h.cmd.send(PeerCmd::Remove);
                }
            }
            continue;
        }
        match wanted.iter().find(|w| w.name == spec.name) {
            None => {
                tracing::info!(peer = %spec.name, "removed from the configuration");
                let _ = h.cmd.send(PeerCmd::Remove);
            }
            Some(w) if identity || session_changed(&spec, w) => {
                let pc = Box::new(new.rib_peer_config(w));
                let _ = shared.rib_tx.send(RibMsg::PeerConfig(h.id, pc)).await;
                let _ = h.cmd.send(PeerCmd::Reconfigure(Box::new(w.clone())));
            }
            Some(w) => {
                update_policy(shared, h, &new, &spec, w, &changed_policies, &mut reimport).await;
                bfd_follow(h, &old, &new, &spec, w);
                if spec.common.disabled != w.common.disabled {
                    let _ = h.cmd.send(if w.common.disabled {
                        PeerCmd::Disable("disabled by configuration".into())
                    } else {
                        PeerCmd::Enable
                    });
                }
                *lock(&h.spec) = Arc::new(w.clone());
            }
        }
    }
    for w in wanted {
        if !running.iter().any(|h| lock(&h.spec).name == w.name) {
            tracing::info!(peer = %w.name, "added by the configuration");
            peer::spawn(shared, w).await;
        }
    }
    listener::reinstall_md5(shared, &new);
    let _ = shared
        .rib_tx
        .send(RibMsg::Reconfigured(Arc::clone(&new), reimport))
        .await;
    *lock(&shared.last_reconfig) = SystemTime::now();
    shared.reconfiguring.store(false, Ordering::SeqCst);
    Ok(())
}

/// New BFD settings of a peer (configured or dynamic) that keeps its BGP session: its BFD
/// session renegotiates (or starts, or goes) without touching BGP.
fn bfd_follow(h: &PeerHandle, old: &Config, new: &Config, spec: &PeerSpec, w: &PeerSpec) {
    if old.bfd_peer(spec) != new.bfd_peer(w) || old.file.bfd.wait_for_up != new.file.bfd.wait_for_up
    {
        let _ = h.cmd.send(PeerCmd::Bfd(Box::new(w.clone())));
    }
}

/// Policy-level changes of a peer that keeps its session.
async fn update_policy(
    shared: &Shared,
    h: &PeerHandle,
    new: &Config,
    old: &PeerSpec,
    w: &PeerSpec,
    changed: &[String],
    reimport: &mut Vec<SourceId>,
) {
    let id = h.id;
    // The session's own address stays the next hop for "self" (see rib_peer_config_on).
    let local = lock(&h.status).local_addr;
    let import_changed = old.common.import != w.common.import
        || w.common
            .import
            .as_ref()
            .is_some_and(|i| changed.contains(i));
    let pc = Box::new(new.rib_peer_config_on(w, local));
    let _ = shared.rib_tx.send(RibMsg::PeerConfig(id, pc)).await;
    if import_changed {
        reimport.push(id);
    }
}
