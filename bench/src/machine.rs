//! The machine and the versions the results were taken with.

use std::process::Command;

#[derive(Debug, Default)]
pub struct Machine {
    pub nproc: String,
    pub memory: String,
    pub cpu: String,
    pub kernel: String,
    pub load_before: String,
    pub load_after: String,
    pub versions: Vec<(&'static str, String)>,
    pub date: String,
    pub commit: String,
}

/// Runs a command and returns the first line of its output (stdout, else
/// stderr), or `unknown`.
pub fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|out| {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The 1-minute load average.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

impl Machine {
    pub fn describe(flink_version: &str) -> Machine {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".into());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "unknown".into());
        let requests = first_line(
            "python3",
            &["-c", "import requests; print(requests.__version__)"],
        );
        Machine {
            nproc: first_line("nproc", &[]),
            memory,
            cpu,
            kernel: first_line("uname", &["-r"]),
            load_before: load(),
            load_after: String::new(),
            versions: vec![
                ("Flink", flink_version.to_string()),
                ("Java", first_line("java", &["-version"])),
                ("rustc", first_line("rustc", &["--version"])),
                ("Python", first_line("python3", &["--version"])),
                ("requests", requests),
                ("hyperfine", first_line("hyperfine", &["--version"])),
                ("GNU time", first_line("/usr/bin/time", &["--version"])),
            ],
            date: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            commit: first_line("git", &["rev-parse", "--short", "HEAD"]),
        }
    }
}
