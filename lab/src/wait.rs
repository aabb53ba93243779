//! DOC: waiting for convergence with deadlines, never fixed sleeps. A condition is polled until
//! it holds or the deadline passes; the timeout error names the condition and the last state
//! observed, so a failed wait says what the lab looked like, not just "timed out".

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// What one poll of a condition saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The condition holds.
    pub done: bool,
    /// A description of the state seen (shown if the wait times out).
    pub state: String,
}

impl Observed {
    /// The condition holds.
    pub fn done(state: impl Into<String>) -> Self {
        Observed {
            done: true,
            state: state.into(),
        }
    }
    /// Not yet; `state` says what was seen.
    pub fn pending(state: impl Into<String>) -> Self {
        Observed {
            done: false,
            state: state.into(),
        }
    }
    /// `done` if `ok`, with the same state text either way.
    pub fn when(ok: bool, state: impl Into<String>) -> Self {
        Observed {
            done: ok,
            state: state.into(),
        }
    }
}

/// Polls `check` every `interval` until it returns `Ok(true)`, or fails after `deadline` with
/// an error naming `description` and the last observation (`false`, or the last error text:
/// errors while polling count as "not yet", e.g. a control socket that is not up yet).
pub fn wait_until(
    deadline: Duration,
    interval: Duration,
    description: &str,
    mut check: impl FnMut() -> Result<bool>,
) -> Result<()> {
    wait_observing(deadline, interval, description, || {
        check().map(|ok| Observed::when(ok, "condition false"))
    })
    .map(|_| ())
}

/// Like [`wait_until`], but the check describes what it saw, and the final observation's state
/// text is returned on success.
pub fn wait_observing(
    deadline: Duration,
    interval: Duration,
    description: &str,
    mut check: impl FnMut() -> Result<Observed>,
) -> Result<String> {
    let start = Instant::now();
    let mut polls = 0u32;
    let mut last: String;
    loop {
        polls += 1;
        match check() {
            Ok(o) if o.done => return Ok(o.state),
            Ok(o) => last = o.state,
            Err(e) => last = format!("error: {e}"),
        }
        let elapsed = start.elapsed();
        if elapsed >= deadline {
            return Err(Error(format!(
                "timed out after {:.1}s ({polls} polls) waiting for: {description}\n  last observed: {last}",
                elapsed.as_secs_f64()
            )));
        }
        std::thread::sleep(interval.min(deadline - elapsed));
    }
}

/// Polls `get` until it yields `Some(value)`; same timeout rules as [`wait_observing`]. The
/// check returns `Err(state)`-like pending observations as `Ok(Err(state))`.
pub fn wait_for<T>(
    deadline: Duration,
    interval: Duration,
    description: &str,
    mut get: impl FnMut() -> Result<std::result::Result<T, String>>,
) -> Result<T> {
    let mut value = None;
    wait_observing(deadline, interval, description, || match get()? {
        Ok(v) => {
            value = Some(v);
            Ok(Observed::done("ok"))
        }
        Err(state) => Ok(Observed::pending(state)),
    })?;
    value.ok_or_else(|| Error("wait_for: value vanished".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_out_with_last_state() {
        let mut n = 0;
        let err = wait_observing(
            Duration::from_millis(50),
            Duration::from_millis(10),
            "n reaches 1000",
            || {
                n += 1;
                Ok(Observed::pending(format!("n = {n}")))
            },
        )
        .unwrap_err();
        assert!(err.0.contains("n reaches 1000"), "{err}");
        assert!(err.0.contains("last observed: n = "), "{err}");
    }

    #[test]
    fn errors_count_as_pending_and_success_returns() {
        let mut n = 0;
        wait_until(
            Duration::from_secs(5),
            Duration::from_millis(1),
            "third poll",
            || {
                n += 1;
                if n < 3 {
                    Err(Error("socket not up".into()))
                } else {
                    Ok(true)
                }
            },
        )
        .unwrap();
        assert_eq!(n, 3);
        let err = wait_until(Duration::ZERO, Duration::ZERO, "never", || {
            Err(Error("boom".into()))
        })
        .unwrap_err();
        assert!(err.0.contains("error: boom"), "{err}");
    }
}
