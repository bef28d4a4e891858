//! Real Flink for flink-ops' tests, the quickstart and the benchmarks.
//!
//! - [`FlinkDist`]: a Flink distribution fetched from PyPI (the only place
//!   this project can get Flink from) and laid out as a `FLINK_HOME`, cached
//!   outside the source tree and safe to fetch from two processes at once.
//! - [`example_jar`]: the example job (a keyed counter whose state survives a
//!   restore), compiled with `javac` against that distribution, in variants.
//! - [`Cluster`]: a standalone session cluster on free ports whose processes
//!   are always torn down and whose logs are printed when a test fails.
//!   [`ClusterBuilder::launcher`] starts its processes through another
//!   command, such as an entrypoint that execs Flink's scripts.
//! - [`MetadataStandin`]: the GCE metadata server, for processes that read
//!   instance metadata.
//! - [`GcsEmulator`], [`S3Emulator`]: fake-gcs-server and moto's S3, for `gs://` and `s3://`
//!   savepoint roots.
//! - [`eventually`]: wait for a condition with the suite's patience, under
//!   one overall deadline.
//! - [`each_version`]: one scenario, a `#[tokio::test]` per version in
//!   [`SUPPORTED_VERSIONS`] (the full suites); [`each_smoke_version`]: one per
//!   version in [`SMOKE_VERSIONS`] (the rest of [`MATRIX_VERSIONS`]).
#![deny(missing_docs)]

mod cache;
mod cluster;
mod dist;
mod jobs;
mod stores;
mod wait;

pub use cache::cache_dir;
pub use cluster::{free_port, Cluster, ClusterBuilder, Launch, Role};
pub use dist::{FlinkDist, MATRIX_VERSIONS, SMOKE_VERSIONS, SUPPORTED_VERSIONS};
pub use flink_testkit_macros::{each_smoke_version, each_version};
pub use gce_metadata_standin::{GceTree, MetadataStandin};
pub use jobs::{
    counter_value, example_jar, wait_counter_at_least, wait_counter_parallelism, JobVariant,
    EXAMPLE_MAIN_CLASS, SELF_NAMED_JOB,
};
pub use stores::{Emulated, GcsEmulator, S3Emulator};
pub use wait::{eventually, patience, wait_running, wait_terminal};

/// The path of a binary of this workspace, built up to date first.
///
/// Test executables live in `target/<profile>/deps/`; the workspace's
/// binaries one level up. `cargo test` and `cargo nextest` build a binary
/// there only for its own package's tests, so the first call for each
/// binary in a test process runs `cargo build --bin NAME` (a no-op when it
/// is fresh; cargo's lock serialises concurrent test processes).
pub fn workspace_bin(name: &str) -> std::path::PathBuf {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);

    let exe = std::env::current_exe().expect("the test executable's path");
    let mut dir = exe.parent().expect("a directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built
        .get_or_insert_with(HashSet::new)
        .insert(name.to_string())
    {
        let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.current_dir(&workspace)
            .args(["build", "--locked", "--quiet", "--bin", name]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo to build {name}: {e}"));
        assert!(status.success(), "cargo build --bin {name} failed");
    }
    assert!(
        bin.is_file(),
        "{} is missing after cargo build",
        bin.display()
    );
    bin
}
