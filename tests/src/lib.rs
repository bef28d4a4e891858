//! End-to-end tests of flink-ops against real Flink clusters live in `tests/`;
//! the harness they share is the `flink-testkit` crate.
