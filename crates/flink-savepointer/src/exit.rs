//! The exit codes of `flink-savepointer`: the toolkit's shared ones and its own.

flink_ops_cli::exit_codes! {
    /// How `flink-savepointer` ends (`run` ends with 0 on SIGTERM/SIGINT).
    pub enum Exit {
        /// A `--job-name` matches no running job, and nothing else failed.
        JobNotFound = 10 => "a --job-name matches no running job (and nothing else failed)",
        /// Retention chose savepoints it could not delete (or list after a savepoint).
        RetentionIncomplete = 11 => "retention could not list or delete some savepoints; the next run tries again",
    }
}
