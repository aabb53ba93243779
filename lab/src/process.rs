//! DOC: the daemons and captures a lab starts. Each runs in the foreground as a direct child of
//! the test process (`ip netns exec` execs it, so the child's pid is the daemon's), stdout and
//! stderr go to a log file, it gets SIGKILL if the thread that started it dies
//! (`PR_SET_PDEATHSIG`), and dropping the handle stops it (SIGTERM, then SIGKILL after a grace
//! period) and reaps it, so no zombie or orphan outlives a test.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Context, Error, Result};

/// How long a SIGTERM may take before SIGKILL follows when a handle is dropped.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// A running (or exited) daemon started by the lab.
#[derive(Debug)]
pub struct Process {
    name: String,
    argv: Vec<String>,
    child: Child,
    log: PathBuf,
    exited: Option<ExitStatus>,
}

impl Process {
    /// Starts `argv` (already wrapped with `ip netns exec` if wanted) with stdout and stderr
    /// appended to `log`.
    pub fn spawn(name: &str, argv: &[String], log: &Path) -> Result<Process> {
        let Some((program, args)) = argv.split_first() else {
            return Err(Error("empty command".into()));
        };
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .context(format!("opening log {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        // SAFETY: prctl is async-signal-safe and touches only this (child) process.
        unsafe {
            cmd.pre_exec(|| {
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
        let child = cmd
            .spawn()
            .map_err(|e| Error(format!("cannot start {name} (`{}`): {e}", argv.join(" "))))?;
        Ok(Process {
            name: name.to_string(),
            argv: argv.to_vec(),
            child,
            log: log.to_path_buf(),
            exited: None,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The command line.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// Where its output goes.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Whether it is still running (reaps it if it has exited).
    pub fn is_running(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(st)) => {
                self.exited = Some(st);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// Its exit status, once it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.is_running();
        self.exited
    }

    /// Fails if the process has exited (with the tail of its log).
    pub fn ensure_running(&mut self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(Error(format!(
            "{} exited ({:?}); last lines of {}:\n{}",
            self.name,
            self.exited,
            self.log.display(),
            tail.join("\n")
        )))
    }

    /// Sends `signal` (`libc::SIGTERM`, `libc::SIGKILL`, `libc::SIGHUP`, ...) if it is running.
    pub fn signal(&mut self, signal: i32) -> Result<()> {
        if !self.is_running() {
            return Ok(());
        }
        let pid = i32::try_from(self.pid()).map_err(|_| Error("pid out of range".into()))?;
        // SAFETY: kill(2) on our own unreaped child: the pid cannot have been reused.
        let rc = unsafe { libc::kill(pid, signal) };
        if rc != 0 {
            return Err(Error(format!(
                "kill({pid}, {signal}) for {}: {}",
                self.name,
                std::io::Error::last_os_error()
            )));
        }
        Ok(())
    }

    /// Waits up to `timeout` for it to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if !self.is_running() {
                return self.exited;
            }
            if start.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL; always reaps. Returns the exit status.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        let _ = self.signal(libc::SIGTERM);
        if let Some(st) = self.wait_exit(grace) {
            return Some(st);
        }
        self.kill()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let _ = self.signal(libc::SIGKILL);
        self.wait_exit(Duration::from_secs(5))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.is_running() {
            self.stop(STOP_GRACE);
        }
    }
}
