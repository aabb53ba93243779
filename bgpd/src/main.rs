//! `bgpd` command-line entry point: the daemon and its control client (see [`bgpd::cli`]).

use std::process::ExitCode;

fn main() -> ExitCode {
    bgpd::cli::main()
}
