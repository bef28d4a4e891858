//! Whole-process measurements with GNU time, and summaries of repeated runs.

use std::path::Path;
use std::process::{Command, ExitStatus};

use anyhow::{bail, Context, Result};

/// GNU time, which reports a process tree's peak RSS and CPU time.
pub const GNU_TIME: &str = "/usr/bin/time";

/// One process (and the children it waited for): wall time and peak RSS
/// as GNU time reports them; CPU time from `getrusage(RUSAGE_CHILDREN)`
/// around it, in microseconds rather than GNU time's 10 ms steps (it
/// includes GNU time's own, about 1 ms).
#[derive(Debug, Clone, Copy)]
pub struct ProcStats {
    /// Elapsed wall-clock seconds.
    pub wall_s: f64,
    /// User CPU seconds.
    pub user_s: f64,
    /// System CPU seconds.
    pub sys_s: f64,
    /// Peak resident set size in KiB: the largest single process of the tree.
    pub max_rss_kb: u64,
}

impl ProcStats {
    /// User plus system CPU seconds.
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }

    /// Elapsed wall-clock seconds.
    pub fn wall(&self) -> f64 {
        self.wall_s
    }

    /// Peak RSS in MiB.
    pub fn rss_mb(&self) -> f64 {
        self.max_rss_kb as f64 / 1024.0
    }
}

/// A finished, measured process.
#[derive(Debug)]
pub struct Timed {
    pub stats: ProcStats,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Timed {
    /// Fails with the process' output unless it exited 0.
    pub fn ok(self, what: &str) -> Result<Self> {
        if !self.status.success() {
            bail!(
                "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
                self.status,
                tail(&self.stdout, 40),
                tail(&self.stderr, 40)
            );
        }
        Ok(self)
    }
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `cmd` under `/usr/bin/time -f` and collects its output and figures.
pub async fn timed(cmd: &Command, scratch: &Path) -> Result<Timed> {
    let report = tempfile::NamedTempFile::new_in(scratch).context("a file for GNU time")?;
    let mut wrapped = tokio::process::Command::new(GNU_TIME);
    wrapped
        .arg("-o")
        .arg(report.path())
        .args(["-f", "%e %U %S %M"])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(std::process::Stdio::null());
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    // The bench runs one measured process at a time: the children reaped
    // meanwhile are this one (and GNU time).
    let before = children_cpu();
    let out = wrapped
        .output()
        .await
        .with_context(|| format!("cannot run {:?} under {GNU_TIME}", cmd.get_program()))?;
    let after = children_cpu();
    let text = std::fs::read_to_string(report.path()).context("GNU time's report")?;
    // A non-zero exit adds a "Command exited with non-zero status" line first.
    let line = text.lines().last().unwrap_or_default();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let parse = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .with_context(|| format!("GNU time reported {text:?}"))
    };
    Ok(Timed {
        stats: ProcStats {
            wall_s: parse(0)?,
            user_s: after.0 - before.0,
            sys_s: after.1 - before.1,
            max_rss_kb: parse(3)? as u64,
        },
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// User and system CPU seconds of every reaped child so far.
fn children_cpu() -> (f64, f64) {
    use nix::sys::resource::{getrusage, UsageWho};
    use nix::sys::time::TimeValLike;
    match getrusage(UsageWho::RUSAGE_CHILDREN) {
        Ok(usage) => (
            usage.user_time().num_microseconds() as f64 / 1e6,
            usage.system_time().num_microseconds() as f64 / 1e6,
        ),
        Err(_) => (f64::NAN, f64::NAN),
    }
}

/// CPU seconds GNU time itself adds to a measurement: the median of
/// `/usr/bin/time true` minus that of `true`, over ten runs each.
pub fn gnu_time_overhead_s() -> f64 {
    let cpu = |program: &str, args: &[&str]| {
        let mut all = Series::default();
        for _ in 0..10 {
            let (u0, s0) = children_cpu();
            let _ = Command::new(program).args(args).status();
            let (u1, s1) = children_cpu();
            all.push(u1 - u0 + s1 - s0);
        }
        all.median().unwrap_or(0.0)
    };
    cpu(GNU_TIME, &["-o", "/dev/null", "true"]) - cpu("true", &[])
}

/// Repeated measurements of one figure.
#[derive(Debug, Clone, Default)]
pub struct Series(pub Vec<f64>);

impl Series {
    pub fn push(&mut self, v: f64) {
        self.0.push(v);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    pub fn median(&self) -> Option<f64> {
        let v = self.sorted();
        let n = v.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    }

    pub fn min(&self) -> Option<f64> {
        self.sorted().first().copied()
    }

    pub fn max(&self) -> Option<f64> {
        self.sorted().last().copied()
    }

    /// `median (min–max)` with `digits` decimals, or `n/a`.
    pub fn show(&self, digits: usize) -> String {
        match (self.median(), self.min(), self.max()) {
            (Some(m), Some(lo), Some(hi)) if self.0.len() > 1 => {
                format!("{m:.digits$} ({lo:.digits$}–{hi:.digits$})")
            }
            (Some(m), _, _) => format!("{m:.digits$}"),
            _ => "n/a".into(),
        }
    }
}

/// `a / b` of two medians, as `1.23x`, or `n/a`.
pub fn ratio(a: &Series, b: &Series) -> Option<f64> {
    match (a.median(), b.median()) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// A ratio for a table cell.
pub fn show_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r:.2}x"))
        .unwrap_or_else(|| "n/a".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(Series(vec![3.0, 1.0, 2.0]).median(), Some(2.0));
        assert_eq!(Series(vec![4.0, 1.0, 2.0, 3.0]).median(), Some(2.5));
        assert_eq!(Series(vec![]).median(), None);
    }

    #[test]
    fn shows_the_spread_only_for_several_runs() {
        assert_eq!(Series(vec![2.0, 1.0, 3.0]).show(1), "2.0 (1.0–3.0)");
        assert_eq!(Series(vec![2.0]).show(1), "2.0");
        assert_eq!(Series(vec![]).show(1), "n/a");
    }

    #[test]
    fn ratio_of_medians() {
        let a = Series(vec![3.0, 3.0]);
        let b = Series(vec![1.0, 2.0]);
        assert_eq!(show_ratio(ratio(&a, &b)), "2.00x");
        assert_eq!(show_ratio(ratio(&a, &Series(vec![]))), "n/a");
    }
}
