//! The binaries compared: tower-range's example server (also built with other features for
//! the variants that ask for them) and the tower-http peer, built in release and copied aside
//! for the run.

use std::path::PathBuf;

use crate::config::Config;
use crate::example_server;

pub fn build(config: &Config) {
    // Builds with features first: each links to the same `examples/server`, so it is copied
    // aside at once, and the default build last leaves `examples/server` as it was.
    for features in feature_sets(config) {
        eprintln!(
            "building the server: cargo build --release --example server --features {features}"
        );
        let status = example_server::build_examples_with_features(
            &config.root,
            &["server"],
            Some(&features),
            "cargo",
        )
        .expect("running cargo");
        assert!(
            status.success(),
            "building the example server with {features} failed"
        );
        copy(
            &config.target_dir.join("release/examples/server"),
            &server_with_features(config, &features),
        );
    }
    eprintln!(
        "building the servers: cargo build --release --example server --example peer_tower_http"
    );
    let status =
        example_server::build_examples(&config.root, &["server", "peer_tower_http"], "cargo")
            .expect("running cargo");
    assert!(status.success(), "building the example servers failed");
}

/// Copies the example binaries into the results directory, so that a rebuild by someone else
/// during the run (the target directory may be shared) cannot change what is measured. The
/// builds with features were copied there by [`build`].
pub fn snapshot(config: &Config) {
    for name in ["server", "peer_tower_http"] {
        copy(
            &config.target_dir.join("release/examples").join(name),
            &config.out_dir.join("bin").join(name),
        );
    }
    for features in feature_sets(config) {
        let binary = server_with_features(config, &features);
        assert!(
            binary.is_file(),
            "{} is missing: drop BENCH_NO_BUILD so that the bench builds it",
            binary.display()
        );
    }
}

/// The example server built with `features`, as the run uses it.
pub fn server_with_features(config: &Config, features: &str) -> PathBuf {
    config
        .out_dir
        .join("bin")
        .join(format!("server--features-{}", features.replace(',', "-")))
}

/// The feature sets the servers of the run ask for, each once.
fn feature_sets(config: &Config) -> Vec<String> {
    let mut sets: Vec<String> = Vec::new();
    for features in config.servers.iter().filter_map(|s| s.features.clone()) {
        if !sets.contains(&features) {
            sets.push(features);
        }
    }
    sets
}

fn copy(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to.parent().expect("a file in a directory")).unwrap();
    let _ = std::fs::remove_file(to);
    std::fs::copy(from, to).unwrap_or_else(|e| {
        panic!(
            "copying {}: {e} (build it, or drop BENCH_NO_BUILD)",
            from.display()
        )
    });
}
