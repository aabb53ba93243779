//! Runs bgpd inside another program: starts the daemon from a config file, announces prefixes
//! from code, prints every best-path and session change it sees, and stops gracefully on
//! SIGTERM / Ctrl-C (SIGHUP reloads the file).
//!
//! ```text
//! cargo run -p bgpd --example embed -- -c config-examples/standalone.toml --announce 10.9.0.0/24
//! ```
//! Options: `-c FILE` (required), `--announce PREFIX[,via=GW]` (repeatable), `--no-kernel`,
//! `-R` (graceful-restart recovery). The e2e tests use it as a daemon process too.

use std::path::PathBuf;

use bgpd::config::Config;
use bgpd::daemon::LocalRoute;
use bgpd::{Daemon, StartOptions};
use tokio::signal::unix::{signal, SignalKind};

fn usage() -> ! {
    eprintln!("usage: embed -c FILE [--announce PREFIX[,via=GW]]... [--no-kernel] [-R]");
    std::process::exit(2);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut announce = Vec::new();
    let mut opts = StartOptions::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-c" => path = args.next().map(PathBuf::from),
            "--announce" => announce.push(args.next().unwrap_or_else(|| usage())),
            "--no-kernel" => opts.no_kernel = true,
            "-R" => opts.recovery = true,
            _ => usage(),
        }
    }
    let path = path.unwrap_or_else(|| usage());
    let config = Config::load(&path).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    bgpd::daemon::init_logging(&config);
    let handle = Daemon::start(config, opts).await.unwrap_or_else(|e| {
        eprintln!("cannot start: {e}");
        std::process::exit(1);
    });
    let mut best = handle.subscribe_best_paths();
    let mut peers = handle.subscribe_peer_states();
    for a in announce {
        let mut parts = a.split(',');
        let prefix = parts
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| usage());
        let via = parts
            .find_map(|p| p.strip_prefix("via="))
            .map(|v| v.parse().unwrap_or_else(|_| usage()));
        let r = LocalRoute {
            prefix,
            via,
            communities: Vec::new(),
        };
        handle.announce(r).await.expect("daemon running");
        println!("announced {prefix}");
    }
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        panic!("signal handlers");
    };
    loop {
        tokio::select! {
            Ok(c) = best.recv() => match c.best {
                Some(b) => println!("best {} via {:?} from {}{}", c.prefix, b.next_hop, b.protocol,
                    if b.blackhole { " (blackhole)" } else { "" }),
                None => println!("withdrawn {}", c.prefix),
            },
            Ok(p) = peers.recv() => println!("peer {} {} -> {}", p.name, p.from, p.to),
            _ = hup.recv() => match Config::load(&path) {
                Ok(c) => println!("reload: {:?}", handle.reload(c).await),
                Err(e) => eprintln!("{e}"),
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    handle.stop().await;
    println!("stopped");
}
