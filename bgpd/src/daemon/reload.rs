//! DOC: reload (SIGHUP, `bgpd reload`, `Handle::reload`): applies bgpd-config's answer to
//! what a reload changes (`Config::restart_required`, `Config::rebind`, `Config::reload_plan`)
//! to the running daemon, leaving sessions whose settings did not change untouched.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use bgp_core::driver::Admin;
use bgp_core::rib::SourceId;

use super::peer::{self, PeerCmd};
use super::rib::RibMsg;
use super::{listener, lock, Shared};
use crate::config::{Config, PeerChange, PeerOrigin, PeerSpec};
use crate::status::ControlError;

/// Applies `new` to the running daemon.
pub(crate) async fn apply(shared: &Arc<Shared>, new: Config) -> Result<(), ControlError> {
    prepare(shared, &new).await?;
    finish(shared, new).await;
    Ok(())
}

/// The part of a reload that may fail, done first so that a failure changes nothing else:
/// what a running daemon cannot apply (`[kernel]` changes, read once at start-up:
/// `Config::restart_required`), then the listeners of a changed `listen`.
pub(crate) async fn prepare(shared: &Arc<Shared>, new: &Config) -> Result<(), ControlError> {
    if shared.shutting_down.load(Ordering::SeqCst) {
        return Err(ControlError::ShuttingDown);
    }
    let old = shared.config();
    let restart = old.restart_required(new);
    if !restart.is_empty() {
        return Err(ControlError::RestartRequired(restart));
    }
    if old.listen_changed(new) {
        listener::rebind(shared, new).await?;
    }
    Ok(())
}

/// The rest of a reload, after [`prepare`] succeeded: peers, policies, statics. What changes
/// is the configuration model's answer (`Config::reload_plan`); this applies it.
pub(crate) async fn finish(shared: &Arc<Shared>, new: Config) {
    shared.reconfiguring.store(true, Ordering::SeqCst);
    let old = shared.config();
    let new = Arc::new(new);
    // A neighbour accepted from now on is made with the new configuration.
    *lock(&shared.config) = Arc::clone(&new);
    let running: Vec<_> = lock(&shared.peers).clone();
    let specs: Vec<Arc<PeerSpec>> = running.iter().map(|h| lock(&h.spec).clone()).collect();
    let plan = old.reload_plan(&new, &specs);
    if plan.identity {
        let (asn, router_id) = (new.asn(), new.router_id());
        tracing::info!(asn, %router_id, "new identity: resetting every session");
        let _ = shared.rib_tx.send(RibMsg::Identity(Arc::clone(&new))).await;
    }
    let mut reimport: Vec<SourceId> = Vec::new();
    if plan.reimport_kernel {
        reimport.push(SourceId::KERNEL);
    }
    for ((h, spec), change) in running.iter().zip(&specs).zip(plan.peers) {
        // The RIB takes the peer's new settings before the peer acts on them.
        let local = lock(&h.status).local_addr;
        if let Some(pc) = new.rib_peer_config_after(&change, spec, local) {
            let _ = shared
                .rib_tx
                .send(RibMsg::PeerConfig(h.id, Box::new(pc)))
                .await;
        }
        match change {
            PeerChange::Remove => {
                if spec.origin != PeerOrigin::Dynamic {
                    tracing::info!(peer = %spec.name, "removed from the configuration");
                }
                let _ = h.cmd.send(PeerCmd::Admin(Admin::Remove));
            }
            PeerChange::Reset(w) => {
                tracing::info!(peer = %w.name, "settings changed: resetting the session");
                // The session starts anew with them once the old one is closed (`Reset`).
                *lock(&h.spec) = Arc::new(w);
                let _ = h.cmd.send(PeerCmd::Admin(Admin::Reconfigure));
            }
            PeerChange::Keep(k) => {
                if k.import_changed {
                    reimport.push(h.id);
                }
                if k.bfd_changed {
                    let _ = h.cmd.send(PeerCmd::BfdSettings(Box::new(k.spec.clone())));
                }
                if let Some(a) = k.admin() {
                    let _ = h.cmd.send(PeerCmd::Admin(a));
                }
                *lock(&h.spec) = Arc::new(k.spec);
            }
        }
    }
    for w in plan.spawn {
        tracing::info!(peer = %w.name, "added by the configuration");
        peer::spawn(shared, w).await;
    }
    listener::reinstall_md5(shared, &new);
    let _ = (shared
        .rib_tx
        .send(RibMsg::Reconfigured(Arc::clone(&new), reimport)))
    .await;
    *lock(&shared.last_reconfig) = SystemTime::now();
    shared.reconfiguring.store(false, Ordering::SeqCst);
    crate::residency::reloaded();
}
