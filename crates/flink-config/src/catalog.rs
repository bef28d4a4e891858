//! Known Flink keys and the shape of their values.
//!
//! `generated.rs` holds every `ConfigOption` (and deprecated alias) defined in flink-dist 1.20.3
//! ("V1") and 2.3.0 ("V2"), extracted by `tools/extract-config-keys.py`. Hand-written overrides
//! tighten a few types (hosts, positive slot counts, the restart strategy names) and cover older
//! versions where a key had another type.

use std::net::IpAddr;

use crate::FlinkVersion;

mod generated;

/// The shape of a key's value, as Flink parses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Any single-line text.
    String,
    /// `true` or `false` (any case).
    Boolean,
    /// A whole number.
    Integer,
    /// A whole number greater than zero.
    PositiveInteger,
    /// A floating point number.
    Float,
    /// A number with an optional time unit (`15 s`, `2 min`); a bare number means milliseconds.
    Duration,
    /// A number with an optional size unit (`1728m`, `2 gb`); a bare number means bytes.
    MemorySize,
    /// A `;`-separated list.
    List,
    /// `k1:v1,k2:v2`.
    Map,
    /// A host name or an IP address.
    Host,
    /// One of the names (any case); no names means they are not known, and any value passes.
    Enum(&'static [&'static str]),
}

/// Which of the catalog's two reference versions defines a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Era {
    All,
    V1,
    V2,
}

/// One catalog entry.
#[derive(Debug)]
struct KeyDef {
    key: &'static str,
    ty: ValueType,
    era: Era,
}

impl KeyDef {
    const fn new(key: &'static str, ty: ValueType, era: Era) -> Self {
        Self { key, ty, era }
    }

    fn applies_to(&self, version: FlinkVersion) -> bool {
        match self.era {
            Era::All => true,
            Era::V1 => version.major < 2,
            Era::V2 => version.major >= 2,
        }
    }
}

const RESTART_STRATEGIES: &[&str] = &[
    "none",
    "off",
    "disable",
    "fixeddelay",
    "fixed-delay",
    "failurerate",
    "failure-rate",
    "exponentialdelay",
    "exponential-delay",
];

/// Types that are stricter than Flink's own declaration, for every version.
fn override_for(key: &str, version: FlinkVersion) -> Option<ValueType> {
    Some(match key {
        "jobmanager.rpc.address"
        | "jobmanager.bind-host"
        | "taskmanager.host"
        | "taskmanager.bind-host"
        | "rest.address"
        | "rest.bind-address" => ValueType::Host,
        "taskmanager.numberOfTaskSlots" => ValueType::PositiveInteger,
        "restart-strategy.type" => ValueType::Enum(RESTART_STRATEGIES),
        // Milliseconds as a plain long before 1.20, a Duration since.
        "heartbeat.timeout" | "heartbeat.interval" if !version.at_least(1, 20) => {
            ValueType::Integer
        }
        _ => return None,
    })
}

/// Prefixes of keys that Flink or its plugins build at run time (reporter names, file system
/// options, env vars); any key under them is accepted as a string.
const OPEN_PREFIXES: &[&str] = &[
    "metrics.reporter.",
    "traces.reporter.",
    "events.reporter.",
    "containerized.master.env.",
    "containerized.taskmanager.env.",
    "external-resource.",
    "s3.",
    "s3a.",
    "fs.",
    "gs.",
    "flink.hadoop.",
    "kubernetes.",
    "yarn.",
    "table.",
    "sql-gateway.",
    "python.",
];

fn defs(key: &str) -> &'static [KeyDef] {
    let keys = generated::KEYS;
    let start = keys.partition_point(|d| d.key < key);
    let end = start + keys[start..].partition_point(|d| d.key == key);
    &keys[start..end]
}

/// The type of `key` in `version`, or `None` when the key is unknown to that version.
pub fn lookup(key: &str, version: FlinkVersion) -> Option<ValueType> {
    override_for(key, version)
        .or_else(|| {
            defs(key)
                .iter()
                .find(|d| d.applies_to(version))
                .map(|d| d.ty)
        })
        .or_else(|| {
            OPEN_PREFIXES
                .iter()
                .any(|p| key.starts_with(p))
                .then_some(ValueType::String)
        })
}

