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

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use bgp_core::rib::SourceId;

use super::peer::{self, PeerCmd};
use super::rib::RibMsg;
use super::{listener, lock, Shared};
use crate::config::{Config, PeerChange, PeerOrigin};
use crate::status::ControlError;

/// What a running daemon cannot apply: `[kernel]` changes (read once at start-up). Such a
/// reload is refused before anything changes.
pub(crate) fn check(old: &Config, new: &Config) -> Result<(), ControlError> {
    let k = old.restart_required(new);
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
    if old.listen_changed(new) {
        listener::rebind(shared, new).await?;
    }
    Ok(())
}

/// The rest of a reload, after [`prepare`] succeeded: peers, policies, statics. What changes
/// is the configuration model's answer (`Config::peer_change`); this applies it.
pub(crate) async fn finish(shared: &Arc<Shared>, new: Config) -> Result<(), ControlError> {
    shared.reconfiguring.store(true, Ordering::SeqCst);
    let old = shared.config();
    let new = Arc::new(new);
    let identity = old.identity_changed(&new);
    if identity {
        tracing::info!(
            asn = new.asn(),
            router_id = %new.router_id(),
            "new identity: resetting every session"
        );
        let msg = RibMsg::Identity {
            asn: new.asn(),
            router_id: new.router_id(),
            cluster: new.cluster_id(),
        };
        let _ = shared.rib_tx.send(msg).await;
    }
    let changed_policies = old.changed_policies(&new);
    *lock(&shared.config) = Arc::clone(&new);

    let running: Vec<_> = lock(&shared.peers).clone();
    let mut reimport: Vec<SourceId> = Vec::new();
    // The kernel import filter's text changed: re-filter the learned routes.
    if Config::kernel_import_changed(&new, &changed_policies) {
        reimport.push(SourceId::KERNEL);
    }
    for h in &running {
        let spec = lock(&h.spec).clone();
        let configured = spec.origin != PeerOrigin::Dynamic;
        match old.peer_change(&new, &spec, identity, &changed_policies) {
            PeerChange::Remove => {
                if configured {
                    tracing::info!(peer = %spec.name, "removed from the configuration");
                }
                let _ = h.cmd.send(PeerCmd::Remove);
            }
            PeerChange::Reset(w) => {
                if configured {
                    let pc = Box::new(new.rib_peer_config(&w));
                    let _ = shared.rib_tx.send(RibMsg::PeerConfig(h.id, pc)).await;
                }
                let _ = h.cmd.send(PeerCmd::Reconfigure(Box::new(w)));
            }
            PeerChange::Keep(k) => {
                // The session's own address stays the next hop for "self".
                let local = lock(&h.status).local_addr;
                let pc = Box::new(new.rib_peer_config_on(&k.spec, local));
                let _ = shared.rib_tx.send(RibMsg::PeerConfig(h.id, pc)).await;
                if k.import_changed {
                    reimport.push(h.id);
                }
                if k.bfd_changed {
                    let _ = h.cmd.send(PeerCmd::Bfd(Box::new(k.spec.clone())));
                }
                if let Some(enable) = k.enable {
                    let _ = h.cmd.send(if enable {
                        PeerCmd::Enable
                    } else {
                        PeerCmd::Disable("disabled by configuration".into())
                    });
                }
                *lock(&h.spec) = Arc::new(k.spec);
            }
        }
    }
    for w in new.peers() {
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
    crate::residency::reloaded();
    Ok(())
}
