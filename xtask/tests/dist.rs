//! `xtask dist` (the binary, as scripts/package.sh runs it): a man page for bgpd and for every
//! subcommand of its clap definitions, bgpd.toml(5) with a section for every `##` heading of
//! docs/config.md, and completions for bash, zsh and fish that know the subcommands.

use std::path::Path;
use std::process::Command;

use clap::CommandFactory;

#[test]
fn dist_generates_pages_and_completions() {
    let out = std::env::temp_dir().join(format!("xtask-dist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("dist")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let read =
        |p: &str| std::fs::read_to_string(out.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));

    let bgpd8 = read("man/bgpd.8");
    assert!(bgpd8.contains("\n.TH bgpd 8 "), "{bgpd8}");
    for section in [
        "SIGNALS",
        "FILES",
        "SYSTEMD",
        "\"SEE ALSO\"",
        "\"EXIT STATUS\"",
    ] {
        assert!(
            bgpd8.contains(&format!(".SH {section}")),
            "bgpd.8 lacks {section}"
        );
    }
    let cmd = bgpd::cli::Args::command();
    for sub in cmd.get_subcommands() {
        let page = format!("man/bgpd-{}.8", sub.get_name());
        assert!(out.join(&page).exists(), "{page} missing");
        for subsub in sub.get_subcommands() {
            let page = format!("man/bgpd-{}-{}.8", sub.get_name(), subsub.get_name());
            assert!(out.join(&page).exists(), "{page} missing");
        }
        for opt in sub.get_arguments().filter_map(|a| a.get_long()) {
            let page = read(&format!("man/bgpd-{}.8", sub.get_name()));
            assert!(
                page.contains(&format!("\\-\\-{}", opt.replace('-', "\\-"))),
                "--{opt}"
            );
        }
    }

    let toml5 = read("man/bgpd.toml.5");
    assert!(toml5.starts_with(".TH BGPD.TOML 5"));
    let md =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md"))
            .unwrap();
    let headings = md.lines().filter(|l| l.starts_with("## ")).count();
    let sections = toml5.lines().filter(|l| l.starts_with(".SH ")).count();
    // NAME, SYNOPSIS, DESCRIPTION, FILES, SEE ALSO around the converted headings.
    assert_eq!(sections, headings + 5, "{toml5}");
    assert!(toml5.contains("graceful_restart"));

    for (file, marker) in [
        ("completions/bgpd.bash", "complete -F"),
        ("completions/_bgpd", "#compdef bgpd"),
        ("completions/bgpd.fish", "complete -c bgpd"),
    ] {
        let text = read(file);
        assert!(text.contains(marker), "{file}");
        assert!(text.contains("show") && text.contains("reload"), "{file}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
