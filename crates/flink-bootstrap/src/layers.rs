//! Turning each source into a [`Layer`]. Pure functions of their inputs, so precedence and
//! derivations are unit-tested without a machine, a metadata server or an environment.

use std::net::IpAddr;

use anyhow::Context;
use flink_config::{
    parse_properties, parse_untrusted_map, FlinkVersion, ImageConf, Layer, Origin, Profile, Role,
    Setting, Source,
};
use instance_metadata::{InstanceMetadata, ResourceFacts};

use crate::env_vars::{self as env, ImageEnv};

/// Metadata attribute holding a YAML map of Flink keys.
pub const ATTR_FLINK_CONFIG: &str = "flink-config";
/// Metadata attribute holding the JobManager's address.
pub const ATTR_JOBMANAGER_ADDRESS: &str = "flink-jobmanager-address";

/// Everything the configuration is resolved from.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The process being started.
    pub role: Role,
    /// The installed Flink.
    pub version: FlinkVersion,
    /// The image's config file, if any.
    pub image: Option<ImageConf>,
    /// `--profile`.
    pub profile: Option<Profile>,
    /// Flink's Prometheus reporter, and what turned it on: the profile ([`Source::Profile`]) or
    /// `--metrics-reporter` ([`Source::Option`]). `None`: off.
    pub prometheus: Option<Source>,
    /// CPUs and memory.
    pub resources: ResourceFacts,
    /// Cloud metadata, if a provider answered.
    pub metadata: Option<InstanceMetadata>,
    /// The address other instances reach this one at when there is no metadata.
    pub host_address: Option<IpAddr>,
    /// Official-image variables.
    pub env: ImageEnv,
    /// `--set`.
    pub sets: Vec<(String, String)>,
}

fn origin(source: Source, detail: impl Into<String>) -> Origin {
    Origin {
        source,
        detail: detail.into(),
    }
}

/// All layers, in precedence order. Errors are untrusted inputs that could not be read (the
/// caller exits with "invalid configuration").
pub fn build(inputs: &Inputs) -> anyhow::Result<Vec<Layer>> {
    let mut layers = Vec::new();
    if let Some(image) = &inputs.image {
        layers.push(Layer::new(
            Source::ImageConf,
            image.path.display().to_string(),
            image.settings.iter().cloned(),
        ));
    }
    if let Some(profile) = inputs.profile {
        layers.push(Layer {
            origin: origin(Source::Profile, profile.to_string()),
            settings: profile.settings(inputs.version),
        });
    }
    if let Some(source) = inputs.prometheus {
        let detail = match (source, inputs.profile) {
            (Source::Profile, Some(profile)) => profile.to_string(),
            _ => "--metrics-reporter prometheus".to_owned(),
        };
        layers.push(Layer {
            origin: origin(source, detail),
            settings: flink_config::prometheus_reporter(inputs.role),
        });
    }
    if let Some(md) = &inputs.metadata {
        let scopes = [
            (Source::MetadataProject, "project", &md.project_attributes),
            (
                Source::MetadataInstance,
                "instance",
                &md.instance_attributes,
            ),
        ];
        for (source, scope, attributes) in scopes {
            if let Some(yaml) = attributes.get(ATTR_FLINK_CONFIG) {
                let detail = format!("{scope} attribute {ATTR_FLINK_CONFIG}");
                let pairs =
                    parse_untrusted_map(yaml).with_context(|| format!("metadata {detail}"))?;
                layers.push(Layer::new(source, detail, pairs));
            }
            if let Some(address) = attributes.get(ATTR_JOBMANAGER_ADDRESS) {
                layers.push(Layer::new(
                    source,
                    format!("{scope} attribute {ATTR_JOBMANAGER_ADDRESS}"),
                    [(
                        "jobmanager.rpc.address".to_owned(),
                        address.trim().to_owned(),
                    )],
                ));
            }
        }
    }
    if let Some(text) = &inputs.env.flink_properties {
        let pairs =
            parse_properties(text).with_context(|| format!("${}", env::FLINK_PROPERTIES))?;
        layers.push(Layer::new(Source::Env, env::FLINK_PROPERTIES, pairs));
    }
    let env_keys = [
        (
            env::JOB_MANAGER_RPC_ADDRESS,
            &inputs.env.job_manager_rpc_address,
            "jobmanager.rpc.address",
        ),
        (
            env::TASK_MANAGER_NUMBER_OF_TASK_SLOTS,
            &inputs.env.task_manager_number_of_task_slots,
            "taskmanager.numberOfTaskSlots",
        ),
    ];
    for (var, value, key) in env_keys {
        if let Some(value) = value {
            layers.push(Layer::new(
                Source::Env,
                var,
                [(key.to_owned(), value.trim().to_owned())],
            ));
        }
    }
    if !inputs.sets.is_empty() {
        layers.push(Layer::new(
            Source::CommandLine,
            "",
            inputs.sets.iter().cloned(),
        ));
    }
    let facts = facts(inputs, &layers);
    layers.push(facts);
    Ok(layers)
}

