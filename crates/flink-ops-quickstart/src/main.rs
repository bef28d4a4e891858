//! The README's quickstart: fetches Flink, starts a local cluster through
//! flink-bootstrap, deploys the example job with flink-deploy, takes a
//! savepoint with flink-savepointer, updates the job, and reports that its
//! state carried over. `down` stops the cluster.

use std::process::ExitCode;

fn main() -> ExitCode {
    match flink_ops_quickstart::main(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quickstart: {e:#}");
            ExitCode::FAILURE
        }
    }
}
