//! The shape of every binary's `main`: parse the command line, run, end with one exit code and
//! the error printed once.
//!
//! ```text
//! fn main() -> ExitCode {
//!     let (cli, scrubber) = match flink_ops_cli::parse_command_line::<Cli>() { .. };
//!     flink_ops_cli::finish(run(cli))   // Result<Exit, Failure<Exit>>
//! }
//! ```

use std::ffi::OsString;
use std::process::ExitCode;

use crate::exit::{ExitStatus, Shared};
use crate::failure::Failure;
use crate::secrets::Scrubber;

/// Parses the process's command line into `C`. On `--help`/`--version` prints them and returns
/// 0; on a usage error prints it with secrets scrubbed and returns 2.
pub fn parse_command_line<C: clap::Parser>() -> Result<(C, Scrubber), ExitCode> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let scrubber = Scrubber::new(&args, process_vars());
    match C::try_parse_from(&args) {
        Ok(cli) => Ok((cli, scrubber)),
        Err(e) => Err(print_clap_error(&e, &scrubber)),
    }
}

/// The process environment as `(name, value)` pairs (values that are not UTF-8 are skipped).
pub fn process_vars() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Prints a clap error (help and version go to stdout) with secrets scrubbed; its exit code.
pub fn print_clap_error(e: &clap::Error, scrubber: &Scrubber) -> ExitCode {
    let text = scrubber.scrub(&e.render().to_string());
    if e.use_stderr() {
        eprint!("{text}");
        ExitCode::from(Shared::Usage.code())
    } else {
        print!("{text}");
        ExitCode::SUCCESS
    }
}

/// The async runtime of a binary, or a failure to end with (never a panic).
pub fn runtime<E: ExitStatus>(failure_code: E) -> Result<tokio::runtime::Runtime, Failure<E>> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                failure_code,
                anyhow::Error::new(e).context("cannot start the async runtime"),
            )
        })
}

/// Ends a binary: the code of `result`, with a failure printed once (its whole cause chain).
pub fn finish<E: ExitStatus>(result: Result<E, Failure<E>>) -> ExitCode {
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(failure) => {
            if tracing::dispatcher::has_been_set() {
                tracing::error!("{failure}");
            } else {
                eprintln!("error: {failure}");
            }
            ExitCode::from(failure.exit.code())
        }
    }
}
