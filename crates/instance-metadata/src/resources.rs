//! CPUs and memory available to this container (cgroup v2), or to the machine.

use std::fmt;
use std::path::PathBuf;

/// Where the CPU count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuSource {
    /// The cgroup's `cpu.max` quota (lower than the CPUs the process may run on).
    CgroupQuota,
    /// `std::thread::available_parallelism` (CPU affinity and the process's own cgroup quota).
    Parallelism,
}

/// Where the memory size came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySource {
    /// The cgroup's `memory.max`.
    CgroupLimit,
    /// `MemTotal` in `/proc/meminfo` (no container limit, or a limit above it).
    MemTotal,
}

/// CPUs and memory available to the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceFacts {
    /// Whole CPUs, at least 1.
    pub cpus: u32,
    /// Where `cpus` came from.
    pub cpu_source: CpuSource,
    /// Bytes of memory, when known.
    pub memory_bytes: Option<u64>,
    /// Where `memory_bytes` came from.
    pub memory_source: MemorySource,
    /// Files that could not be understood (the value was ignored).
    pub warnings: Vec<String>,
}

impl fmt::Display for CpuSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CgroupQuota => "cgroup cpu.max",
            Self::Parallelism => "available parallelism",
        })
    }
}

impl fmt::Display for MemorySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CgroupLimit => "cgroup memory.max",
            Self::MemTotal => "MemTotal",
        })
    }
}

/// Where to read resource limits; every path is injectable for tests.
#[derive(Debug, Clone)]
pub struct ResourceProbe {
    /// The cgroup v2 directory of this container (`/sys/fs/cgroup` inside a container).
    pub cgroup_root: PathBuf,
    /// `/proc/meminfo`.
    pub meminfo: PathBuf,
    /// CPUs the process may run on; `None` asks `std::thread::available_parallelism`.
    pub parallelism: Option<u32>,
}

impl Default for ResourceProbe {
    fn default() -> Self {
        Self {
            cgroup_root: "/sys/fs/cgroup".into(),
            meminfo: "/proc/meminfo".into(),
            parallelism: None,
        }
    }
}

impl ResourceProbe {
    /// Reads the limits. Missing files mean "no limit" (cgroup v1, the root cgroup).
    pub fn read(&self) -> ResourceFacts {
        let mut warnings = Vec::new();
        let mut read = |name: &str, parse: &dyn Fn(&str) -> Option<Option<u64>>| {
            let path = self.cgroup_root.join(name);
            let text = std::fs::read_to_string(&path).ok()?;
            let parsed = parse(&text);
            if parsed.is_none() {
                warnings.push(format!("ignored {}: {:?}", path.display(), text.trim()));
            }
            parsed.flatten()
        };
        let quota = read("cpu.max", &|t| {
            parse_cpu_max(t).map(|q| q.map(|cpus| cpus.floor().max(1.0) as u64))
        });
        let limit = read("memory.max", &parse_memory_max);
        let parallelism = self.parallelism.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        });
        let (cpus, cpu_source) = match quota {
            Some(q) if q < u64::from(parallelism) => (q as u32, CpuSource::CgroupQuota),
            _ => (parallelism.max(1), CpuSource::Parallelism),
        };
        let total = std::fs::read_to_string(&self.meminfo)
            .ok()
            .and_then(|t| parse_meminfo_total(&t));
        let (memory_bytes, memory_source) = match (limit, total) {
            (Some(l), Some(t)) if l < t => (Some(l), MemorySource::CgroupLimit),
            (Some(l), None) => (Some(l), MemorySource::CgroupLimit),
            (_, t) => (t, MemorySource::MemTotal),
        };
        ResourceFacts {
            cpus,
            cpu_source,
            memory_bytes,
            memory_source,
            warnings,
        }
    }
}

/// Parses cgroup v2 `cpu.max` (`"QUOTA PERIOD"` or `"max PERIOD"`) into CPUs (`None`: no
/// limit). `None` for text that is neither.
pub fn parse_cpu_max(text: &str) -> Option<Option<f64>> {
    let mut parts = text.split_whitespace();
    let quota = parts.next()?;
    let period: f64 = parts.next().map_or(Some(100_000.0), |p| p.parse().ok())?;
    if parts.next().is_some() || period <= 0.0 {
        return None;
    }
    if quota == "max" {
        return Some(None);
    }
    let quota: f64 = quota.parse().ok().filter(|q: &f64| *q > 0.0)?;
    Some(Some(quota / period))
}