/// Instance facts: slots, process memory and addresses for the role.
fn facts(inputs: &Inputs, others: &[Layer]) -> Layer {
    let r = &inputs.resources;
    let mut settings = Vec::new();
    let address = inputs
        .metadata
        .as_ref()
        .and_then(|m| m.internal_ip)
        .map(|ip| (ip, "internal IP from metadata"))
        .or_else(|| {
            inputs
                .host_address
                .map(|ip| (ip, "address of the host name"))
        });
    match inputs.role {
        Role::TaskManager => {
            settings.push(
                Setting::new("taskmanager.numberOfTaskSlots", r.cpus.to_string())
                    .with_note(format!("{} CPUs ({})", r.cpus, r.cpu_source)),
            );
            if let Some((ip, why)) = address {
                settings.push(Setting::new("taskmanager.host", ip.to_string()).with_note(why));
            }
            settings.push(
                Setting::new("taskmanager.bind-host", "0.0.0.0")
                    .with_note("other instances must connect"),
            );
        }
        Role::JobManager => {
            if let Some((ip, why)) = address {
                settings
                    .push(Setting::new("jobmanager.rpc.address", ip.to_string()).with_note(why));
                settings.push(Setting::new("rest.address", ip.to_string()).with_note(why));
            }
            for key in ["jobmanager.bind-host", "rest.bind-address"] {
                settings
                    .push(Setting::new(key, "0.0.0.0").with_note("other instances must connect"));
            }
        }
    }
    // Flink rejects some combinations of total and component sizes: explicit sizing wins.
    let sized_elsewhere = others.iter().flat_map(|l| &l.settings).any(|s| {
        inputs
            .role
            .alternative_memory_keys()
            .contains(&s.key.as_str())
    });
    if let (Some(bytes), false) = (r.memory_bytes, sized_elsewhere) {
        let mib = process_memory_mib(bytes);
        settings.push(
            Setting::new(inputs.role.process_memory_key(), format!("{mib}m")).with_note(format!(
                "{} MiB of {} MiB ({})",
                mib,
                bytes >> 20,
                r.memory_source
            )),
        );
    }
    Layer {
        origin: origin(Source::InstanceFacts, ""),
        settings,
    }
}

