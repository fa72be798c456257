//! The binaries compared: tower-range's example server and the tower-http peer, built in
//! release and copied aside for the run.

use crate::config::Config;
use crate::example_server;

pub fn build(config: &Config) {
    eprintln!(
        "building the servers: cargo build --release --example server --example peer_tower_http"
    );
    let status =
        example_server::build_examples(&config.root, &["server", "peer_tower_http"], "cargo")
            .expect("running cargo");
    assert!(status.success(), "building the example servers failed");
}

/// Copies the example binaries into the results directory, so that a rebuild by someone else
/// during the run (the target directory may be shared) cannot change what is measured.
pub fn snapshot(config: &Config) {
    let dir = config.out_dir.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["server", "peer_tower_http"] {
        let from = config.target_dir.join("release/examples").join(name);
        let to = dir.join(name);
        let _ = std::fs::remove_file(&to);
        std::fs::copy(&from, &to).unwrap_or_else(|e| {
            panic!(
                "copying {}: {e} (build it, or drop BENCH_NO_BUILD)",
                from.display()
            )
        });
    }
}
