//! Item 4: from starting `flink-bootstrap render taskmanager` to the config
//! written, with the GCE metadata stand-in, against the official image's
//! shell approach; measured with hyperfine.

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context, Result};
use flink_testkit::{GceTree, MetadataStandin};

use crate::lab::{flatten, Lab};
use crate::measure::Series;

/// One command hyperfine timed.
#[derive(Debug, Clone)]
pub struct Timing {
    pub label: &'static str,
    /// Wall seconds of each run.
    pub wall_s: Series,
    /// Mean user+sys CPU seconds (hyperfine reports means only).
    pub mean_cpu_s: f64,
}

/// The figures of item 4.
#[derive(Debug, Default)]
pub struct Results {
    pub timings: Vec<Timing>,
    pub runs: usize,
}

const INSTANCE_CONFIG: &str = "heartbeat.timeout: 15 s\nheartbeat.interval: 5 s\n";

pub async fn measure(lab: &Lab, runs: usize) -> Result<Results> {
    // Process start-up is short and noisy: ten runs for each of the bench's.
    let hyperfine_runs = (runs * 10).max(10);
    let standin = MetadataStandin::start(
        GceTree::new("flink-tm-0", "10.0.0.3")
            .instance_attribute("flink-jobmanager-address", "10.0.0.2")
            .instance_attribute("flink-config", INSTANCE_CONFIG)
            .build(),
    )
    .context("the metadata stand-in")?;
    let home = lab.cluster.dist().home().to_path_buf();
    let work = lab.dir("bootstrap")?;

    // Pristine copies of the image's config, in both forms.
    let pristine = work.join("pristine");
    std::fs::create_dir_all(&pristine)?;
    let text = std::fs::read_to_string(home.join("conf/config.yaml"))?;
    std::fs::write(pristine.join("config.yaml"), &text)?;
    let nested: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text)?;
    std::fs::write(pristine.join("flink-conf.yaml"), flatten(&nested))?;

    let bootstrap_conf = work.join("conf-bootstrap");
    let mut bootstrap = Command::new(lab.bin("flink-bootstrap"));
    bootstrap
        .arg("--flink-home")
        .arg(&home)
        .arg("--conf-dir")
        .arg(&bootstrap_conf)
        .args([
            "--metadata",
            "gce",
            "--run-as",
            "root",
            "render",
            "taskmanager",
        ]);

    let mut timings = Vec::new();
    let env = [("GCE_METADATA_HOST", standin.host())];
    eprintln!("[bench] hyperfine: flink-bootstrap render taskmanager");
    timings.push(hyperfine(
        "`flink-bootstrap render taskmanager` (metadata from the stand-in)",
        &bootstrap,
        None,
        &env,
        hyperfine_runs,
        &work,
    )?);
    let rendered = std::fs::read_to_string(bootstrap_conf.join("config.yaml"))
        .context("flink-bootstrap wrote no config.yaml")?;
    ensure!(
        rendered.contains("10.0.0.2"),
        "the rendered config lacks the JobManager address from the metadata:\n{rendered}"
    );

    let script = lab.bench_dir.join("official-entrypoint.sh");
    for (mode, file, label) in [
        (
            "sed",
            "flink-conf.yaml",
            "official-image shell, ≤1.18 style (sed on flink-conf.yaml) + curl for metadata",
        ),
        (
            "parser",
            "config.yaml",
            "official-image shell, 1.19+ style (`config-parser-utils.sh`, a JVM) + curl for metadata",
        ),
    ] {
        let conf = work.join(format!("conf-{mode}"));
        std::fs::create_dir_all(&conf)?;
        let mut cmd = Command::new("bash");
        cmd.arg(&script).arg(mode);
        let prepare = format!(
            "cp {} {}",
            pristine.join(file).display(),
            conf.join(file).display()
        );
        let env = [
            ("GCE_METADATA_HOST", standin.host()),
            ("FLINK_HOME", home.display().to_string()),
            ("FLINK_CONF_DIR", conf.display().to_string()),
            ("TASK_MANAGER_NUMBER_OF_TASK_SLOTS", "2".to_string()),
        ];
        eprintln!("[bench] hyperfine: official-entrypoint.sh {mode}");
        timings.push(hyperfine(
            label,
            &cmd,
            Some(&prepare),
            &env,
            hyperfine_runs,
            &work,
        )?);
        let written = std::fs::read_to_string(conf.join(file))?;
        ensure!(
            written.contains("10.0.0.2") && written.contains("heartbeat.timeout"),
            "official-entrypoint.sh {mode} did not write the metadata's values:\n{written}"
        );
    }
    Ok(Results {
        timings,
        runs: hyperfine_runs,
    })
}

fn hyperfine(
    label: &'static str,
    cmd: &Command,
    prepare: Option<&str>,
    env: &[(&str, String)],
    runs: usize,
    work: &Path,
) -> Result<Timing> {
    let json = work.join("hyperfine.json");
    let mut line = vec![cmd.get_program().to_string_lossy().into_owned()];
    line.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    let mut hf = Command::new("hyperfine");
    hf.args(["--shell=none", "--style", "none", "--warmup", "3"])
        .args(["--runs", &runs.to_string()])
        .arg("--export-json")
        .arg(&json);
    if let Some(prepare) = prepare {
        hf.args(["--prepare", prepare]);
    }
    hf.arg(line.join(" "));
    for (k, v) in env {
        hf.env(k, v);
    }
    let out = hf.output().context("running hyperfine")?;
    ensure!(
        out.status.success(),
        "hyperfine failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
    let result = &report["results"][0];
    let times = result["times"]
        .as_array()
        .context("hyperfine's JSON has no times")?
        .iter()
        .filter_map(|t| t.as_f64())
        .collect();
    let cpu = result["user"].as_f64().unwrap_or(0.0) + result["system"].as_f64().unwrap_or(0.0);
    Ok(Timing {
        label,
        wall_s: Series(times),
        mean_cpu_s: cpu,
    })
}
