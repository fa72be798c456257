//! Figures the kernel publishes under `/proc`, read the same way by both benches: a
//! process's `status` lines and CPU time, the load average and the kernel release. Each returns `None`
//! when the file cannot be read, and each bench decides what its report shows then.

/// `/proc/<pid>/status`, whose lines are `Name:<whitespace>value[ kB]`.
pub fn status(pid: u32) -> std::io::Result<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
}

/// The number on the first line of a `status` text that starts with `field` (`VmRSS:`,
/// `VmHWM:`, `Threads:`; the `Vm` figures are in KiB).
pub fn status_field(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` writes them.
pub fn load_average() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// The running kernel's release, e.g. `6.1.0-18-amd64`.
pub fn kernel_release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|r| r.trim().to_string())
}

/// The clock ticks of `/proc/*/stat` (USER_HZ, 100 on every Linux this runs on).
pub const TICKS: f64 = 100.0;

/// utime + stime of `pid` (`"self"` for this process, every thread), in seconds.
pub fn cpu_s(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name: state is field 3, so utime (14) and stime (15) are at 11, 12.
    stat_fields_cpu(&stat, 11)
}

/// The sum of two `/proc/*/stat` tick fields counted from after the command name, in seconds.
pub fn stat_fields_cpu(stat: &str, first: usize) -> f64 {
    let fields: Vec<f64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|v| v.parse().unwrap_or(0.0))
                .collect()
        })
        .unwrap_or_default();
    (fields.get(first).unwrap_or(&0.0) + fields.get(first + 1).unwrap_or(&0.0)) / TICKS
}
