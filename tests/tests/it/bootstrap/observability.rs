//! Flink's own signals out of a cluster flink-bootstrap starts, on every supported version:
//! the Prometheus reporter of the elastic profile on both roles, at its default ports, while
//! the savepointer serves its own `/metrics` at its default port beside them; the profile's
//! rescale damping under each version's key names, which Flink starts with and does not warn
//! about; and Flink's console log as Cloud Logging JSON (`--log-format json`), parsed line by
//! line from the JVM's stdout, or refused where the distribution lacks the JSON layout.
//!
//! Run only these: `cargo nextest run -p flink-ops-tests -E 'test(/^bootstrap::observability::/)'`.

use std::fs::File;
use std::net::TcpListener;

use super::*;

/// The savepointer's default `--listen` port and the reporter's defaults, as documented.
const SAVEPOINTER_PORT: u16 = 9248;
const JOBMANAGER_REPORTER_PORT: u16 = 9249;
const TASKMANAGER_REPORTER_PORT: u16 = 9250;

/// The default ports, held by one test process at a time (the two versions of a test run side
/// by side; every other test gives the reporter a free port). Free when taken, or the test
/// fails saying which one another process holds.
struct DefaultPorts {
    _lock: File,
}

impl DefaultPorts {
    fn take() -> Self {
        let dir = flink_testkit::cache_dir();
        std::fs::create_dir_all(&dir).expect("the cache dir");
        let lock = File::create(dir.join("default-metrics-ports.lock")).expect("a lock file");
        lock.lock().expect("the default ports' lock");
        let (first, last) = flink_config::PROMETHEUS_TASKMANAGER_PORTS;
        assert_eq!(
            (
                flink_config::PROMETHEUS_JOBMANAGER_PORT,
                first,
                last >= first
            ),
            (JOBMANAGER_REPORTER_PORT, TASKMANAGER_REPORTER_PORT, true)
        );
        for port in [
            SAVEPOINTER_PORT,
            JOBMANAGER_REPORTER_PORT,
            TASKMANAGER_REPORTER_PORT,
        ] {
            // The reporter binds every interface.
            if let Err(e) = TcpListener::bind(("0.0.0.0", port)) {
                panic!(
                    "port {port} is taken by another process ({e}): this test checks the default \
                     ports; stop what listens there"
                );
            }
        }
        Self { _lock: lock }
    }
}

/// A cluster whose processes start as `flink-bootstrap --metadata none --profile elastic
/// [EXTRA] ROLE`, each rendering into its own conf dir, with the harness' settings as `--set`.
fn elastic_cluster(version: &str, extra: &'static [&'static str]) -> ClusterBuilder {
    ClusterBuilder::new(version)
        .taskmanagers(1)
        .config("jobmanager.bind-host", LOCALHOST)
        .config("rest.bind-address", LOCALHOST)
        .config("taskmanager.bind-host", LOCALHOST)
        .config("taskmanager.host", LOCALHOST)
        .launcher(move |launch| {
            let mut cmd = bootstrap(launch.dist.home());
            cmd.arg("--conf-dir")
                .arg(launch.dir.join(format!("conf-{}", launch.role.name())))
                .args(["--metadata", "none", "--profile", "elastic"])
                .args(extra);
            for (key, value) in launch.config {
                cmd.arg("--set").arg(format!("{key}={value}"));
            }
            cmd.arg(match launch.role {
                Role::JobManager => "jobmanager",
                Role::TaskManager(_) => "taskmanager",
            });
            cmd
        })
}

/// The body of `GET http://127.0.0.1:PORT/metrics`.
async fn scrape(port: u16) -> Result<String, String> {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: {}", response.status()));
    }
    response.text().await.map_err(|e| e.to_string())
}

/// Whether a Prometheus text exposition has a sample whose name starts with `prefix`.
fn has_metric(text: &str, prefix: &str) -> bool {
    text.lines()
        .any(|l| !l.starts_with('#') && l.starts_with(prefix))
}

/// The lines of Flink's own log files of `role` (`flink-<role>-*.log`).
fn flink_log(cluster: &flink_testkit::Cluster, role: &str) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(cluster.dir().join("log"))
        .expect("the log dir")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("flink-{role}-")) && name.ends_with(".log") {
            text.push_str(&std::fs::read_to_string(entry.path()).expect("a log file"));
        }
    }
    assert!(!text.is_empty(), "no Flink log of the {role}");
    text
}

