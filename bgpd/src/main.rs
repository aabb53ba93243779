//! `bgpd` command-line entry point.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | Some("-V") => {
            println!("bgpd {}", bgpd::VERSION);
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "bgpd {}: the daemon is not implemented yet (see the README)",
                bgpd::VERSION
            );
            ExitCode::from(2)
        }
    }
}