/// The part of the memory Flink may use: the JVM also needs native memory Flink does not count
/// (thread stacks, GC structures, libraries), so keep 20% and at least 256 MiB, but never go
/// below half.
pub fn process_memory_mib(bytes: u64) -> u64 {
    let mib = bytes >> 20;
    mib.saturating_sub((mib / 5).max(256)).max(mib / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flink_config::{resolve, validate};
    use instance_metadata::{CpuSource, MemorySource};
    use std::collections::BTreeMap;

    fn inputs(role: Role) -> Inputs {
        Inputs {
            role,
            version: FlinkVersion::new(2, 3, 0),
            image: Some(ImageConf {
                path: "/opt/flink/conf/config.yaml".into(),
                settings: vec![
                    ("taskmanager.host".into(), "localhost".into()),
                    ("taskmanager.numberOfTaskSlots".into(), "1".into()),
                    ("taskmanager.memory.process.size".into(), "1728m".into()),
                    ("jobmanager.rpc.address".into(), "localhost".into()),
                    ("heartbeat.timeout".into(), "50000".into()),
                ],
                note: None,
            }),
            profile: Some(Profile::Elastic),
            prometheus: Some(Source::Profile),
            resources: ResourceFacts {
                cpus: 4,
                cpu_source: CpuSource::CgroupQuota,
                memory_bytes: Some(8 << 30),
                memory_source: MemorySource::CgroupLimit,
                warnings: vec![],
            },
            metadata: None,
            host_address: None,
            env: ImageEnv::default(),
            sets: vec![],
        }
    }

    fn metadata(project: &[(&str, &str)], instance: &[(&str, &str)]) -> InstanceMetadata {
        let map = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        InstanceMetadata {
            internal_ip: Some("10.128.0.7".parse().unwrap()),
            project_attributes: map(project),
            instance_attributes: map(instance),
            ..InstanceMetadata::default()
        }
    }

    fn resolved(i: &Inputs) -> flink_config::Resolved {
        resolve(&build(i).unwrap(), i.version)
    }

    #[test]
    fn taskmanager_facts_override_the_image() {
        let r = resolved(&inputs(Role::TaskManager));
        assert_eq!(r.get("taskmanager.numberOfTaskSlots"), Some("4"));
        assert_eq!(r.get("taskmanager.memory.process.size"), Some("6554m"));
        assert_eq!(r.get("taskmanager.bind-host"), Some("0.0.0.0"));
        assert_eq!(r.get("heartbeat.timeout"), Some("15 s"));
        // No metadata and no host address: the image's value stays.
        assert_eq!(r.get("taskmanager.host"), Some("localhost"));
        assert_eq!(r.get("jobmanager.memory.process.size"), None);
    }

    #[test]
    fn full_precedence_chain() {
        let mut i = inputs(Role::TaskManager);
        i.metadata = Some(metadata(
            &[
                (
                    "flink-config",
                    "heartbeat.timeout: 20 s\nparallelism.default: 8\nrest.port: 8082\n",
                ),
                ("flink-jobmanager-address", "10.128.0.2"),
            ],
            &[("flink-config", "parallelism.default: 16\nrest.port: 8083\n")],
        ));
        i.env = ImageEnv {
            flink_properties: Some("rest.port: 8084\nweb.submit.enable: false\n".into()),
            task_manager_number_of_task_slots: Some("2".into()),
            ..ImageEnv::default()
        };
        i.sets = vec![("web.submit.enable".into(), "true".into())];
        let r = resolved(&i);
        assert_eq!(r.get("taskmanager.host"), Some("10.128.0.7"));
        assert_eq!(r.get("jobmanager.rpc.address"), Some("10.128.0.2"));
        assert_eq!(r.get("heartbeat.timeout"), Some("20 s"));
        assert_eq!(r.get("parallelism.default"), Some("16"));
        assert_eq!(r.get("rest.port"), Some("8084"));
        assert_eq!(r.get("taskmanager.numberOfTaskSlots"), Some("2"));
        assert_eq!(r.get("web.submit.enable"), Some("true"));
        let slots = &r.entries["taskmanager.numberOfTaskSlots"];
        assert_eq!(slots.origin.detail, "TASK_MANAGER_NUMBER_OF_TASK_SLOTS");
        let sources: Vec<Source> = slots.overrides.iter().map(|(o, _)| o.source).collect();
        assert_eq!(sources, [Source::ImageConf, Source::InstanceFacts]);
        assert_eq!(validate(&r), []);
    }

    #[test]
    fn jobmanager_gets_its_own_address_and_bind_hosts() {
        let mut i = inputs(Role::JobManager);
        i.metadata = Some(metadata(&[], &[]));
        let r = resolved(&i);
        assert_eq!(r.get("jobmanager.rpc.address"), Some("10.128.0.7"));
        assert_eq!(r.get("rest.address"), Some("10.128.0.7"));
        assert_eq!(r.get("jobmanager.bind-host"), Some("0.0.0.0"));
        assert_eq!(r.get("rest.bind-address"), Some("0.0.0.0"));
        assert_eq!(r.get("jobmanager.memory.process.size"), Some("6554m"));
        assert_eq!(
            r.get("jobmanager.adaptive-scheduler.submission.resource-wait-timeout"),
            Some("3600 s")
        );
    }

    #[test]
    fn the_prometheus_reporter_gets_a_port_per_role_that_metadata_can_move() {
        let port = "metrics.reporter.prom.port";
        let jm = resolved(&inputs(Role::JobManager));
        assert_eq!(jm.get(port), Some("9249"));
        assert_eq!(jm.entries[port].origin.to_string(), "profile (elastic)");
        assert_eq!(
            jm.get("metrics.reporter.prom.factory.class"),
            Some("org.apache.flink.metrics.prometheus.PrometheusReporterFactory")
        );
        let mut tm = inputs(Role::TaskManager);
        tm.profile = None;
        tm.prometheus = Some(Source::Option);
        let r = resolved(&tm);
        assert_eq!(r.get(port), Some("9250-9259"));
        assert_eq!(
            r.entries[port].origin.to_string(),
            "option (--metrics-reporter prometheus)"
        );
        assert_eq!(validate(&r), []);
        tm.metadata = Some(metadata(
            &[("flink-config", "metrics.reporter.prom.port: 9300\n")],
            &[],
        ));
        assert_eq!(resolved(&tm).get(port), Some("9300"));
        tm.prometheus = None;
        tm.metadata = None;
        assert!(!resolved(&tm)
            .entries
            .keys()
            .any(|k| k.starts_with("metrics.reporter.")));
    }

    #[test]
    fn explicit_memory_sizing_suppresses_the_derived_total() {
        let mut i = inputs(Role::TaskManager);
        i.sets = vec![("taskmanager.memory.flink.size".into(), "2g".into())];
        let r = resolved(&i);
        // The image's total stays only because the facts layer yielded.
        assert_eq!(r.get("taskmanager.memory.process.size"), Some("1728m"));
    }

    #[test]
    fn untrusted_metadata_cannot_inject() {
        let mut i = inputs(Role::TaskManager);
        i.metadata = Some(metadata(&[], &[("flink-config", "- not\n- a map\n")]));
        assert!(build(&i).is_err());

        i.metadata = Some(metadata(
            &[],
            &[(
                "flink-jobmanager-address",
                "10.0.0.2\ntaskmanager.host: evil",
            )],
        ));
        let errors = validate(&resolved(&i));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "jobmanager.rpc.address");

        i.metadata = Some(metadata(
            &[],
            &[("flink-config", "taskmanager.numberOfTaskSlots: -3")],
        ));
        let errors = validate(&resolved(&i));
        assert_eq!(errors[0].key, "taskmanager.numberOfTaskSlots");
    }

    #[test]
    fn oversized_or_deep_inputs_are_refused_naming_their_source() {
        let mut i = inputs(Role::TaskManager);
        let deep = format!("a.b: {}", "[".repeat(70));
        i.metadata = Some(metadata(&[("flink-config", deep.as_str())], &[]));
        let err = format!("{:#}", build(&i).unwrap_err());
        assert!(
            err.starts_with("metadata project attribute flink-config: line 1: `[`/`{` nested"),
            "{err}"
        );
        i.metadata = None;
        i.env.flink_properties = Some(format!("a.b: {}\n", "x".repeat(2 << 20)));
        let err = format!("{:#}", build(&i).unwrap_err());
        assert!(err.starts_with("$FLINK_PROPERTIES: "), "{err}");
        assert!(err.contains("more than the 1048576 bytes"), "{err}");
    }

    #[test]
    fn env_slots_must_be_positive() {
        let mut i = inputs(Role::TaskManager);
        i.env.task_manager_number_of_task_slots = Some("0".into());
        let errors = validate(&resolved(&i));
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn process_memory_keeps_headroom() {
        assert_eq!(process_memory_mib(8 << 30), 6554);
        assert_eq!(process_memory_mib(1 << 30), 768);
        assert_eq!(process_memory_mib(512 << 20), 256);
    }
}
