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
//! - [`eventually`]: wait for a condition with the suite's patience.
#![deny(missing_docs)]

mod cache;
mod cluster;
mod dist;
mod jobs;
mod wait;

pub use cache::cache_dir;
pub use cluster::{free_port, Cluster, ClusterBuilder, Launch, Role};
pub use dist::{FlinkDist, SUPPORTED_VERSIONS};
pub use gce_metadata_standin::{GceTree, MetadataStandin};
pub use jobs::{
    counter_value, example_jar, wait_counter_at_least, wait_counter_parallelism, JobVariant,
    EXAMPLE_MAIN_CLASS,
};
pub use wait::{eventually, patience, wait_running, wait_terminal};

/// The path of a binary of this workspace built by the same `cargo build` /
/// `cargo test` / `cargo nextest` run as the calling test.
///
/// Test executables live in `target/<profile>/deps/`; the workspace's
/// binaries one level up.
pub fn workspace_bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let mut dir = exe.parent().expect("a directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{} was not built: run the tests through `cargo nextest run --workspace` or `cargo test --workspace`, \
         which build every binary of the workspace",
        bin.display()
    );
    bin
}
