//! `flink-ops-bench`: measures flink-ops against what users would use
//! instead, side by side on a real local Flink, and writes `bench/RESULTS.md`.
//!
//! Run it through `bench/run`, which installs the tools and builds the
//! release binaries first. Settings (environment):
//!
//! - `BENCH_RUNS`: repetitions of each measurement (default 5).
//! - `BENCH_ONLY`: a comma-separated subset of `downtime` (items 1 and 2),
//!   `savepoints` (3), `bootstrap` (4), `images` (5), `recovery` (6), `recommend` (7).
//! - `BENCH_FLINK_VERSION`: the Flink to run (default 2.3.0).
//! - `BENCH_BIN_DIR`: the built binaries (default `target/release`).
//! - `BENCH_OUT`: where to write the results (default `bench/RESULTS.md`).
//! - `BENCH_NOTE`: a note to print at the top of the results.

mod bootstrap;
mod downtime;
mod images;
mod lab;
mod machine;
mod measure;
mod recommend;
mod recovery;
mod report;
mod savepoints;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::lab::Lab;
use crate::machine::Machine;
use crate::report::Report;

const ITEMS: [&str; 6] = [
    "downtime",
    "savepoints",
    "bootstrap",
    "images",
    "recovery",
    "recommend",
];

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flink-ops-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn env_or(name: &str, default: impl Into<String>) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.into())
}

async fn run() -> Result<()> {
    let bench_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workspace = bench_dir.parent().context("the workspace")?.to_path_buf();
    let runs: usize = env_or("BENCH_RUNS", "5")
        .parse()
        .context("BENCH_RUNS must be a number")?;
    if runs == 0 {
        bail!("BENCH_RUNS must be at least 1");
    }
    let only = env_or("BENCH_ONLY", ITEMS.join(","));
    let only: Vec<&str> = only.split(',').map(str::trim).collect();
    if let Some(unknown) = only.iter().find(|i| !ITEMS.contains(i)) {
        bail!(
            "BENCH_ONLY: unknown item {unknown}; known: {}",
            ITEMS.join(", ")
        );
    }
    let version = env_or("BENCH_FLINK_VERSION", "2.3.0");
    let bins = PathBuf::from(env_or(
        "BENCH_BIN_DIR",
        workspace.join("target/release").display().to_string(),
    ));
    for bin in ["flink-deploy", "flink-savepointer", "flink-bootstrap"] {
        if !bins.join(bin).is_file() {
            bail!(
                "{} has no {bin}: run `cargo build --release --locked --bins` (bench/run does)",
                bins.display()
            );
        }
    }
    let out = PathBuf::from(env_or(
        "BENCH_OUT",
        bench_dir.join("RESULTS.md").display().to_string(),
    ));

    let mut machine = Machine::describe(&version);
    let cores: f64 = machine.nproc.parse().unwrap_or(1.0);
    let load: f64 = machine.load_before.parse().unwrap_or(0.0);
    let mut notes: Vec<String> = std::env::var("BENCH_NOTE").ok().into_iter().collect();
    if load > 0.5 * cores {
        notes.push(format!(
            "taken on a busy machine: the load average was {load:.2} on {cores} CPUs when the bench \
             started, so the figures are slower and noisier than on a quiet one."
        ));
    }

    let gnu_time_overhead_s = measure::gnu_time_overhead_s();
    let want = |item: &str| only.contains(&item);
    let mut lab = match ["downtime", "savepoints", "bootstrap", "recovery"]
        .iter()
        .any(|i| want(i))
    {
        true => {
            eprintln!("[bench] starting a Flink {version} cluster");
            Some(Lab::start(&version, bins.clone(), bench_dir.clone()).await?)
        }
        false => None,
    };
    let (mut downtime, mut savepoints, mut bootstrap, mut recovery) = (None, None, None, None);
    if let Some(lab) = &mut lab {
        if want("downtime") {
            downtime = Some(downtime::measure(lab, runs).await?);
        }
        if want("savepoints") {
            if downtime.is_none() {
                lab.start_job().await?;
            }
            savepoints = Some(savepoints::measure(lab, runs).await?);
        }
        if want("bootstrap") {
            bootstrap = Some(bootstrap::measure(lab, runs).await?);
        }
        // Last: it kills the JobManager, which the other items' job does not survive.
        if want("recovery") {
            recovery = Some(recovery::measure(lab, runs).await?);
        }
    }
    // Its own cluster (adaptive scheduler, small buffers): the other one stops first.
    drop(lab);
    let recommend = match want("recommend") {
        true => Some(recommend::measure(&version, &bins).await?),
        false => None,
    };
    let images = want("images").then(images::measure);
    machine.load_after = machine::load();

    let report = Report {
        machine: &machine,
        runs,
        gnu_time_overhead_s,
        busy_note: (!notes.is_empty()).then(|| notes.join(" ")),
        downtime: downtime.as_ref(),
        savepoints: savepoints.as_ref(),
        bootstrap: bootstrap.as_ref(),
        images: images.as_ref(),
        recovery: recovery.as_ref(),
        recommend: recommend.as_ref(),
    };
    std::fs::write(&out, report.render()).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("[bench] wrote {}", out.display());
    Ok(())
}
