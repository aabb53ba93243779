//! The Debian package tree from `[package.metadata.deb]` of `bgpd/Cargo.toml` (cargo-deb's
//! format, so `cargo deb -p bgpd` builds the same package): this reads the subset bgpd uses —
//! `assets` as `[source, destination, mode]` (sources relative to `bgpd/`, `*` in the file
//! name, `target/release/` meaning the binary given with `--bin`, `../target/dist/` the
//! directory given with `--dist`, symlinks kept as symlinks, a destination ending in `/` a
//! directory), `conf-files`, `maintainer-scripts`, `depends`, `section`, `priority`,
//! `maintainer`, `copyright` and `extended-description`.

use std::path::{Path, PathBuf};

use toml::Value;

use crate::workspace;

/// Command-line options of `xtask stage`.
#[derive(Debug)]
pub struct Options {
    bin: PathBuf,
    dist: PathBuf,
    out: PathBuf,
    arch: String,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let get = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .cloned()
                .ok_or_else(|| format!("stage: {flag} missing"))
        };
        Ok(Options {
            bin: get("--bin")?.into(),
            dist: get("--dist")?.into(),
            out: get("--out")?.into(),
            arch: get("--arch")?,
        })
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

fn str_of<'a>(t: &'a toml::Table, key: &str) -> Result<&'a str, String> {
    t.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("[package.metadata.deb] {key} missing"))
}

/// Where an asset source is, for this build.
fn resolve(src: &str, crate_dir: &Path, o: &Options) -> PathBuf {
    if let Some(rest) = src.strip_prefix("target/release/") {
        o.bin.parent().unwrap_or(Path::new(".")).join(rest)
    } else if let Some(rest) = src.strip_prefix("../target/dist/") {
        o.dist.join(rest)
    } else {
        crate_dir.join(src)
    }
}

/// The files a source names (a `*` in its file name matches any run of characters).
fn expand(path: &Path) -> Result<Vec<PathBuf>, String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: no file name", path.display()))?;
    let Some((pre, post)) = name.split_once('*') else {
        return Ok(vec![path.to_path_buf()]);
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.len() >= pre.len() + post.len() && n.starts_with(pre) && n.ends_with(post)
            })
        })
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(format!("{}: matches nothing", path.display()));
    }
    Ok(out)
}

fn mkdirs(p: &Path) -> Result<(), String> {
    match p.parent() {
        Some(d) => std::fs::create_dir_all(d).map_err(io(d)),
        None => Ok(()),
    }
}

/// Copies one asset into the tree; returns its size in KiB (as `du` counts, at least 1).
fn install(src: &Path, dest: &Path, mode: u32) -> Result<u64, String> {
    use std::os::unix::fs::PermissionsExt;
    mkdirs(dest)?;
    let meta = std::fs::symlink_metadata(src).map_err(io(src))?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(src).map_err(io(src))?;
        let _ = std::fs::remove_file(dest);
        std::os::unix::fs::symlink(&target, dest).map_err(io(dest))?;
        return Ok(1);
    }
    std::fs::copy(src, dest)
        .map_err(|e| format!("{} -> {}: {e}", src.display(), dest.display()))?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode)).map_err(io(dest))?;
    Ok(meta.len().div_ceil(1024).max(1))
}

