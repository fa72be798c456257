//! Figures the kernel publishes under `/proc`, read the same way by both benches: a
//! process's `status` lines, the load average and the kernel release. Each returns `None`
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