/// Whether the catalog knows `key` for any supported version (used to tell "unknown" from "not in
/// this version").
pub(crate) fn known_in_other_era(key: &str, version: FlinkVersion) -> bool {
    defs(key).iter().any(|d| !d.applies_to(version))
}

/// Every key the catalog knows for `version`, sorted.
pub fn known_keys(version: FlinkVersion) -> impl Iterator<Item = &'static str> {
    generated::KEYS
        .iter()
        .filter(move |d| d.applies_to(version))
        .map(|d| d.key)
}

/// The known key closest to an unknown one, if one is close enough to be a typo.
pub fn suggest(key: &str, version: FlinkVersion) -> Option<&'static str> {
    let max = (key.len() / 5).clamp(1, 3);
    known_keys(version)
        .map(|k| (strsim::damerau_levenshtein(key, k), k))
        .filter(|(d, _)| *d <= max)
        .min()
        .map(|(_, k)| k)
}

impl ValueType {
    /// Checks a value against this type; the error says what was expected.
    pub fn check(self, value: &str) -> Result<(), String> {
        let v = value.trim();
        let ok = match self {
            Self::String | Self::List | Self::Map => true,
            Self::Boolean => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
            Self::Integer => v.parse::<i64>().is_ok(),
            Self::PositiveInteger => v.parse::<i64>().is_ok_and(|n| n > 0),
            Self::Float => v.parse::<f64>().is_ok_and(f64::is_finite),
            Self::Duration => number_with_unit(v, DURATION_UNITS),
            Self::MemorySize => number_with_unit(v, MEMORY_UNITS),
            Self::Host => is_host(v),
            Self::Enum(names) => {
                names.is_empty() || names.iter().any(|n| n.eq_ignore_ascii_case(v))
            }
        };
        ok.then_some(()).ok_or_else(|| self.expected())
    }

    fn expected(self) -> String {
        match self {
            Self::String | Self::List | Self::Map => "text".into(),
            Self::Boolean => "true or false".into(),
            Self::Integer => "a whole number".into(),
            Self::PositiveInteger => "a whole number greater than 0".into(),
            Self::Float => "a number".into(),
            Self::Duration => "a duration such as `15 s`, `2 min` or milliseconds".into(),
            Self::MemorySize => "a memory size such as `1728m` or `2 gb`".into(),
            Self::Host => "a host name or an IP address".into(),
            Self::Enum(names) => format!("one of {}", names.join(", ")),
        }
    }
}

/// Units of Flink's `TimeUtils.parseDuration` (singular, plural and short forms).
const DURATION_UNITS: &[&str] = &[
    "d",
    "day",
    "days",
    "h",
    "hour",
    "hours",
    "min",
    "m",
    "minute",
    "minutes",
    "s",
    "sec",
    "secs",
    "second",
    "seconds",
    "ms",
    "milli",
    "millis",
    "millisecond",
    "milliseconds",
    "µs",
    "micro",
    "micros",
    "microsecond",
    "microseconds",
    "ns",
    "nano",
    "nanos",
    "nanosecond",
    "nanoseconds",
];

/// Units of Flink's `MemorySize.parse`.
const MEMORY_UNITS: &[&str] = &[
    "b",
    "bytes",
    "k",
    "kb",
    "kibibytes",
    "m",
    "mb",
    "mebibytes",
    "g",
    "gb",
    "gibibytes",
    "t",
    "tb",
    "tebibytes",
];

/// `123`, `123 unit` or `123unit`, as Flink's parsers accept them (whole numbers only).
fn number_with_unit(v: &str, units: &[&str]) -> bool {
    let digits = v.len() - v.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || v[..digits].parse::<u64>().is_err() {
        return false;
    }
    let unit = v[digits..].trim_start().to_lowercase();
    unit.is_empty() || units.contains(&unit.as_str())
}

