//! DOC: running short commands (ip, birdc, vtysh, gobgp, bgpd's CLI) with a time limit, inside
//! a network namespace or not, capturing their output. A command that hangs is killed at its
//! deadline; a command that fails is an error carrying its stderr.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Default limit for one query command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// The result of a finished command.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Builds the argv that runs `program args` inside namespace `ns` (`ip netns exec NS ...`).
pub fn in_netns(ns: Option<&str>, program: &str, args: &[&str]) -> Vec<String> {
    let mut argv = Vec::new();
    if let Some(ns) = ns {
        argv.extend(["ip", "netns", "exec", ns].map(String::from));
    }
    argv.push(program.to_string());
    argv.extend(args.iter().map(|s| s.to_string()));
    argv
}

/// Runs `argv` to completion within `timeout`, whatever its exit status.
pub fn run_raw(argv: &[String], timeout: Duration) -> Result<Output> {
    let Some((program, args)) = argv.split_first() else {
        return Err(Error("empty command".into()));
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error(format!("cannot run `{}`: {e}", argv.join(" "))))?;
    // Drain both pipes on threads so a large output (100k routes) cannot block the child.
    let mut out = child
        .stdout
        .take()
        .ok_or_else(|| Error("no stdout pipe".into()))?;
    let mut err = child
        .stderr
        .take()
        .ok_or_else(|| Error("no stderr pipe".into()))?;
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error(format!(
                "`{}` did not finish within {:?} (killed)",
                argv.join(" "),
                timeout
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    Ok(Output {
        code: status.code(),
        stdout,
        stderr,
    })
}

/// Runs `argv` and returns its stdout; a non-zero exit is an error with stderr and stdout.
pub fn run_argv(argv: &[String], timeout: Duration) -> Result<String> {
    let o = run_raw(argv, timeout)?;
    if o.code != Some(0) {
        return Err(Error(format!(
            "`{}` failed ({}): {}{}",
            argv.join(" "),
            o.code
                .map_or("killed by a signal".to_string(), |c| format!("exit {c}")),
            o.stderr.trim(),
            if o.stdout.trim().is_empty() {
                String::new()
            } else {
                format!(" / stdout: {}", truncate(o.stdout.trim(), 2000))
            }
        )));
    }
    Ok(o.stdout)
}

/// Runs `program args` (in namespace `ns` if given) with the default timeout; stdout on success.
pub fn run(ns: Option<&str>, program: &str, args: &[&str]) -> Result<String> {
    run_argv(&in_netns(ns, program, args), COMMAND_TIMEOUT)
}

/// `ip ARGS` in the root namespace (use `-n NS` inside `args` for a namespace).
pub fn ip(args: &[&str]) -> Result<String> {
    run(None, "ip", args)
}

/// Cuts `s` to at most `max` bytes (on a char boundary) for error messages.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes more)", &s[..end], s.len() - end)
}
