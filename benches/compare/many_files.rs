//! W7's data tree, `target/bench-data/many-files/dNN/fNNNN.bin`: `BENCH_MANY_FILES` files of
//! 1 MiB, 100 to a directory, written once and reused, and read once before the runs so that
//! every server is measured on the page cache (CPU-bound), not on the disk.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Config;
use crate::data_file::expected_bytes;
use crate::{atomic_file, MIB};

/// Files per directory: two levels keep every directory small, as a media library's are.
pub const PER_DIR: u64 = 100;
/// Every file's size.
pub const FILE_SIZE: u64 = MIB;

/// File `k`'s path relative to the root (also its URL under `/media/`).
pub fn relative(k: u64) -> String {
    format!("d{:02}/f{:04}.bin", k / PER_DIR, k)
}

/// File `k`'s bytes from `offset`: the data file's bytes at `k` MiB on, so that no two files
/// share content and a server that opened the wrong file fails the readiness check.
pub fn expected(k: u64, offset: u64, len: usize) -> Vec<u8> {
    expected_bytes(k * FILE_SIZE + offset, len)
}

/// The tree, written where missing or of the wrong size or content (first 4 KiB checked).
pub fn prepare(config: &Config) -> PathBuf {
    let n = config.many_files;
    assert!(
        n > 0 && n % PER_DIR == 0,
        "BENCH_MANY_FILES={n} must be a positive multiple of {PER_DIR}"
    );
    let root = config.target_dir.join("bench-data").join("many-files");
    std::fs::create_dir_all(&root).expect("creating the many-files tree");
    let missing: Vec<u64> = (0..n).filter(|&k| !intact(&root, k)).collect();
    if missing.is_empty() {
        return root;
    }
    // Fail before writing gigabytes into a disk that cannot hold them: the full tree asks
    // for 15 GiB free (10 GiB of files and room for the rest), a smaller one for its size
    // and 1 GiB.
    let need = if n >= 10_000 {
        15 * 1024 * MIB
    } else {
        missing.len() as u64 * FILE_SIZE + 1024 * MIB
    };
    let free = free_bytes(&root);
    if free < need {
        panic!(
            "{}: {} MiB free, W7 needs {} MiB (BENCH_MANY_FILES sets fewer files)",
            root.display(),
            free / MIB,
            need / MIB
        );
    }
    eprintln!(
        "writing {} files of 1 MiB under {}",
        missing.len(),
        root.display()
    );
    for k in missing {
        let path = root.join(relative(k));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        atomic_file::write(&path, |out| {
            out.write_all(&expected(k, 0, FILE_SIZE as usize))
        })
        .expect("writing a W7 file");
    }
    root
}

fn intact(root: &Path, k: u64) -> bool {
    let path = root.join(relative(k));
    std::fs::metadata(&path).is_ok_and(|m| m.len() == FILE_SIZE) && {
        let mut head = vec![0u8; 4096];
        std::fs::File::open(&path).is_ok_and(|mut f| f.read_exact(&mut head).is_ok())
            && head == expected(k, 0, 4096)
    }
}

/// Free bytes on the file system of `dir`, from `df`.
fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-P", "-B1"])
        .arg(dir)
        .output()
        .expect("running df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or_else(|| panic!("cannot read df's answer for {}", dir.display()))
}

/// Reads every file once, so that the runs find them all in the page cache.
pub fn warm(config: &Config, root: &Path) {
    let mut buf = vec![0u8; FILE_SIZE as usize];
    for k in 0..config.many_files {
        let mut f = std::fs::File::open(root.join(relative(k))).unwrap();
        while f.read(&mut buf).unwrap() > 0 {}
    }
}