/// The elastic profile's reporter answers on the JobManager's 9249 and the TaskManager's 9250
/// while the savepointer, started with no `--listen`, serves its own metrics on 9248: all three
/// at once, each with its own metrics. The JobManager runs with the damping keys as its
/// version names them, and Flink warns about none of the keys the bootstrap added.
#[each_version(flavor = "multi_thread")]
async fn prometheus_on_both_roles_beside_the_savepointer(version: &str) {
    let _ports = DefaultPorts::take();
    let cluster = elastic_cluster(version, &[]).start().await;
    let savepoints = cluster.savepoint_dir();
    let savepointer = Command::new(workspace_bin("flink-savepointer"))
        .env_clear()
        .args([
            "run",
            "--jobmanager-url",
            cluster.url().as_str(),
            "--all-jobs",
        ])
        .arg("--target-dir")
        .arg(&savepoints)
        .args(["--every", "1h"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(cluster.dir().join("log/savepointer.err")).expect("a log file"))
        .spawn()
        .expect("flink-savepointer starts");
    let mut savepointer = KillOnDrop(savepointer);

    let all_three = eventually(
        "the JobManager's, the TaskManager's and the savepointer's /metrics",
        Duration::from_secs(60),
        || async {
            let jm = scrape(JOBMANAGER_REPORTER_PORT).await?;
            let tm = scrape(TASKMANAGER_REPORTER_PORT).await?;
            let sidecar = scrape(SAVEPOINTER_PORT).await?;
            // The TaskManager's metrics arrive once it has registered.
            if !has_metric(&tm, "flink_taskmanager_") {
                return Err(format!("no TaskManager metrics yet:\n{tm}"));
            }
            Ok((jm, tm, sidecar))
        },
    )
    .await;
    let (jm, tm, sidecar) = all_three;
    assert!(
        has_metric(&jm, "flink_jobmanager_numRegisteredTaskManagers"),
        "{jm}"
    );
    assert!(
        !has_metric(&jm, "flink_taskmanager_"),
        "9249 is the JobManager's:\n{jm}"
    );
    assert!(
        !has_metric(&tm, "flink_jobmanager_"),
        "9250 is the TaskManager's:\n{tm}"
    );
    assert!(has_metric(&sidecar, "flink_savepointer_"), "{sidecar}");
    assert!(
        savepointer.0.try_wait().expect("try_wait").is_none(),
        "the savepointer exited: {}",
        std::fs::read_to_string(cluster.dir().join("log/savepointer.err")).unwrap_or_default()
    );
    let jm_log = flink_log(&cluster, "jobmanager");
    assert!(
        jm_log.contains("Started PrometheusReporter HTTP server on port 9249"),
        "{jm_log}"
    );
    assert!(flink_log(&cluster, "taskmanager-0")
        .contains("Started PrometheusReporter HTTP server on port 9250"),);

    // The rescale cooldown, under the installed version's name only, and in effect.
    let (cooldown, other) = if version.starts_with("1.") {
        (
            "jobmanager.adaptive-scheduler.scaling-interval.min",
            "jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling",
        )
    } else {
        (
            "jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling",
            "jobmanager.adaptive-scheduler.scaling-interval.min",
        )
    };
    let rendered = std::fs::read_to_string(cluster.dir().join("conf-jobmanager/config.yaml"))
        .expect("the JobManager's rendered config");
    assert!(
        rendered.contains(&format!("{cooldown}: '1 min'\n")),
        "{rendered}"
    );
    assert!(!rendered.contains(other), "{rendered}");
    let effective = jobmanager_config(cluster.url()).await;
    assert_eq!(effective.get(cooldown).map(String::as_str), Some("1 min"));
    // Flink warns about a deprecated or unreadable key it was given; none of ours.
    let warnings: Vec<&str> = jm_log
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .filter(|l| l.contains("adaptive-scheduler") || l.contains("metrics.reporter"))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
}

/// The severities Cloud Logging knows (`LogSeverity`).
const SEVERITIES: &[&str] = &[
    "DEFAULT",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARNING",
    "ERROR",
    "CRITICAL",
    "ALERT",
    "EMERGENCY",
];

/// `--log-format json`: on 2.x every line the JVM writes to stdout, on both roles, is one JSON
/// object with a Cloud Logging `severity` and a `message` (the one line before it is the start
/// script's own banner, written before Java starts); the bootstrap's own lines on stderr are
/// JSON too. On 1.20, whose `lib/` has no JSON layout, the bootstrap renders Flink's text
/// console log with a warning naming the jar to add, and `--strict` refuses before writing
/// anything or starting Flink.
#[each_version(flavor = "multi_thread")]
async fn flinks_console_log_is_cloud_logging_json(version: &str) {
    if version.starts_with("1.") {
        let scratch = Scratch::new(version);
        let invalid =
            documented_exit_code("invalid configuration (values, metadata, --strict warnings)");
        let mut cmd = scratch.command();
        cmd.args([
            "--metadata",
            "none",
            "--log-format",
            "json",
            "--strict",
            "jobmanager",
        ]);
        let ended = scratch
            .refused(
                &mut cmd,
                invalid,
                &[
                    "log4j-layout-template-json-",
                    "from Maven Central",
                    "nothing was written and Flink was not started",
                ],
            )
            .await;
        let mut cmd = scratch.command();
        cmd.args([
            "--metadata",
            "none",
            "--log-format",
            "json",
            "render",
            "jobmanager",
        ]);
        let rendered = scratch.run(&mut cmd).await;
        assert_eq!(
            rendered.code, 0,
            "render without --strict: {}",
            rendered.stderr
        );
        assert!(
            rendered.stderr.contains("console log stays text")
                && rendered.stderr.contains("from Maven Central"),
            "{}",
            rendered.stderr
        );
        let console = std::fs::read_to_string(scratch.path("conf/log4j-console.properties"))
            .expect("the console log4j file rendered");
        assert!(!console.contains("JsonTemplateLayout"), "{console}");
        // The refusal and the warning are Cloud Logging lines themselves.
        for line in ended.stderr.lines().chain(rendered.stderr.lines()) {
            let parsed: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(parsed["severity"].is_string(), "{line}");
        }
        return;
    }

    // stderr into a file of its own: the cluster's `log/<role>.out` then holds stdout alone.
    let cluster = ClusterBuilder::new(version)
        .taskmanagers(1)
        .config("jobmanager.bind-host", LOCALHOST)
        .config("rest.bind-address", LOCALHOST)
        .config("taskmanager.bind-host", LOCALHOST)
        .config("taskmanager.host", LOCALHOST)
        .launcher(|launch| {
            let role = launch.role.name();
            let mut inner = bootstrap(launch.dist.home());
            inner
                .arg("--conf-dir")
                .arg(launch.dir.join(format!("conf-{role}")))
                .args(["--metadata", "none", "--log-format", "json"]);
            for (key, value) in launch.config {
                inner.arg("--set").arg(format!("{key}={value}"));
            }
            inner.arg(match launch.role {
                Role::JobManager => "jobmanager",
                Role::TaskManager(_) => "taskmanager",
            });
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg(r#"err=$1; shift; exec "$@" 2>"$err""#)
                .arg("sh")
                .arg(launch.dir.join(format!("log/{role}.stderr")))
                .arg(inner.get_program())
                .args(inner.get_args());
            for (key, value) in inner.get_envs() {
                match value {
                    Some(value) => cmd.env(key, value),
                    None => cmd.env_remove(key),
                };
            }
            cmd
        })
        .start()
        .await;

    for (role, logger) in [
        (
            "jobmanager",
            "org.apache.flink.runtime.entrypoint.ClusterEntrypoint",
        ),
        (
            "taskmanager-0",
            "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
        ),
    ] {
        let stdout = std::fs::read_to_string(cluster.dir().join(format!("log/{role}.out")))
            .expect("the role's stdout");
        let mut lines = stdout.lines();
        let banner = lines.next().unwrap_or_default();
        assert!(
            banner.starts_with("Starting ") && banner.contains("as a console application"),
            "the first line is the start script's: {banner}"
        );
        let mut entries = Vec::new();
        for line in lines {
            let entry: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{role}: a stdout line that is not JSON ({e}): {line}"));
            let severity = entry["severity"].as_str().unwrap_or_default();
            assert!(SEVERITIES.contains(&severity), "{role}: severity in {line}");
            assert!(entry["message"].is_string(), "{role}: message in {line}");
            entries.push(entry);
        }
        assert!(
            entries.len() > 20,
            "{role}: only {} JSON lines",
            entries.len()
        );
        assert!(
            entries
                .iter()
                .any(|e| e["logger"] == logger && e["severity"] == "INFO"),
            "{role}: no INFO line of {logger}"
        );
        // The bootstrap's own lines, before the exec, are JSON on stderr.
        let stderr = std::fs::read_to_string(cluster.dir().join(format!("log/{role}.stderr")))
            .expect("the role's stderr");
        let exec = stderr
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str::<Value>(l).expect("a JSON line"))
            .find(|e| {
                e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("exec "))
            });
        assert!(
            exec.is_some(),
            "{role}: no JSON exec line in stderr:\n{stderr}"
        );
        assert!(
            stderr.contains("Flink's console log is Cloud Logging JSON"),
            "{stderr}"
        );
    }
    // Rendered into each process' own conf dir; the distribution's file is left as it was.
    let rendered = std::fs::read_to_string(
        cluster
            .dir()
            .join("conf-taskmanager-0/log4j-console.properties"),
    )
    .expect("the rendered log4j file");
    assert!(
        rendered.contains("appender.console.layout.eventTemplateUri = classpath:GcpLayout.json"),
        "{rendered}"
    );
    assert!(
        !cluster
            .dist()
            .home()
            .join("conf/log4j-console.properties.image")
            .exists(),
        "the distribution was not edited"
    );
}
