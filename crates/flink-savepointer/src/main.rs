//! The `flink-savepointer` binary: everything is in the library.

fn main() -> std::process::ExitCode {
    flink_savepointer::main()
}
