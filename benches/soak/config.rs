//! The soak's settings: the `SOAK_*` environment variables with their defaults, the
//! open-files limit they must fit in, and where the server binary came from.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::nofile::raise_nofile;
use crate::{env, MIB};

pub struct Config {
    pub requests: u64,
    pub concurrency: usize,
    pub h2_percent: usize,
    pub file_len: u64,
    pub connections: usize,
    pub stalled: usize,
    pub budgets: Vec<Option<u64>>,
    pub rounds: usize,
    pub seed: u64,
    pub build: bool,
    pub root: PathBuf,
    pub server: PathBuf,
    pub data_dir: PathBuf,
}

impl Config {
    pub fn from_env() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target =
            env::value("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
        let connections: usize = env::number("SOAK_CONNECTIONS", 10_000);
        let budgets = env::value("SOAK_BUDGETS")
            .unwrap_or_else(|| "default,8388608".into())
            .split(',')
            .map(|b| match b.trim() {
                "default" => None,
                n => Some(n.parse().expect("SOAK_BUDGETS: numbers or `default`")),
            })
            .collect();
        Self {
            requests: env::number("SOAK_REQUESTS", 10_000),
            concurrency: env::number("SOAK_CONCURRENCY", 200),
            h2_percent: env::number("SOAK_H2_PERCENT", 25),
            file_len: env::number::<u64>("SOAK_FILE_MIB", 256) * MIB,
            connections,
            stalled: env::number("SOAK_STALLED", connections / 2).min(connections),
            budgets,
            rounds: env::number("SOAK_ROUNDS", 2).max(1),
            seed: env::number("SOAK_SEED", 0x50a4_2026),
            build: env::value("SOAK_BUILD").is_none_or(|v| v != "0"),
            server: env::value("SOAK_SERVER")
                .map_or_else(|| target.join("release/examples/server"), PathBuf::from),
            data_dir: target.join("soak-data"),
            root,
        }
    }

    /// Raises the open-files limit as far as it goes and, when the connections would not
    /// fit in it (the server inherits it), opens fewer; returns a note saying so.
    pub fn fit_to_open_files(&mut self) -> Option<String> {
        let nofile = raise_nofile();
        let needed = self.connections as u64 + self.concurrency as u64 + 200;
        if nofile >= needed {
            return None;
        }
        let connections = nofile.saturating_sub(self.concurrency as u64 + 200) as usize;
        let note = format!(
            "RLIMIT_NOFILE is {nofile}: {connections} connections instead of {}",
            self.connections
        );
        self.stalled = self.stalled * connections / self.connections.max(1);
        self.connections = connections;
        Some(note)
    }

    /// What the summary names as the server's version.
    pub fn server_version(&self) -> String {
        match env::value("SOAK_SERVER") {
            Some(path) => format!("{path} (SOAK_SERVER)"),
            None => source_version(&self.root),
        }
    }
}

/// The commit the server was built from, and whether the tree the build saw differs from it.
fn source_version(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty = git(&[
        "status",
        "--porcelain",
        "--",
        "src",
        "examples",
        "Cargo.toml",
    ])
    .is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{commit} + uncommitted changes in src/, examples/ or Cargo.toml")
    } else {
        commit
    }
}
