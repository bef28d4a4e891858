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
    /// A whole number that fits Java's `int` (Flink's `intType()`).
    Int,
    /// A whole number that fits Java's `long` (Flink's `longType()`).
    Long,
    /// An `int` greater than zero.
    PositiveInt,
    /// An `int` that is a TCP port: 0 to 65535.
    Port,
    /// A floating point number.
    Float,
    /// A number with an optional time unit (`15 s`, `2 min`); a bare number means milliseconds.
    /// At most `i64::MAX` milliseconds, as Flink converts durations to milliseconds.
    Duration,
    /// A number with an optional size unit (`1728m`, `2 gb`); a bare number means bytes. At most
    /// `i64::MAX` bytes, as Flink's `MemorySize` holds a `long`.
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
        "taskmanager.numberOfTaskSlots" => ValueType::PositiveInt,
        "restart-strategy.type" => ValueType::Enum(RESTART_STRATEGIES),
        // Milliseconds as a plain long before 1.20, a Duration since.
        "heartbeat.timeout" | "heartbeat.interval" if !version.at_least(1, 20) => ValueType::Long,
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
                .map(|d| match d.ty {
                    // Flink declares ports as plain ints and fails only when it binds.
                    ValueType::Int if key.ends_with(".port") => ValueType::Port,
                    ty => ty,
                })
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
            // Java's Integer.parseInt and Long.parseLong accept what Rust's parse does.
            Self::Int => v.parse::<i32>().is_ok(),
            Self::Long => v.parse::<i64>().is_ok(),
            Self::PositiveInt => v.parse::<i32>().is_ok_and(|n| n > 0),
            Self::Port => v.parse::<u16>().is_ok(),
            Self::Float => v.parse::<f64>().is_ok_and(f64::is_finite),
            Self::Duration => number_with_unit(v, DURATION_UNITS).is_some_and(|(n, unit)| {
                let nanos = u128::from(n) * duration_unit_nanos(&unit);
                nanos <= i64::MAX as u128 * 1_000_000
            }),
            Self::MemorySize => number_with_unit(v, MEMORY_UNITS)
                .and_then(|(n, unit)| n.checked_mul(memory_unit_bytes(&unit)))
                .is_some_and(|bytes| bytes <= i64::MAX as u64),
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
            Self::Int => "a whole number from -2147483648 to 2147483647".into(),
            Self::Long => "a whole number from -9223372036854775808 to 9223372036854775807".into(),
            Self::PositiveInt => "a whole number from 1 to 2147483647".into(),
            Self::Port => "a port number from 0 to 65535".into(),
            Self::Float => "a number".into(),
            Self::Duration => {
                "a duration such as `15 s`, `2 min` or milliseconds, at most 9223372036854775807 ms"
                    .into()
            }
            Self::MemorySize => {
                "a memory size such as `1728m` or `2 gb`, at most 9223372036854775807 bytes".into()
            }
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

/// `123`, `123 unit` or `123unit`, as Flink's parsers accept them: digits that fit a `long`
/// (`Long.parseLong`), then a known unit or none. The number and the lowercase unit.
fn number_with_unit(v: &str, units: &[&str]) -> Option<(u64, String)> {
    let digits = v.len() - v.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let n = v[..digits]
        .parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())?;
    let unit = v[digits..].trim_start().to_lowercase();
    (unit.is_empty() || units.contains(&unit.as_str())).then_some((n, unit))
}

/// Nanoseconds in one `unit` of [`DURATION_UNITS`]; no unit is milliseconds.
fn duration_unit_nanos(unit: &str) -> u128 {
    const MS: u128 = 1_000_000;
    match unit {
        "d" | "day" | "days" => 86_400_000 * MS,
        "h" | "hour" | "hours" => 3_600_000 * MS,
        "min" | "m" | "minute" | "minutes" => 60_000 * MS,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000 * MS,
        "µs" | "micro" | "micros" | "microsecond" | "microseconds" => 1_000,
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => 1,
        _ => MS,
    }
}

