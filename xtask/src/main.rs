//! bgpd's build helpers, outside the daemon binary (which does not carry clap_mangen):
//!
//! * `xtask dist DIR`: man pages from the clap definitions of `bgpd::cli` (`bgpd.8` and one
//!   page per subcommand, `bgpd-show.8`, ...), `bgpd.toml.5` from `docs/config.md`, and shell
//!   completions (bash, zsh, fish) under `DIR/man` and `DIR/completions`;
//! * `xtask stage --bin BGPD --dist DIR --out ROOT --arch ARCH`: the Debian package tree
//!   (`ROOT/DEBIAN/control`, conffiles, maintainer scripts, every asset) from
//!   `[package.metadata.deb]` of `bgpd/Cargo.toml`, the same table `cargo deb` reads.
//! * `xtask hot-symbols [--any-hash] [BINARY]`: whether `bgpd/hot-symbols.txt` still names the
//!   functions of a built bgpd (default `target/release/bgpd`; `--any-hash` for a dev build),
//!   see `hot_symbols.rs`.
//!
//! `scripts/package.sh` runs `dist` and `stage`, then `dpkg-deb --build`.

mod hot_symbols;
mod mdman;
mod stage;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;

/// The workspace root (this crate's parent directory).
fn workspace() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dist") if args.len() == 2 => dist(Path::new(&args[1])),
        Some("stage") => stage::Options::parse(&args[1..]).and_then(|o| stage::stage(&o)),
        Some("hot-symbols") => hot_symbols_cmd(&args[1..]),
        _ => Err(
            "usage: xtask dist DIR | xtask stage --bin BGPD --dist DIR --out ROOT --arch ARCH \
             | xtask hot-symbols [--any-hash] [BINARY]"
                .to_string(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::from(1)
        }
    }
}

/// `hot-symbols [--any-hash] [BINARY]`: the coverage report, an error when the list is stale.
fn hot_symbols_cmd(args: &[String]) -> Result<(), String> {
    let any_hash = args.iter().any(|a| a == "--any-hash");
    let mut rest = args.iter().filter(|a| *a != "--any-hash");
    let binary = match (rest.next(), rest.next()) {
        (None, _) => workspace().join("target/release/bgpd"),
        (Some(b), None) if !b.starts_with('-') => PathBuf::from(b),
        _ => return Err("usage: xtask hot-symbols [--any-hash] [BINARY]".to_string()),
    };
    if !binary.exists() {
        return Err(format!(
            "{} missing: build it first (cargo build --release -p bgpd)",
            binary.display()
        ));
    }
    let list = workspace().join("bgpd/hot-symbols.txt");
    let c = hot_symbols::check(&list, &binary)?;
    print!("{}: {}", binary.display(), c.report());
    c.verdict(!any_hash)
}

fn write(path: &Path, data: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, data).map_err(|e| format!("{}: {e}", path.display()))
}

