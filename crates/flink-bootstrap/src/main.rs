//! The `flink-bootstrap` binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    flink_bootstrap::main()
}
