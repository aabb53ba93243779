//! The daemon's log output: `[log]` and `RUST_LOG` select what is written to standard error,
//! as plain text (no terminal colour codes: the output goes to journald, container logs or a
//! file) or one JSON object per line.
//!
//! The filter's rule is bgpd-config's ([`bgpd_config::log::filter`]).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use crate::config::log::filter as log_filter;
use crate::config::{Config, LogFormat};

/// Sets up logging from `[log]` and `RUST_LOG` (unless the embedding program already did).
pub fn init_logging(config: &Config) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, notes) = log_filter(rust_log.as_deref(), &config.file.log.level);
    for n in &notes {
        eprintln!("{n}; logging at info");
    }
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match config.file.log.format {
        LogFormat::Json => registry.with(fmt.json()).try_init(),
        LogFormat::Human => registry.with(fmt).try_init(),
    };
}