/// Man pages and completions into `out`.
fn dist(out: &Path) -> Result<(), String> {
    let cmd = bgpd::cli::Args::command();
    let man = out.join("man");
    man_pages(&cmd, "bgpd", &man)?;
    let config_md = workspace().join("docs/config.md");
    let md =
        std::fs::read_to_string(&config_md).map_err(|e| format!("{}: {e}", config_md.display()))?;
    write(&man.join("bgpd.toml.5"), config_page(&md).as_bytes())?;
    let comp = out.join("completions");
    for (shell, file) in [
        (clap_complete::Shell::Bash, "bgpd.bash"),
        (clap_complete::Shell::Zsh, "_bgpd"),
        (clap_complete::Shell::Fish, "bgpd.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "bgpd", &mut buf);
        write(&comp.join(file), &buf)?;
    }
    Ok(())
}

/// Sections `bgpd(8)` adds to what clap_mangen renders from the CLI definitions.
const BGPD_EXTRA: &str = r#".SH "DAEMON AND CLIENT"
Without a subcommand \fBbgpd\fR runs the daemon with the configuration file given by
\fB\-c\fR (default \fI/etc/bgpd/bgpd.toml\fR); it stays in the foreground and logs to
standard error. With a subcommand it is the client of a running daemon's control socket
(the BIRD 1.6 protocol): \fBbgpd show protocols\fR, \fBbgpd show route \-\-json\fR, ...
\fB\-\-check\fR validates a configuration file and names file, line and column of each error.
.SH SIGNALS
.TP
.B SIGHUP
re-read the configuration file and apply it (sessions whose settings did not change stay up).
.TP
.BR SIGTERM ", " SIGINT
graceful shutdown: with \fBpersist = true\fR (the default) the routes stay in the kernel and
the next start adopts them (graceful restart), so a restart loses no route.
.SH SYSTEMD
The Debian package installs \fBbgpd.service\fR (\fIType=notify\fR): \fBbgpd\fR sends
\fBREADY=1\fR once its BGP listeners, control socket and metrics endpoint are bound,
\fBRELOADING=1\fR/\fBREADY=1\fR around a SIGHUP reload, \fBSTOPPING=1\fR on SIGTERM, and
\fBWATCHDOG=1\fR while its RIB task and FIB thread make progress (\fIWatchdogSec=\fR).
.SH "BIRD COMPATIBILITY"
\fI/usr/lib/bgpd/bird\-compat/\fR holds links named \fBbird\fR, \fBbird6\fR, \fBbirdc\fR,
\fBbirdcl\fR, \fBbirdc6\fR, \fBbirdcl6\fR to \fI/usr/sbin/bgpd\fR, for images that replace
BIRD: put that directory first in \fBPATH\fR. Started under those names the binary is BIRD
1.6's daemon (\fBbird\fR, \fBbird6\fR) or client (\fBbirdc\fR, \fBbirdcl\fR, ...), with BIRD's
flags and Calico's default paths. They do not clash with Debian's bird packages.
.SH FILES
.TP
.I /etc/bgpd/bgpd.toml
configuration (see \fBbgpd.toml\fR(5)).
.TP
.I /run/bgpd/bgpd.ctl
control socket.
.TP
.I /usr/share/doc/bgpd/examples/
example configurations.
.SH "EXIT STATUS"
Daemon: 0 after a graceful shutdown, 1 when it cannot start. \fB\-\-check\fR: 0 valid, 1
invalid. Client: 0 ok, 1 error reply, 2 cannot connect.
.SH "SEE ALSO"
.BR bgpd.toml (5),
.BR systemctl (1),
.BR bird (8)
"#;

/// `bgpd.8` and a page per subcommand (`bgpd-show.8`, `bgpd-show-route.8`, ...).
fn man_pages(cmd: &clap::Command, name: &str, dir: &Path) -> Result<(), String> {
    // clap takes `&'static str` names without its `string` feature; a build tool can leak.
    let static_name: &'static str = Box::leak(name.to_string().into_boxed_str());
    let mut cmd = cmd
        .clone()
        .name(static_name)
        .bin_name(name.replace('-', " "));
    // Builds the generated parts (the `help` subcommand), so they get pages too.
    cmd.build();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Manager's Manual")
        .source(format!("bgpd {}", bgpd::VERSION))
        .render(&mut buf)
        .map_err(|e| e.to_string())?;
    if name == "bgpd" {
        buf.extend_from_slice(BGPD_EXTRA.as_bytes());
    }
    write(&dir.join(format!("{name}.8")), &buf)?;
    if cmd.get_name().ends_with("-help") {
        return Ok(()); // `bgpd-help.8` and `bgpd-show-help.8`, not one per help topic
    }
    for sub in cmd.get_subcommands() {
        man_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}

/// `bgpd.toml(5)`: title, NAME, the converted reference, SEE ALSO.
fn config_page(md: &str) -> String {
    format!(
        ".TH BGPD.TOML 5 \"\" \"bgpd {v}\" \"File Formats Manual\"\n\
         .SH NAME\n\
         bgpd.toml \\- bgpd configuration file\n\
         .SH SYNOPSIS\n\
         .I /etc/bgpd/bgpd.toml\n\
         {body}\
         .SH FILES\n\
         .TP\n\
         .I /etc/bgpd/bgpd.toml\n\
         the configuration the packaged service reads.\n\
         .TP\n\
         .I /usr/share/doc/bgpd/examples/\n\
         commented examples (standalone, mesh, route reflector, Calico node, eBGP to a ToR).\n\
         .SH \"SEE ALSO\"\n\
         .BR bgpd (8)\n",
        v = bgpd::VERSION,
        body = mdman::to_roff(md)
    )
}
