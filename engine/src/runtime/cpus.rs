//! The CPUs a job runs on (`Env::cores`, else the starting thread's affinity mask, which
//! `taskset` sets): its shards are pinned to them in order, and its other threads (snapshot
//! writers, the checkpoint coordinator) run on them too, so that a job embedded in a process
//! confined by `taskset` or by the application stays on the cores it was given.

/// The CPUs the calling thread may run on, ascending; where the kernel does not say (a mask
/// wider than `CPU_SETSIZE`), the online CPUs glommio finds; empty if neither is known.
pub(crate) fn allowed() -> Vec<usize> {
    let mask = affinity();
    if mask.is_empty() {
        return online().unwrap_or_default();
    }
    mask
}

/// The online CPUs, from the machine's topology as glommio reads it (`None` where `/sys`
/// does not tell): the CPUs a shard can be pinned to.
pub(crate) fn online() -> Option<Vec<usize>> {
    glommio::CpuSet::online()
        .ok()
        .map(|s| s.iter().map(|l| l.cpu).collect())
}

/// The calling thread's affinity mask, ascending (empty if the kernel does not say).
fn affinity() -> Vec<usize> {
    // SAFETY: a zeroed `cpu_set_t` is a valid empty set; `sched_getaffinity(0, ..)` writes
    // the calling thread's mask into it (within its size); `CPU_ISSET` reads inside it for
    // every index below `CPU_SETSIZE`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Lets the calling thread run on `cpus` only (nothing happens when it is empty or the
/// kernel refuses: the thread keeps its mask). A thread spawned by a shard inherits the
/// shard's pinning to one core; this gives it the job's cores back.
pub(crate) fn confine(cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    // SAFETY: a zeroed `cpu_set_t` is a valid empty set; `CPU_SET` writes inside it for
    // indices below `CPU_SETSIZE` (larger ones are skipped); `sched_setaffinity(0, ..)`
    // only reads the set and applies to the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The CPUs of a job: the `configured` ones (`Env::cores`, in the order the shards take
/// them), each one the process may run on, else every `allowed` one. The error says what
/// is wrong with the configured list.
pub(crate) fn job_cpus(
    configured: Option<&[usize]>,
    allowed: &[usize],
) -> Result<Vec<usize>, String> {
    let Some(cores) = configured else {
        return Ok(allowed.to_vec());
    };
    if cores.is_empty() {
        return Err("Env::cores: the list of cores is empty".into());
    }
    for (i, c) in cores.iter().enumerate() {
        if cores[..i].contains(c) {
            return Err(format!("Env::cores: core {c} is listed twice"));
        }
        if !allowed.is_empty() && !allowed.contains(c) {
            return Err(format!(
                "Env::cores: core {c} is not one this thread may run on (allowed: {allowed:?})"
            ));
        }
    }
    Ok(cores.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_cores_are_checked_and_kept_in_order() {
        let allowed = [0, 1, 2, 3];
        assert_eq!(job_cpus(None, &allowed), Ok(vec![0, 1, 2, 3]));
        assert_eq!(job_cpus(Some(&[3, 1]), &allowed), Ok(vec![3, 1]));
        assert!(job_cpus(Some(&[]), &allowed).unwrap_err().contains("empty"));
        assert!(job_cpus(Some(&[1, 1]), &allowed)
            .unwrap_err()
            .contains("twice"));
        let e = job_cpus(Some(&[1, 7]), &allowed).unwrap_err();
        assert!(e.contains("core 7") && e.contains("allowed"), "{e}");
        // When the kernel does not say, the list is taken as given.
        assert_eq!(job_cpus(Some(&[7]), &[]), Ok(vec![7]));
    }

    /// A thread spawned by a pinned shard thread gets the job's cores back, and no more.
    #[test]
    fn confine_replaces_an_inherited_pin_with_the_jobs_cores() {
        let all = allowed();
        assert!(!all.is_empty());
        let first = all[0];
        let job = all.clone();
        let seen = std::thread::spawn(move || {
            confine(&[first]);
            let shard = allowed();
            let (inherited, writer) = std::thread::spawn(move || {
                let inherited = allowed();
                confine(&job);
                (inherited, allowed())
            })
            .join()
            .unwrap();
            (shard, inherited, writer)
        })
        .join()
        .unwrap();
        assert_eq!(seen, (vec![first], vec![first], all));
    }
}
