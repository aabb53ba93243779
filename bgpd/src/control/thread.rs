//! DOC: the control socket's own thread. calico-node's probes read with a 2 s deadline and a
//! timed-out probe restarts the node's networking, so the socket is not served by the
//! runtime that runs the sessions (two workers shared by up to thousands of peer tasks and
//! the RIB task): a thread `bgpd-ctl` runs a current-thread runtime that binds the socket,
//! accepts and answers; the [`crate::status::Control`] calls run on that runtime's blocking
//! pool. Dropping the [`ControlServer`] stops it and removes the socket file. The daemon starts
//! one per socket with [`serve_control_socket`].

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::status::{Control, IpFamily};

/// The log target of these lines, as before they moved here (`[log] level` directives name it).
const LOG: &str = "bgpd::daemon::control";

/// A control socket served from its own thread; dropped = stopped, socket file removed.
pub(crate) struct ControlServer {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ControlServer {
    /// Starts the thread and returns once the socket is bound (a bind error is returned,
    /// so it is reported at start-up as before).
    pub(crate) fn start(
        path: PathBuf,
        control: Arc<dyn Control>,
        view: Option<IpFamily>,
    ) -> io::Result<ControlServer> {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name("bgpd-ctl".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .thread_name("bgpd-ctl-call")
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = bound_tx.send(Err(e));
                        return;
                    }
                };
                let served = rt.block_on(serve(&path, control, view, bound_tx, stop_rx));
                // A `show route` page still being formatted on the blocking pool is not
                // waited for long: the daemon is exiting.
                rt.shutdown_timeout(Duration::from_secs(1));
                if served {
                    let _ = std::fs::remove_file(&path);
                }
            })?;
        match bound_rx.recv() {
            Ok(Ok(())) => Ok(ControlServer {
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(io::Error::other("the control thread ended before binding"))
            }
        }
    }
}

/// Binds, reports the outcome on `bound`, serves until `stop` fires (or its sender is
/// dropped). Returns whether the socket was bound (then its file is ours to remove).
async fn serve(
    path: &std::path::Path,
    control: Arc<dyn Control>,
    view: Option<IpFamily>,
    bound: std::sync::mpsc::Sender<io::Result<()>>,
    stop: oneshot::Receiver<()>,
) -> bool {
    let listener = match super::bind(path) {
        Ok(l) => l,
        Err(e) => {
            let _ = bound.send(Err(e));
            return false;
        }
    };
    let _ = bound.send(Ok(()));
    let opts = super::ServerOptions {
        view,
        ..Default::default()
    };
    tokio::select! {
        r = super::serve_listener(listener, control, opts) => {
            if let Err(e) = r {
                tracing::error!(target: LOG, socket = %path.display(), "control socket: {e}");
            }
        }
        _ = stop => {}
    }
    true
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the control socket server on its own thread: the socket is bound before this
/// returns, so a bind failure is reported at start-up. `None` when it could not be bound
/// (logged).
pub(crate) fn serve_control_socket(
    path: PathBuf,
    control: Arc<dyn Control>,
    view: Option<IpFamily>,
) -> Option<ControlServer> {
    match ControlServer::start(path.clone(), control, view) {
        Ok(server) => {
            tracing::info!(target: LOG, socket = %path.display(), ?view, "control socket listening");
            Some(server)
        }
        Err(e) => {
            tracing::error!(target: LOG, socket = %path.display(), "cannot bind the control socket: {e}");
            None
        }
    }
}
