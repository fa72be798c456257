//! Files of the tests: the repository, a fresh directory per test under cargo's target tmp dir
//! (left in place after the test, for a look at what a failing test wrote), and reads and
//! writes that name the file when they fail.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The repository root.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty directory for one test's files. The process id keeps two runs of the test
/// binary at once out of each other's way; the directories of earlier runs whose process
/// has ended are removed, so that runs do not pile up (64 MB a run for some tests).
pub fn temp_dir(test: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = root.join(format!("{test}-{}", std::process::id()));
    remove_ended_runs(&root, test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// Removes `root/{test}-{pid}` of processes that are no longer running (Linux: `/proc/PID`).
fn remove_ended_runs(root: &Path, test: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(test))
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A file `name` holding `bytes`, alone in a fresh [`temp_dir`] for `test`.
pub fn temp_file(test: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let path = temp_dir(test).join(name);
    write(&path, bytes);
    path
}

/// Reads a whole file or panics with its name.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Writes `bytes` to `path` or panics with its name.
pub fn write(path: &Path, bytes: &[u8]) {
    let mut f =
        std::fs::File::create(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    f.write_all(bytes)
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
