//! The clocks the harnesses read. `converge` compares its own [`mono_ns`] readings with the
//! ones `inject` prints with its events, so both must read the same clock: this one.

fn read(clock: libc::clockid_t) -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

/// `CLOCK_MONOTONIC` in nanoseconds (shared by every process on the machine).
pub fn mono_ns() -> u128 {
    read(libc::CLOCK_MONOTONIC)
}

/// The calling thread's CPU time in nanoseconds.
pub fn thread_cpu_ns() -> u128 {
    read(libc::CLOCK_THREAD_CPUTIME_ID)
}
