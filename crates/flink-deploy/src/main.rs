fn main() -> std::process::ExitCode {
    flink_deploy::main()
}
