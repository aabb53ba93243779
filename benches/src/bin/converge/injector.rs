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
}

pub(crate) fn inject_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("inject")))
        .unwrap_or_else(|| PathBuf::from("inject"))
}

impl Injector {
    pub(crate) fn spawn(ns: &str, args: &[String], log: &Path) -> R<Injector> {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns])
            .arg(inject_bin())
            .args(args)
            .stdin(Stdio::piped())
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
                Err(_) => return err(format!("injector: no `{name}` within {timeout:?}")),
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