/// Parses cgroup v2 `memory.max` (bytes or `max`; `None` inside: no limit). `None` for other
/// text.
pub fn parse_memory_max(text: &str) -> Option<Option<u64>> {
    match text.trim() {
        "max" => Some(None),
        bytes => bytes.parse().ok().map(Some),
    }
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut parts = line["MemTotal:".len()..].split_whitespace();
    let kib: u64 = parts.next()?.parse().ok()?;
    matches!(parts.next(), Some("kB") | None).then_some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_max_samples() {
        assert_eq!(parse_cpu_max("max 100000\n"), Some(None));
        assert_eq!(parse_cpu_max("200000 100000\n"), Some(Some(2.0)));
        assert_eq!(parse_cpu_max("150000 100000"), Some(Some(1.5)));
        assert_eq!(parse_cpu_max("50000 100000"), Some(Some(0.5)));
        assert_eq!(parse_cpu_max("max"), Some(None));
        assert_eq!(parse_cpu_max("banana 100000"), None);
        assert_eq!(parse_cpu_max("100000 0"), None);
        assert_eq!(parse_cpu_max(""), None);
    }

    #[test]
    fn parses_memory_max_samples() {
        assert_eq!(parse_memory_max("max\n"), Some(None));
        assert_eq!(parse_memory_max("4294967296\n"), Some(Some(4 << 30)));
        assert_eq!(parse_memory_max("4g"), None);
    }

    #[test]
    fn parses_meminfo() {
        let text = "MemTotal:       16303428 kB\nMemFree:         1234 kB\n";
        assert_eq!(parse_meminfo_total(text), Some(16_303_428 * 1024));
        assert_eq!(parse_meminfo_total("MemFree: 1 kB\n"), None);
    }

    fn probe(cpu_max: Option<&str>, memory_max: Option<&str>, parallelism: u32) -> ResourceFacts {
        let dir = tempfile::tempdir().unwrap();
        if let Some(c) = cpu_max {
            std::fs::write(dir.path().join("cpu.max"), c).unwrap();
        }
        if let Some(m) = memory_max {
            std::fs::write(dir.path().join("memory.max"), m).unwrap();
        }
        let meminfo = dir.path().join("meminfo");
        std::fs::write(&meminfo, "MemTotal:       8388608 kB\n").unwrap();
        ResourceProbe {
            cgroup_root: dir.path().into(),
            meminfo,
            parallelism: Some(parallelism),
        }
        .read()
    }

    #[test]
    fn a_cpu_quota_below_the_host_wins() {
        let f = probe(Some("200000 100000\n"), Some("2147483648\n"), 16);
        assert_eq!((f.cpus, f.cpu_source), (2, CpuSource::CgroupQuota));
        assert_eq!(f.memory_bytes, Some(2 << 30));
        assert_eq!(f.memory_source, MemorySource::CgroupLimit);
    }

    #[test]
    fn fractional_quota_rounds_down_but_not_to_zero() {
        assert_eq!(probe(Some("250000 100000"), None, 8).cpus, 2);
        assert_eq!(probe(Some("50000 100000"), None, 8).cpus, 1);
    }

    #[test]
    fn no_limits_fall_back_to_the_machine() {
        let f = probe(Some("max 100000\n"), Some("max\n"), 4);
        assert_eq!((f.cpus, f.cpu_source), (4, CpuSource::Parallelism));
        assert_eq!(f.memory_bytes, Some(8 << 30));
        assert_eq!(f.memory_source, MemorySource::MemTotal);
        let none = probe(None, None, 3);
        assert_eq!(none.cpus, 3);
        assert!(none.warnings.is_empty());
    }

    #[test]
    fn a_limit_above_the_machine_is_the_machine() {
        let f = probe(None, Some(&(64u64 << 30).to_string()), 4);
        assert_eq!(f.memory_bytes, Some(8 << 30));
        assert_eq!(f.memory_source, MemorySource::MemTotal);
    }

    #[test]
    fn garbage_is_reported_and_ignored() {
        let f = probe(Some("lots"), Some("plenty"), 4);
        assert_eq!(f.cpus, 4);
        assert_eq!(f.warnings.len(), 2);
    }
}
