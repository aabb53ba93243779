//! The injector process (`inject`), driven over its stdin and stdout.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{err, R};

pub(crate) struct Injector {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<(String, u128, String)>,
    seen: Vec<(String, u128, String)>,
    /// Its stderr.
    log: PathBuf,
}

/// `inject`, next to this binary (the same target directory and profile).
pub(crate) fn inject_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("inject")))
        .unwrap_or_else(|| PathBuf::from("inject"))
}

/// [`inject_bin`], or at once an error naming the command that builds it (a measurement run
/// would otherwise set up its namespaces and daemons first).
pub(crate) fn require_inject() -> R<PathBuf> {
    check_inject(&inject_bin())
}

fn check_inject(path: &Path) -> R<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let profile_dir = path.parent();
    let profile = profile_dir
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("release");
    let flag = match profile {
        "debug" => String::new(),
        "release" => " --release".to_string(),
        p => format!(" --profile {p}"),
    };
    let target = profile_dir.and_then(Path::parent);
    let env = match target {
        Some(t) if t.file_name().is_some_and(|n| n != "target") => {
            format!("CARGO_TARGET_DIR={} ", t.display())
        }
        _ => String::new(),
    };
    err(format!(
        "{} is missing (the harness drives the injector built next to it): \
         {env}cargo build{flag} --locked -p bgpd-benches --bin inject",
        path.display()
    ))
}

/// How many connection attempts the injector keeps in flight (`inject --connect-window`):
/// `$CONVERGE_CONNECT_WINDOW`, else 8 (BIRD's listen backlog; see `inject`'s doc). `0`: every
/// session connects at once, as before session 13 (the way to compare with earlier figures; it
/// puts a daemon with a short backlog into TCP's SYN back-off).
pub(crate) fn connect_window() -> R<u64> {
    parse_window(std::env::var("CONVERGE_CONNECT_WINDOW").ok().as_deref())
}

fn parse_window(v: Option<&str>) -> R<u64> {
    match v {
        None | Some("") => Ok(8),
        Some(n) => n.parse().or_else(|_| {
            err(format!(
                "CONVERGE_CONNECT_WINDOW={n}: a number (0: no limit)"
            ))
        }),
    }
}

impl Injector {
    /// `inject ARGS --connect-window N` ([`connect_window`]) in namespace `ns`.
    pub(crate) fn spawn(ns: &str, args: &[String], log: &Path) -> R<Injector> {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns])
            .arg(inject_bin())
            .args(args)
            .args([
                "--connect-window".to_string(),
                connect_window()?.to_string(),
            ]);
        Injector::start(c, log)
    }

    /// Runs `c` as the injector: its stdin takes commands, its stdout's lines are events, its
    /// stderr goes to `log`.
    fn start(mut c: Command, log: &Path) -> R<Injector> {
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(log)?));
        // SAFETY: prctl is async-signal-safe and touches only the child.
        unsafe {
            c.pre_exec(|| {
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                );
                Ok(())
            });
        }
        let mut child = c.spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut w = line.splitn(3, ' ');
                let name = w.next().unwrap_or("").to_string();
                let t = w.next().and_then(|t| t.parse().ok()).unwrap_or(0);
                let detail = w.next().unwrap_or("").to_string();
                if tx.send((name, t, detail)).is_err() {
                    break;
                }
            }
        });
        Ok(Injector {
            child,
            stdin,
            events: rx,
            seen: Vec::new(),
            log: log.to_path_buf(),
        })
    }
    pub(crate) fn send(&mut self, cmd: &str) -> R<()> {
        writeln!(self.stdin, "{cmd}")?;
        self.stdin.flush()?;
        Ok(())
    }
    /// Waits for event `name`; returns its time and detail.
    pub(crate) fn wait(&mut self, name: &str, timeout: Duration) -> R<(u128, String)> {
        self.wait_detail(name, None, timeout)
    }

    /// Waits for event `name` (with that detail, if given); returns its time and detail.
    pub(crate) fn wait_detail(
        &mut self,
        name: &str,
        detail: Option<&str>,
        timeout: Duration,
    ) -> R<(u128, String)> {
        let is = |e: &(String, u128, String)| e.0 == name && detail.is_none_or(|d| e.2 == d);
        if let Some(e) = self.seen.iter().find(|e| is(e)) {
            return Ok((e.1, e.2.clone()));
        }
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) => {
                    let hit = is(&e);
                    let r = (e.1, e.2.clone());
                    self.seen.push(e);
                    if hit {
                        return Ok(r);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return err(format!("injector: no `{name}` within {timeout:?}"))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map_or("?".to_string(), |s| s.to_string());
                    return err(format!(
                        "injector: ended ({status}) before `{name}`; its log: {}",
                        self.log.display()
                    ));
                }
            }
        }
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "exit");
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_injector_names_its_build_command() {
        let e = check_inject(Path::new("/nonexistent/rel-x/release/inject"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.ends_with(": CARGO_TARGET_DIR=/nonexistent/rel-x cargo build --release --locked -p bgpd-benches --bin inject"),
            "{e}"
        );
        assert!(
            e.starts_with("/nonexistent/rel-x/release/inject is missing"),
            "{e}"
        );
        let e = check_inject(Path::new("/nonexistent/target/debug/inject"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.ends_with(": cargo build --locked -p bgpd-benches --bin inject"),
            "{e}"
        );
        // A file that is there.
        let me = std::env::current_exe().unwrap();
        assert_eq!(check_inject(&me).unwrap(), me);
    }

    #[test]
    fn the_connect_window_is_8_unless_asked() {
        assert_eq!(parse_window(None).unwrap(), 8);
        assert_eq!(parse_window(Some("")).unwrap(), 8);
        assert_eq!(parse_window(Some("0")).unwrap(), 0);
        assert_eq!(parse_window(Some("32")).unwrap(), 32);
        assert!(parse_window(Some("eight")).is_err());
    }

    #[test]
    fn an_injector_that_ends_is_reported_at_once_with_its_log() {
        let log = std::env::temp_dir().join(format!("converge-inject-{}.log", std::process::id()));
        let mut c = Command::new("sh");
        c.args(["-c", "echo 'inject: cannot start' >&2; exit 3"]);
        let mut inj = Injector::start(c, &log).unwrap();
        // Not the timeout's error: the end of its output is reported as it happens.
        let e = inj
            .wait("go", Duration::from_secs(60))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ended (exit status: 3) before `go`"), "{e}");
        assert!(e.contains(&log.display().to_string()), "{e}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text, "inject: cannot start\n");
        let _ = std::fs::remove_file(&log);
    }
}