/// Bytes in one `unit` of [`MEMORY_UNITS`]; no unit is bytes.
fn memory_unit_bytes(unit: &str) -> u64 {
    match unit.chars().next() {
        Some('k') => 1 << 10,
        Some('m') => 1 << 20,
        Some('g') => 1 << 30,
        Some('t') => 1 << 40,
        _ => 1,
    }
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
        assert_eq!(lookup("heartbeat.timeout", V1_18), Some(ValueType::Long));
        assert_eq!(
            lookup("taskmanager.numberOfTaskSlots", V2_3),
            Some(ValueType::PositiveInt)
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
        assert!(PositiveInt.check("4").is_ok());
        assert!(PositiveInt.check("0").is_err());
        assert!(PositiveInt.check("-2").is_err());
        assert!(Int.check("-2").is_ok());
        assert!(Float.check("2.0").is_ok());
        assert!(Float.check("NaN").is_err());
        assert!(Boolean.check("TRUE").is_ok());
        assert!(Boolean.check("yes").is_err());
        assert!(Enum(&["Default", "Adaptive"]).check("adaptive").is_ok());
        assert!(Enum(&["Default", "Adaptive"]).check("fast").is_err());
    }

    #[test]
    fn numbers_must_fit_the_java_type() {
        use ValueType::*;
        assert!(Int.check("2147483647").is_ok());
        assert!(Int.check("-2147483648").is_ok());
        assert!(Int.check("2147483648").is_err());
        assert!(Int.check("100000000000").is_err());
        assert!(PositiveInt.check("100000000000").is_err());
        assert!(Long.check("100000000000").is_ok());
        assert!(Long.check("9223372036854775808").is_err());
        assert!(Port.check("8081").is_ok());
        assert!(Port.check("0").is_ok());
        assert!(Port.check("65536").is_err());
        assert!(Port.check("abc").is_err());
        assert!(Duration.check("9223372036854775807 ms").is_ok());
        assert!(Duration.check("9223372036854775807").is_ok());
        assert!(Duration.check("9223372036854775808 ns").is_err());
        assert!(Duration.check("300000000000 d").is_err());
        assert!(Duration.check("106751991167 d").is_ok());
        assert!(Duration.check("106751991168 d").is_err());
        assert!(MemorySize.check("8388607 tb").is_ok());
        assert!(MemorySize.check("8388608 tb").is_err());
        assert!(MemorySize.check("18446744073709551615").is_err());
    }

    #[test]
    fn integer_keys_have_their_java_width() {
        let slots = lookup("taskmanager.numberOfTaskSlots", V2_3).unwrap();
        assert!(slots.check("100000000000").is_err());
        assert_eq!(lookup("parallelism.default", V2_3), Some(ValueType::Int));
        assert_eq!(
            lookup(
                "execution.checkpointing.tolerable-failed-checkpoints",
                V1_20
            ),
            Some(ValueType::Int)
        );
        assert_eq!(lookup("blob.offload.minsize", V2_3), Some(ValueType::Int));
        assert_eq!(
            lookup("state.storage.fs.memory-threshold", V2_3),
            Some(ValueType::MemorySize)
        );
    }

    #[test]
    fn a_keys_own_type_wins_over_an_alias_of_a_string_option() {
        // `rest.port` is an int, and also the fallback key of the string `rest.bind-port`.
        for version in [V1_20, V2_3] {
            assert_eq!(lookup("rest.port", version), Some(ValueType::Port));
            assert!(lookup("rest.port", version).unwrap().check("abc").is_err());
            assert_eq!(lookup("rest.bind-port", version), Some(ValueType::String));
        }
        assert_eq!(lookup("jobmanager.rpc.port", V2_3), Some(ValueType::Port));
    }

    #[test]
    fn no_enum_accepts_any_value() {
        // Flink matches a value against the constants' names (any case); the catalog has them.
        for def in generated::KEYS {
            if let ValueType::Enum(names) = def.ty {
                assert!(!names.is_empty(), "{} has no enum names", def.key);
                assert!(def.ty.check("no-such-constant").is_err(), "{}", def.key);
            }
        }
        for (key, value) in [
            (
                "execution.checkpointing.externalized-checkpoint-retention",
                "RETAIN_ON_CANCELLATION",
            ),
            ("execution.checkpointing.mode", "exactly_once"),
            ("execution.runtime-mode", "STREAMING"),
            ("state.backend.rocksdb.log.level", "INFO_LEVEL"),
        ] {
            for version in [V1_20, V2_3] {
                let ty = lookup(key, version).unwrap();
                assert!(ty.check(value).is_ok(), "{key}: {value} ({ty:?})");
                assert!(ty.check("EXACTLY-ONCE-ISH").is_err(), "{key} ({ty:?})");
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