/// An IP address or an RFC 1123 host name.
pub(crate) fn is_host(v: &str) -> bool {
    if v.parse::<IpAddr>().is_ok() {
        return true;
    }
    let labels_ok = v.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    // An all-numeric dotted name is a mistyped IP address, not a host.
    let numeric = v.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    !v.is_empty() && v.len() <= 253 && labels_ok && !numeric
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_18: FlinkVersion = FlinkVersion::new(1, 18, 1);
    const V1_20: FlinkVersion = FlinkVersion::new(1, 20, 3);
    const V2_3: FlinkVersion = FlinkVersion::new(2, 3, 0);

    #[test]
    fn generated_table_is_sorted_for_binary_search() {
        assert!(generated::KEYS.windows(2).all(|w| w[0].key <= w[1].key));
    }

    #[test]
    fn knows_the_articles_keys() {
        assert_eq!(
            lookup("heartbeat.timeout", V1_20),
            Some(ValueType::Duration)
        );
        assert_eq!(lookup("heartbeat.timeout", V1_18), Some(ValueType::Integer));
        assert_eq!(
            lookup("taskmanager.numberOfTaskSlots", V2_3),
            Some(ValueType::PositiveInteger)
        );
        assert_eq!(
            lookup("jobmanager.rpc.address", V2_3),
            Some(ValueType::Host)
        );
        assert!(matches!(
            lookup("jobmanager.scheduler", V2_3),
            Some(ValueType::Enum(_))
        ));
        assert_eq!(
            lookup("taskmanager.memory.process.size", V1_20),
            Some(ValueType::MemorySize)
        );
        assert_eq!(
            lookup(
                "jobmanager.adaptive-scheduler.submission.resource-wait-timeout",
                V2_3
            ),
            Some(ValueType::Duration)
        );
        assert_eq!(
            lookup(
                "jobmanager.adaptive-scheduler.submission.resource-wait-timeout",
                V1_20
            ),
            None
        );
        assert_eq!(
            lookup("metrics.reporter.prom.port", V2_3),
            Some(ValueType::String)
        );
        assert_eq!(lookup("hearbeat.timeout", V2_3), None);
    }

    #[test]
    fn suggests_the_nearest_key() {
        assert_eq!(
            suggest("hearbeat.timeout", V1_20),
            Some("heartbeat.timeout")
        );
        assert_eq!(
            suggest("taskmanager.numberOfTaskSlot", V2_3),
            Some("taskmanager.numberOfTaskSlots")
        );
        assert_eq!(suggest("completely.different.thing", V2_3), None);
    }

    #[test]
    fn checks_values() {
        use ValueType::*;
        for ok in ["15 s", "15000", "2 min", "10min", "1 h", "3600 S"] {
            assert!(Duration.check(ok).is_ok(), "{ok}");
        }
        for bad in ["fast", "1.5 s", "", "s", "-1 s", "10 parsecs"] {
            assert!(Duration.check(bad).is_err(), "{bad}");
        }
        for ok in ["1728m", "2 gb", "1024", "4g", "512 mebibytes"] {
            assert!(MemorySize.check(ok).is_ok(), "{ok}");
        }
        assert!(MemorySize.check("lots").is_err());
        assert!(PositiveInteger.check("4").is_ok());
        assert!(PositiveInteger.check("0").is_err());
        assert!(PositiveInteger.check("-2").is_err());
        assert!(Integer.check("-2").is_ok());
        assert!(Float.check("2.0").is_ok());
        assert!(Float.check("NaN").is_err());
        assert!(Boolean.check("TRUE").is_ok());
        assert!(Boolean.check("yes").is_err());
        assert!(Enum(&["Default", "Adaptive"]).check("adaptive").is_ok());
        assert!(Enum(&["Default", "Adaptive"]).check("fast").is_err());
    }

    #[test]
    fn enums_without_known_names_accept_any_value() {
        // The catalog has no names for some of Flink's enums: Flink accepts these values.
        for (key, value) in [
            (
                "execution.checkpointing.externalized-checkpoint-retention",
                "RETAIN_ON_CANCELLATION",
            ),
            ("execution.checkpointing.mode", "EXACTLY_ONCE"),
            ("execution.runtime-mode", "STREAMING"),
        ] {
            for version in [V1_20, V2_3] {
                let ty = lookup(key, version).unwrap();
                assert!(ty.check(value).is_ok(), "{key}: {value} ({ty:?})");
            }
        }
    }

    #[test]
    fn checks_hosts() {
        for ok in [
            "10.128.0.7",
            "::1",
            "jobmanager",
            "jm-0.c.my-project.internal",
            "0.0.0.0",
        ] {
            assert!(is_host(ok), "{ok}");
        }
        for bad in [
            "",
            "10.0.0.300",
            "host name",
            "a\nb: c",
            "-bad",
            "x;rm -rf /",
            "http://jm:8081",
        ] {
            assert!(!is_host(bad), "{bad}");
        }
    }
}
