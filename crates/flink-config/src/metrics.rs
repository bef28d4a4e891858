//! Flink's Prometheus reporter: the keys that turn it on and the ports each role serves it on.
//!
//! The reporter is a plugin of every distribution (`plugins/metrics-prometheus/`). From 1.17 to
//! 2.3 it is named by `metrics.reporter.<name>.factory.class` (the older `.class` is gone in
//! 2.0) and listens on `metrics.reporter.<name>.port`, a port or a range of which it takes the
//! first free one. It binds every interface: Flink gives it no host setting.

use crate::{Role, Setting};

/// The reporter's name in `metrics.reporter.<name>.*`.
pub const PROMETHEUS_REPORTER: &str = "prom";

/// The jar (a name prefix) of the plugin that provides the reporter.
pub const PROMETHEUS_PLUGIN: &str = "flink-metrics-prometheus";

/// The JobManager's port: Flink's own default.
pub const PROMETHEUS_JOBMANAGER_PORT: u16 = 9249;

/// The TaskManagers' ports, the first free one taken: one TaskManager a VM gets the first, and
/// several on one host (a single-VM setup) each get their own. Above the JobManager's, so the
/// two never meet in one network namespace.
pub const PROMETHEUS_TASKMANAGER_PORTS: (u16, u16) = (9250, 9259);

const FACTORY: &str = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory";

/// The settings that enable the reporter on `role`.
pub fn prometheus_reporter(role: Role) -> Vec<Setting> {
    let key = |suffix: &str| format!("metrics.reporter.{PROMETHEUS_REPORTER}.{suffix}");
    let port = match role {
        Role::JobManager => Setting::new(key("port"), PROMETHEUS_JOBMANAGER_PORT.to_string())
            .with_note("the JobManager's /metrics, on every interface"),
        Role::TaskManager => {
            let (first, last) = PROMETHEUS_TASKMANAGER_PORTS;
            Setting::new(key("port"), format!("{first}-{last}"))
                .with_note("the TaskManager's /metrics, the first free port, on every interface")
        }
    };
    vec![Setting::new(key("factory.class"), FACTORY), port]
}

/// The port range of a reporter port setting (`9249` or `9250-9259`), for overlap checks.
pub fn port_range(value: &str) -> Option<(u16, u16)> {
    let value = value.trim();
    match value.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => value.parse().ok().map(|p| (p, p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_gets_its_own_ports() {
        let port = |role| {
            prometheus_reporter(role)
                .into_iter()
                .find(|s| s.key == "metrics.reporter.prom.port")
                .map(|s| port_range(&s.value).unwrap())
                .unwrap()
        };
        let jm = port(Role::JobManager);
        let tm = port(Role::TaskManager);
        assert_eq!(jm, (9249, 9249));
        assert_eq!(tm, (9250, 9259));
        assert!(jm.1 < tm.0, "{jm:?} and {tm:?} overlap");
        let factory = &prometheus_reporter(Role::TaskManager)[0];
        assert_eq!(factory.key, "metrics.reporter.prom.factory.class");
        assert_eq!(
            factory.value,
            "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
        );
    }

    #[test]
    fn reads_ports_and_ranges() {
        assert_eq!(port_range(" 9300 "), Some((9300, 9300)));
        assert_eq!(port_range("9300 - 9310"), Some((9300, 9310)));
        assert_eq!(port_range("http"), None);
    }
}
