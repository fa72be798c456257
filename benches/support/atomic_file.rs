//! Writing a data file so that no run ever trusts a half-written one: the bytes go to
//! `NAME.tmp`, are synced, and only then take the real name. An interrupted write leaves
//! the old file or none, and the next run checks and writes again.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

/// Writes `path` with what `fill` writes, all or nothing.
pub fn write(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut out = BufWriter::new(File::create(&tmp)?);
    fill(&mut out)?;
    out.into_inner()?.sync_all()?;
    std::fs::rename(&tmp, path)
}
