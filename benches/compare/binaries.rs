//! The binaries compared: tower-range's example server (also built with other features for
//! the variants that ask for them, and with `aws` for the object-store workloads, with their
//! floor `store_copy` beside it) and the tower-http peer, built in release and copied aside
//! for the run.

use std::path::PathBuf;

use crate::config::{Config, Kind};
use crate::{example_server, store};

pub fn build(config: &Config) {
    // Builds with features first: each links to the same `examples/server`, so it is copied
    // aside at once, and the default build last leaves `examples/server` as it was.
    for features in feature_sets(config) {
        // A build with `aws` serves the object store, whose floor needs the same feature.
        let aws = features.split(',').any(|f| f == "aws");
        let examples: &[&str] = if aws {
            &["server", "store_copy"]
        } else {
            &["server"]
        };
        eprintln!(
            "building the server: cargo build --release --example {} --features {features}",
            examples.join(" --example ")
        );
        let status = example_server::build_examples_with_features(
            &config.root,
            examples,
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
        if aws {
            copy(
                &config.target_dir.join("release/examples/store_copy"),
                &store::floor_binary(config),
            );
        }
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
    let floor = store::floor_binary(config);
    let store = config.workloads.iter().any(|w| store::is_store_workload(w));
    let features = feature_sets(config);
    let binaries = features.iter().map(|f| server_with_features(config, f));
    for binary in binaries.chain(store.then_some(floor)) {
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

/// The feature sets the servers of the run ask for, each once: their own, and with `aws`
/// for our servers when an object-store workload runs (a `bin:=PATH` variant brings its own;
/// `aws` alone is built then in any case, for the floor).
fn feature_sets(config: &Config) -> Vec<String> {
    let store = config.workloads.iter().any(|w| store::is_store_workload(w));
    let for_store = config
        .servers
        .iter()
        .filter(|s| store && s.kind == Kind::Ours && s.binary.is_none())
        .map(store::server_features)
        .chain(store.then(|| "aws".to_string()));
    let mut sets: Vec<String> = Vec::new();
    let own = config.servers.iter().filter_map(|s| s.features.clone());
    for features in own.chain(for_store) {
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
