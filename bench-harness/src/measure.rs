//! Measuring one run: wall time, CPU time of the whole process, and peak resident memory.
//!
//! CPU time comes from `getrusage(RUSAGE_SELF)`, which sums every thread of the process,
//! including shard threads that have already exited; a run's CPU time is the difference
//! before and after it. Peak RSS is the kernel's high-water mark (`VmHWM`), reset before
//! each run by writing `5` to `/proc/self/clear_refs`, so each repeat reports its own peak
//! rather than the process's; where the reset is refused the figure is the process's peak
//! so far (`ru_maxrss`), and [`Sample::rss_reset`] says so.

use std::time::Instant;

/// What one run cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// User plus system CPU seconds of the process during the run.
    pub cpu_s: f64,
    /// Peak resident set size in bytes.
    pub peak_rss_bytes: u64,
    /// `true` when the peak was reset before the run (a per-run peak), `false` when it is
    /// the process's peak so far.
    pub rss_reset: bool,
}

/// Runs `f` once and measures it; returns `f`'s result with the measurement.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Sample) {
    let rss_reset = reset_peak_rss();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let r = f();
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu0;
    let sample = Sample {
        wall_s,
        cpu_s,
        peak_rss_bytes: peak_rss_bytes(),
        rss_reset,
    };
    (r, sample)
}

/// User plus system CPU seconds the process has used so far (all threads).
pub fn cpu_seconds() -> f64 {
    let u = rusage();
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// The process's peak resident set size in bytes: `VmHWM`, or `ru_maxrss` where
/// `/proc` cannot be read.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| parse_vm_hwm(&s))
        .unwrap_or_else(|| (rusage().ru_maxrss.max(0) as u64) * 1024)
}

/// Resets the kernel's peak-RSS mark to the current RSS; `false` if the kernel refused.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The `VmHWM:` line of `/proc/self/status`, in bytes.
fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn rusage() -> libc::rusage {
    // SAFETY: `rusage` is plain old data; all-zero bytes is a valid value of it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable `rusage`; RUSAGE_SELF is a valid `who`. The call
    // cannot fail with these arguments, and on failure `u` stays zeroed.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    u
}

/// The median of `xs` (the mean of the middle two for an even count); `NaN` when empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn vm_hwm_is_parsed_in_bytes() {
        let status = "Name:\tx\nVmPeak:\t  999 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(1234 * 1024));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
    }

    #[test]
    fn a_run_that_spins_uses_cpu_and_has_a_peak() {
        let (n, s) = measure(|| {
            let mut x = 0u64;
            let t = Instant::now();
            while t.elapsed().as_millis() < 30 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            x
        });
        assert!(n > 0);
        assert!(s.wall_s >= 0.03);
        assert!(s.cpu_s > 0.0);
        assert!(s.peak_rss_bytes > 0);
    }
}
