//! DOC: the binary's process around the daemon (placement: wiring, not the driver): loads the
//! configuration, sets up logging and the runtime, starts the daemon (`Daemon::start`),
//! serves the control sockets (each from its own thread) and the metrics endpoint, tells
//! systemd, and runs until SIGTERM/SIGINT/`down`; SIGHUP reloads. `crate::daemon::run`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::daemon::{Daemon, DaemonOptions, Handle, StartOptions};
use crate::logging::init_logging;
use crate::status::IpFamily;
use crate::systemd as notify;

/// The log target of these lines, as before they moved here (`[log] level` directives name it).
const LOG: &str = "bgpd::daemon";

/// The binary's daemon: loads the config, runs until SIGTERM/SIGINT/`down`, SIGHUP reloads.
pub fn run(opts: DaemonOptions) -> ExitCode {
    let config = match Config::load_with(&opts.config_path, opts.load) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    init_logging(&config);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("bgpd")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bgpd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let metrics_addr = config.file.metrics.as_ref().map(|m| m.listen);
    let control_socket_v6 = config.file.control_socket_v6.clone();
    rt.block_on(async move {
        let socket = opts
            .socket
            .clone()
            .unwrap_or_else(|| config.file.control_socket.clone());
        let handle = match Daemon::start(
            config,
            StartOptions {
                recovery: opts.recovery,
                no_kernel: false,
            },
        )
        .await
        {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(target: LOG, "{e}");
                return ExitCode::from(1);
            }
        };
        // Each served from its own thread (not this runtime's workers, which the sessions
        // share); dropped at the end of this block: stopped, socket files removed.
        let views = IpFamily::socket_views(socket.clone(), control_socket_v6, opts.view);
        let control_servers: Vec<_> = (views.into_iter())
            .filter_map(|(path, view)| {
                crate::control::thread::serve_control_socket(path, handle.control(), view)
            })
            .collect();
        let metrics = metrics_addr.and_then(|addr| match crate::metrics::Metrics::new() {
            Ok(m) => Some((addr, m)),
            Err(e) => {
                tracing::error!(target: LOG, %addr, "metrics: {e}");
                None
            }
        });
        if let Some((addr, metrics)) = metrics {
            let control = handle.control();
            handle.stats().set_metrics(std::sync::Arc::clone(&metrics));
            // Bound before READY=1; served by its own task.
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => {
                    tokio::spawn(async move {
                        if let Err(e) = crate::metrics::serve_listener(l, metrics, control).await {
                            tracing::error!(target: LOG, %addr, "metrics endpoint: {e}");
                        }
                    });
                }
                Err(e) => tracing::error!(target: LOG, %addr, "metrics endpoint: {e}"),
            }
        }
        notify::ready(&format!("serving {}", socket.display()));
        notify::spawn_watchdog(&handle.shared);
        crate::residency::spawn_trimmer();
        signals(handle.clone(), opts.config_path.clone(), opts.load).await;
        drop(control_servers);
        ExitCode::SUCCESS
    })
}

/// SIGHUP reloads; SIGTERM / SIGINT stop; also returns when stopped by `down`.
async fn signals(handle: Handle, path: PathBuf, load: crate::config::LoadOptions) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!(target: LOG, "cannot install signal handlers");
        handle.stop().await;
        return;
    };
    let mut done = handle.clone();
    loop {
        tokio::select! {
            _ = hup.recv() => {
                notify::reloading();
                let status = match Config::load_with(&path, load) {
                    Ok(c) => match handle.reload(c).await {
                        Ok(()) => { tracing::info!(target: LOG, "reconfigured"); "reconfigured".to_string() }
                        Err(e) => { tracing::error!(target: LOG, "reload failed: {e}"); format!("reload failed: {e}") }
                    },
                    Err(e) => {
                        tracing::error!(target: LOG, "reload: configuration errors, keeping the running one:\n{e}");
                        "reload refused: configuration errors".to_string()
                    }
                };
                notify::ready(&status);
            }
            _ = term.recv() => { tracing::info!(target: LOG, "SIGTERM: shutting down"); break; }
            _ = int.recv() => { tracing::info!(target: LOG, "SIGINT: shutting down"); break; }
            _ = done.stopped() => return,
        }
    }
    notify::stopping();
    handle.stop().await;
}
