//! Known Flink keys and the shape of their values.
//!
//! `generated.rs` holds every `ConfigOption` (and deprecated alias) defined in the flink-dist jar
//! of each minor release from 1.17 to 2.3, each tagged with the minors that define it (and with
//! which type), extracted by `tools/extract-config-keys.py`. So a key renamed or removed in a
//! release is known exactly in the versions that know it. Hand-written overrides tighten a few
//! types (hosts, positive slot counts, the restart strategy names).

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

/// One catalog entry: a key with one type, in the minors (bits over `generated::MINORS`) that
/// declare it with that type.
#[derive(Debug)]
struct KeyDef {
    key: &'static str,
    ty: ValueType,
    minors: u16,
}

impl KeyDef {
    const fn new(key: &'static str, ty: ValueType, minors: u16) -> Self {
        Self { key, ty, minors }
    }

    fn applies_to(&self, version: FlinkVersion) -> bool {
        self.minors & minor_bit(version) != 0
    }
}

/// The bit of the catalog's minor release that describes `version`: its own minor, else the
/// newest older one the catalog has (a version older than all of them gets the oldest, one newer
/// than all the newest; `FlinkVersion::is_supported` tells a caller whether to trust that).
fn minor_bit(version: FlinkVersion) -> u16 {
    let minors = &generated::MINORS;
    let older_or_same = minors.partition_point(|&m| m <= (version.major, version.minor));
    1 << older_or_same.saturating_sub(1)
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
        "restart-strategy.type" if lookup_declared(key, version).is_some() => {
            ValueType::Enum(RESTART_STRATEGIES)
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

/// The type `version`'s flink-dist declares for `key`, if it has the key.
fn lookup_declared(key: &str, version: FlinkVersion) -> Option<ValueType> {
    defs(key)
        .iter()
        .find(|d| d.applies_to(version))
        .map(|d| d.ty)
}

/// The type of `key` in `version`, or `None` when the key is unknown to that version.
pub fn lookup(key: &str, version: FlinkVersion) -> Option<ValueType> {
    override_for(key, version)
        .or_else(|| {
            lookup_declared(key, version).map(|ty| match ty {
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

/// Whether the catalog knows `key` for another supported version (used to tell "unknown" from "not
/// in this version").
pub(crate) fn known_in_other_version(key: &str, version: FlinkVersion) -> bool {
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
    const V1_20: FlinkVersion = FlinkVersion::new(1, 20, 5);
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

    /// The newest patch release of each minor the catalog covers (the test matrix).
    const MATRIX: [FlinkVersion; 8] = [
        FlinkVersion::new(1, 17, 2),
        FlinkVersion::new(1, 18, 1),
        FlinkVersion::new(1, 19, 3),
        FlinkVersion::new(1, 20, 5),
        FlinkVersion::new(2, 0, 2),
        FlinkVersion::new(2, 1, 3),
        FlinkVersion::new(2, 2, 1),
        FlinkVersion::new(2, 3, 0),
    ];

    #[test]
    fn there_is_a_catalog_for_every_minor_from_1_17_to_2_3() {
        let minors: Vec<(u32, u32)> = MATRIX.iter().map(|v| (v.major, v.minor)).collect();
        assert_eq!(generated::MINORS.to_vec(), minors);
        // Every patch release reads its own minor's catalog; a version between or beyond them
        // the newest older one (and the oldest for anything older).
        for (i, v) in MATRIX.iter().enumerate() {
            assert_eq!(minor_bit(*v), 1 << i, "{v}");
            assert_eq!(minor_bit(FlinkVersion::new(v.major, v.minor, 0)), 1 << i);
            assert_eq!(minor_bit(FlinkVersion::new(v.major, v.minor, 99)), 1 << i);
        }
        assert_eq!(minor_bit(FlinkVersion::new(1, 16, 3)), 1);
        assert_eq!(minor_bit(FlinkVersion::new(1, 21, 0)), 1 << 3);
        assert_eq!(minor_bit(FlinkVersion::new(2, 4, 0)), 1 << 7);
    }

    /// Which versions of [`MATRIX`] know `key`, as a string of `x` (known) and `.` (unknown).
    fn known_in(key: &str) -> String {
        MATRIX
            .iter()
            .map(|v| if lookup(key, *v).is_some() { 'x' } else { '.' })
            .collect()
    }

    #[test]
    fn keys_are_known_exactly_in_the_versions_that_have_them() {
        //  1.17 1.18 1.19 1.20 2.0 2.1 2.2 2.3
        for (key, known) in [
            // The adaptive scheduler's submission keys came with 2.0; the old names still parse.
            (
                "jobmanager.adaptive-scheduler.submission.resource-wait-timeout",
                "....xxxx",
            ),
            (
                "jobmanager.adaptive-scheduler.submission.resource-stabilization-timeout",
                "....xxxx",
            ),
            (
                "jobmanager.adaptive-scheduler.resource-wait-timeout",
                "xxxxxxxx",
            ),
            // 1.20 moved the checkpoint and recovery keys under execution.checkpointing.* and
            // execution.state-recovery.*; the old keys remain as fallbacks.
            ("execution.checkpointing.dir", "...xxxxx"),
            ("execution.checkpointing.savepoint-dir", "...xxxxx"),
            ("execution.checkpointing.num-retained", "...xxxxx"),
            ("execution.state-recovery.claim-mode", "...xxxxx"),
            ("state.checkpoints.dir", "xxxxxxxx"),
            // Removed in 2.0.
            ("cluster.evenly-spread-out-slots", "xxxx...."),
            ("execution.checkpointing.force", "xxxx...."),
            ("akka.watch.heartbeat.interval", "xxxx...."),
            // Pekko replaced Akka in 1.18 (akka.* remain as deprecated keys).
            ("pekko.ask.timeout", ".xxxxxxx"),
            // One key a release added or removed, for each of the others.
            ("slotmanager.request-timeout", "x......."),
            (
                "cluster.fine-grained-resource-management.enabled",
                "xx......",
            ),
            ("env.log.level", "..xxxxxx"),
            ("events.reporters", ".....xxx"),
            ("traces.report-events-as-spans", "...xxx.."),
            ("historyserver.archive.retained-ttl", "......xx"),
            ("cluster.id", ".......x"),
        ] {
            assert_eq!(known_in(key), known, "{key}");
        }
    }

    #[test]
    fn a_key_the_version_does_not_have_is_told_apart_from_an_unknown_one() {
        let v1_19 = FlinkVersion::new(1, 19, 3);
        assert!(known_in_other_version("execution.checkpointing.dir", v1_19));
        assert!(!known_in_other_version("execution.checkpointing.dir", V2_3));
        assert!(!known_in_other_version("no.such.key", v1_19));
    }

    #[test]
    fn values_are_checked_with_the_type_of_the_version() {
        // heartbeat.timeout was a number of milliseconds before 1.20, a Duration since.
        for v in &MATRIX[..3] {
            let ty = lookup("heartbeat.timeout", *v).unwrap();
            assert!(ty.check("50000").is_ok(), "{v}");
            assert!(ty.check("50 s").is_err(), "{v}");
        }
        for v in &MATRIX[3..] {
            assert!(
                lookup("heartbeat.timeout", *v)
                    .unwrap()
                    .check("50 s")
                    .is_ok(),
                "{v}"
            );
        }
        // The `Ng` scheduler was dropped in 2.0.
        for (v, ng) in MATRIX
            .iter()
            .zip([true, true, true, true, false, false, false, false])
        {
            let ty = lookup("jobmanager.scheduler", *v).unwrap();
            assert_eq!(ty.check("ng").is_ok(), ng, "{v}");
            assert!(ty.check("adaptive").is_ok(), "{v}");
            assert!(ty.check("elastic").is_err(), "{v}");
        }
        // taskmanager.load-balance.mode came in 1.19 and gained values in 2.1 and 2.2.
        let balance = |v: FlinkVersion, value: &str| {
            lookup("taskmanager.load-balance.mode", v).map(|ty| ty.check(value).is_ok())
        };
        assert_eq!(balance(MATRIX[1], "SLOTS"), None);
        assert_eq!(balance(MATRIX[2], "SLOTS"), Some(true));
        assert_eq!(balance(MATRIX[4], "MIN_RESOURCES"), Some(false));
        assert_eq!(balance(MATRIX[5], "MIN_RESOURCES"), Some(true));
        assert_eq!(balance(MATRIX[5], "TASKS"), Some(false));
        assert_eq!(balance(MATRIX[6], "tasks"), Some(true));
    }

    #[test]
    fn enum_values_are_what_flink_compares_with() {
        // Flink matches a value against each constant's toString(): `DEFAULT` is a static alias of
        // RecoveryClaimMode, not a constant, so Flink refuses it.
        for v in MATRIX {
            let claim = lookup("execution.savepoint-restore-mode", v).unwrap();
            for ok in ["CLAIM", "no_claim", "LEGACY"] {
                assert!(claim.check(ok).is_ok(), "{v}: {ok}");
            }
            assert!(claim.check("DEFAULT").is_err(), "{v}");
            let mode = lookup("execution.checkpointing.mode", v).unwrap();
            assert!(mode.check("at_least_once").is_ok(), "{v}");
            assert!(mode.check("at-least-once").is_err(), "{v}");
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