/// Builds the tree under `o.out` (which must not exist yet).
pub fn stage(o: &Options) -> Result<(), String> {
    let root = workspace();
    let crate_dir = root.join("bgpd");
    let manifest_path = crate_dir.join("Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(&manifest_path)
        .map_err(io(&manifest_path))?
        .parse()
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let package = manifest
        .get("package")
        .and_then(Value::as_table)
        .ok_or("bgpd/Cargo.toml: no [package]")?;
    let deb = package
        .get("metadata")
        .and_then(|m| m.get("deb"))
        .and_then(Value::as_table)
        .ok_or("bgpd/Cargo.toml: no [package.metadata.deb]")?;
    if o.out.exists() {
        return Err(format!("{} exists", o.out.display()));
    }
    let mut size_kib = 0u64;
    let assets = deb
        .get("assets")
        .and_then(Value::as_array)
        .ok_or("[package.metadata.deb] assets missing")?;
    for a in assets {
        let fields: Vec<&str> = a
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let [src, dest, mode] = fields[..] else {
            return Err(format!("asset {a}: expected [source, destination, mode]"));
        };
        let mode = u32::from_str_radix(mode, 8).map_err(|e| format!("asset {a}: mode: {e}"))?;
        for file in expand(&resolve(src, &crate_dir, o))? {
            let target = if dest.ends_with('/') {
                let name = file
                    .file_name()
                    .ok_or(format!("{}: no name", file.display()))?;
                o.out.join(dest).join(name)
            } else {
                o.out.join(dest)
            };
            size_kib += install(&file, &target, mode)?;
        }
    }
    let name = str_of(deb, "name").unwrap_or("bgpd");
    // /usr/share/doc/bgpd/copyright, as cargo-deb writes it.
    let copyright = format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {name}\n\n\
         Files: *\nCopyright: {}\nLicense: {}\n",
        str_of(deb, "copyright")?,
        package
            .get("license")
            .and_then(Value::as_str)
            .unwrap_or("MIT OR Apache-2.0"),
    );
    let copyright_path = o.out.join(format!("usr/share/doc/{name}/copyright"));
    mkdirs(&copyright_path)?;
    std::fs::write(&copyright_path, copyright).map_err(io(&copyright_path))?;
    size_kib += 1;

    let debian = o.out.join("DEBIAN");
    std::fs::create_dir_all(&debian).map_err(io(&debian))?;
    let conffiles: Vec<&str> = deb
        .get("conf-files")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !conffiles.is_empty() {
        let p = debian.join("conffiles");
        std::fs::write(&p, conffiles.join("\n") + "\n").map_err(io(&p))?;
    }
    if let Some(dir) = deb.get("maintainer-scripts").and_then(Value::as_str) {
        let dir = crate_dir.join(dir);
        for script in ["preinst", "postinst", "prerm", "postrm"] {
            let src = dir.join(script);
            if src.exists() {
                install(&src, &debian.join(script), 0o755)?;
            }
        }
    }
    let description = package
        .get("description")
        .and_then(Value::as_str)
        .ok_or("[package] description missing")?;
    let extended = control_paragraphs(str_of(deb, "extended-description")?);
    let control = format!(
        "Package: {name}\nVersion: {version}-1\nArchitecture: {arch}\nMaintainer: {maint}\n\
         Installed-Size: {size_kib}\nDepends: {depends}\nSection: {section}\nPriority: {priority}\n\
         Description: {description}\n{extended}",
        version = bgpd::VERSION,
        arch = o.arch,
        maint = str_of(deb, "maintainer")?,
        depends = str_of(deb, "depends")?,
        section = str_of(deb, "section")?,
        priority = str_of(deb, "priority")?,
    );
    let p = debian.join("control");
    std::fs::write(&p, control).map_err(io(&p))
}

/// The extended description as control-file lines: words wrapped at 79 columns (as
/// cargo-deb does), each line indented by one space, blank lines between paragraphs as ` .`.
fn control_paragraphs(text: &str) -> String {
    let mut out = String::new();
    for (i, para) in text.trim().split("\n\n").enumerate() {
        if i > 0 {
            out.push_str(" .\n");
        }
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > 78 {
                out.push_str(&format!(" {line}\n"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            out.push_str(&format!(" {line}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn description_paragraphs_wrap() {
        let text = format!("{}\n\nshort", "word ".repeat(30));
        let out = super::control_paragraphs(&text);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines.iter().all(|l| l.starts_with(' ') && l.len() <= 79),
            "{out}"
        );
        assert_eq!(lines.len(), 4, "{out}");
        assert_eq!(&lines[2..], [" .", " short"]);
    }

    use super::*;

    #[test]
    fn sources_resolve_per_build() {
        let o = Options {
            bin: "/b/target/debug/bgpd".into(),
            dist: "/d".into(),
            out: "/o".into(),
            arch: "amd64".into(),
        };
        let c = Path::new("/w/bgpd");
        assert_eq!(
            resolve("target/release/bgpd", c, &o),
            Path::new("/b/target/debug/bgpd")
        );
        assert_eq!(
            resolve("../target/dist/man/bgpd.8.gz", c, &o),
            Path::new("/d/man/bgpd.8.gz")
        );
        assert_eq!(
            resolve("../README.md", c, &o),
            Path::new("/w/bgpd/../README.md")
        );
    }

    #[test]
    fn the_metadata_names_existing_sources() {
        // Every non-generated asset of bgpd/Cargo.toml exists in the repository.
        let manifest: toml::Table = std::fs::read_to_string(workspace().join("bgpd/Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let assets = manifest["package"]["metadata"]["deb"]["assets"]
            .as_array()
            .unwrap();
        assert!(assets.len() >= 8);
        for a in assets {
            let src = a[0].as_str().unwrap();
            if src.starts_with("target/") || src.starts_with("../target/") {
                continue;
            }
            let files = expand(&workspace().join("bgpd").join(src)).unwrap();
            assert!(!files.is_empty(), "{src}");
        }
    }
}
