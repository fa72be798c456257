//! The soak's data file, `target/soak-data/soak-<N>MiB.mp4`: its bytes are made from the
//! seed, held in memory to check every response against, and written to disk only when the
//! file there differs.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::splitmix::mix;
use crate::{atomic_file, MIB};

/// The file's bytes (leaked: every task checks against them until the end) and its path,
/// written if needed.
pub fn prepare(config: &Config) -> (&'static [u8], PathBuf) {
    let data: &'static [u8] = Vec::leak(generate(config.file_len, config.seed));
    let file = config
        .data_dir
        .join(format!("soak-{}MiB.mp4", config.file_len / MIB));
    ensure_file(&file, data);
    (data, file)
}

/// The file: 8-byte words `mix(seed ^ word index)`, little-endian. No two windows repeat, so
/// a shifted, mixed-up or stale slice is caught.
fn generate(len: u64, seed: u64) -> Vec<u8> {
    let mut data = Vec::with_capacity(len as usize + 8);
    for word in 0..len.div_ceil(8) {
        data.extend_from_slice(&mix(seed ^ word).to_le_bytes());
    }
    data.truncate(len as usize);
    data
}

/// Writes the file unless it is there with the right bytes.
fn ensure_file(path: &Path, data: &[u8]) {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.len() == data.len() as u64 && std::fs::read(path).is_ok_and(|d| d == data) {
            eprintln!("soak: data file {} is up to date", path.display());
            return;
        }
    }
    eprintln!(
        "soak: writing {} ({} MiB)",
        path.display(),
        data.len() as u64 / MIB
    );
    std::fs::create_dir_all(path.parent().unwrap()).expect("creating the data directory");
    atomic_file::write(path, |out| out.write_all(data)).expect("writing the data file");
}
