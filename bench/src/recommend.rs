//! Item 7: `flink-savepointer run --recommend` beside a job whose load steps low → saturating →
//! idle (the example job's rate file). Reported, not asserted: what the sidecar's /metrics show
//! every few seconds.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use flink_rest::{ClaimMode, RunJob};
use flink_testkit::{example_jar, ClusterBuilder, JobVariant};

const JOB: &str = "bench-recommend";
/// The job's parallelism, on one TaskManager of [`SLOTS`] slots.
pub const PARALLELISM: u32 = 2;
const SLOTS: u32 = 4;
/// CPU the counter spends per record: a subtask saturates at about 500 records/s.
pub const WORK_US: u32 = 2000;
/// The load steps: (records/s, for how long).
pub const STEPS: [(u32, u64); 3] = [(200, 90), (4000, 90), (5, 90)];
pub const SAMPLE_EVERY_S: u64 = 10;
/// The sidecar's `--recommend-every`, `--metrics-window`, `--stabilisation`.
pub const SIDECAR: [(&str, &str); 3] = [
    ("--recommend-every", "1s"),
    ("--metrics-window", "6s"),
    ("--stabilisation", "8s"),
];

/// One look at the sidecar's /metrics.
#[derive(Debug)]
pub struct Sample {
    pub t_s: f64,
    pub rate: u32,
    /// The busiest vertex: its name, records in/s and busy ms/s.
    pub vertex: String,
    pub records_in: Option<f64>,
    pub busy: Option<f64>,
    pub current: Option<f64>,
    pub recommended: Option<f64>,
    pub taskmanagers: Option<f64>,
    pub evaluated: bool,
}

#[derive(Debug)]
pub struct Results {
    pub samples: Vec<Sample>,
    /// Where the binaries came from (`target/release` or `target/debug`).
    pub bins: String,
}

pub async fn measure(version: &str, bins: &std::path::Path) -> Result<Results> {
    eprintln!("[bench] recommend: starting a Flink {version} cluster (adaptive scheduler)");
    // Small network buffers: a step down in load shows within seconds, not after the backlog of
    // 32 KiB buffers drains (as in the integration test).
    let cluster = ClusterBuilder::new(version)
        .slots(SLOTS)
        .config("jobmanager.scheduler", "adaptive")
        .config("taskmanager.memory.segment-size", "4kb")
        .config("taskmanager.network.memory.buffer-debloat.enabled", "true")
        .start()
        .await;
    let rate_file = cluster.dir().join("rate");
    std::fs::write(&rate_file, STEPS[0].0.to_string())?;
    let jar = example_jar(cluster.dist(), JobVariant::Normal);
    let jar = cluster.client().upload_jar(&jar, "recommend.jar").await?;
    let args = ["--name", JOB, "--work-us", &WORK_US.to_string()];
    let mut program_args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    program_args.extend(["--keys".into(), "64".into(), "--rate-file".into()]);
    program_args.push(rate_file.display().to_string());
    let run = RunJob {
        program_args,
        parallelism: Some(PARALLELISM),
        claim_mode: ClaimMode::NoClaim,
        ..RunJob::default()
    };
    let job = cluster.client().run_jar(&jar, &run).await?;
    flink_testkit::wait_running(cluster.client(), &job).await;

    let listen = format!("127.0.0.1:{}", flink_testkit::free_port());
    let mut sidecar = Command::new(bins.join("flink-savepointer"));
    sidecar
        .args(["run", "--jobmanager-url", cluster.url().as_str()])
        .args(["--job-name", JOB, "--listen", &listen, "--every", "1h"])
        .arg("--target-dir")
        .arg(cluster.savepoint_dir())
        .args(["--recommend", "--slots-per-taskmanager", "2"]);
    for (flag, value) in SIDECAR {
        sidecar.args([flag, value]);
    }
    let mut sidecar = sidecar
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting flink-savepointer run --recommend")?;
    let http = reqwest::Client::new();
    let result: Result<Vec<Sample>> = async {
        let mut samples = Vec::new();
        let start = Instant::now();
        for (rate, secs) in STEPS {
            eprintln!("[bench] recommend: {rate} records/s for {secs} s");
            std::fs::write(&rate_file, rate.to_string())?;
            let step_end = start.elapsed() + Duration::from_secs(secs);
            while start.elapsed() < step_end {
                tokio::time::sleep(Duration::from_secs(SAMPLE_EVERY_S)).await;
                let text = match http.get(format!("http://{listen}/metrics")).send().await {
                    Ok(r) => r.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                samples.push(sample(&text, start.elapsed().as_secs_f64(), rate));
            }
        }
        Ok(samples)
    }
    .await;
    let _ = sidecar.kill();
    let _ = sidecar.wait();
    let bins = bins.file_name().map(|n| n.to_string_lossy().into_owned());
    Ok(Results {
        samples: result?,
        bins: format!("target/{}", bins.unwrap_or_default()),
    })
}

/// The samples of `flink_savepointer_<name>`: (vertex id, vertex name, value).
fn series(text: &str, name: &str) -> Vec<(String, String, f64)> {
    let label = |labels: &str, key: &str| {
        let start = labels.find(&format!("{key}=\""))? + key.len() + 2;
        let end = labels[start..]
            .find("\",")
            .or(labels[start..].find("\"}"))?;
        Some(labels[start..start + end].to_string())
    };
    let prefix = format!("flink_savepointer_{name}{{");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|l| l.contains(&format!("job=\"{JOB}\"")))
        .filter_map(|l| {
            let (labels, value) = l.rsplit_once(' ')?;
            let labels = format!("{labels},");
            Some((
                label(&labels, "vertex_id").unwrap_or_default(),
                label(&labels, "vertex").unwrap_or_default(),
                value.trim().parse().ok()?,
            ))
        })
        .collect()
}

fn sample(text: &str, t_s: f64, rate: u32) -> Sample {
    let busiest = series(text, "vertex_busy_ms_per_second")
        .into_iter()
        .max_by(|a, b| a.2.total_cmp(&b.2));
    let of = |name: &str| {
        let id = busiest.as_ref()?.0.clone();
        series(text, name)
            .into_iter()
            .find(|s| s.0 == id)
            .map(|s| s.2)
    };
    let job_value = |name: &str| series(text, name).first().map(|s| s.2);
    Sample {
        t_s,
        rate,
        vertex: busiest.as_ref().map(|b| b.1.clone()).unwrap_or_default(),
        records_in: of("vertex_records_in_per_second"),
        busy: busiest.as_ref().map(|b| b.2),
        current: of("current_parallelism"),
        recommended: of("recommended_parallelism"),
        taskmanagers: job_value("recommended_taskmanagers"),
        evaluated: job_value("recommendation_evaluated") == Some(1.0),
    }
}
