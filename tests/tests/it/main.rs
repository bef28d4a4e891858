//! The end-to-end tests, one module per area, in one test binary: linked
//! once instead of once per area.
//!
//! Run one area with a name filter, e.g.
//! `cargo nextest run -p flink-ops-tests -E 'test(/^deploy::/)'`, one
//! Flink version with `-E 'test(/_on_flink_2_3$/)'`.

mod bad_input;
mod bootstrap;
mod buckets;
mod cloudbuild;
mod common;
mod containers;
mod deploy;
mod deploy_buckets;
mod deploy_hardening;
mod deploy_names;
mod deploy_release;
mod deploy_rescale;
mod hostile_jobmanager;
mod quickstart;
mod quickstart_state;
mod readme;
mod recommend;
mod recovery;
mod release_buckets;
mod rest_client;
mod rest_tls;
mod savepoint_layout;
mod savepointer;
mod savepointer_buckets;
mod savepointer_hardening;
mod scale;
mod version_matrix;
