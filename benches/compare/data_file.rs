//! The data file the servers serve, `target/bench-data/range-<N>MiB.bin`: deterministic
//! bytes any range of which the bench can recompute to check a server's answer, read once
//! before the runs so that they measure the page cache, not the disk.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::splitmix::{mix, GOLDEN};
use crate::{atomic_file, MIB};

/// Byte `i` of the data file: the little-endian bytes of splitmix64 of `i / 8`.
fn data_block(k: u64) -> [u8; 8] {
    mix(k.wrapping_mul(GOLDEN)).to_le_bytes()
}

pub fn expected_bytes(offset: u64, len: usize) -> Vec<u8> {
    (offset..offset + len as u64)
        .map(|i| data_block(i / 8)[(i % 8) as usize])
        .collect()
}

pub fn prepare(config: &Config) -> PathBuf {
    let dir = config.target_dir.join("bench-data");
    std::fs::create_dir_all(&dir).expect("creating target/bench-data");
    let path = dir.join(format!("range-{}MiB.bin", config.file_size / MIB));
    let ok = std::fs::metadata(&path).is_ok_and(|m| m.len() == config.file_size) && {
        let mut file = std::fs::File::open(&path).unwrap();
        let mut head = vec![0u8; 4096];
        file.read_exact(&mut head).is_ok() && head == expected_bytes(0, 4096)
    };
    if ok {
        return path;
    }
    eprintln!(
        "writing {} ({} MiB of deterministic bytes)",
        path.display(),
        config.file_size / MIB
    );
    atomic_file::write(&path, |out| {
        let mut chunk = Vec::with_capacity(MIB as usize);
        for k in 0..config.file_size / 8 {
            chunk.extend_from_slice(&data_block(k));
            if chunk.len() == MIB as usize {
                out.write_all(&chunk)?;
                chunk.clear();
            }
        }
        out.write_all(&chunk)
    })
    .expect("writing the data file");
    path
}

pub fn warm(file: &Path) {
    let mut f = std::fs::File::open(file).unwrap();
    let mut buf = vec![0u8; 4 * MIB as usize];
    while f.read(&mut buf).unwrap() > 0 {}
}
