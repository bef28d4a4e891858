//! `flink-savepointer run --recommend` on real Flink 1.20 and 2.3: a job whose load the test
//! steps through its rate file (the example job's counter spends 2 ms of CPU per record).
//! Saturated, the recommended parallelism and TaskManager count rise above what the job runs
//! at; idle, they fall, but no lower than one step of the scale-down limit allows; while
//! stabilising or collecting the recommendation holds the current parallelism. With
//! `--apply-recommendation` the sidecar rescales the job in place, one limited step at a time,
//! stabilising after each.

use std::time::Duration;

use flink_rest::{FlinkClient, JobId};
use flink_testkit::{each_version, eventually, wait_counter_parallelism, Cluster};

use crate::common::{elastic_builder, start_example_with};
use crate::savepointer::Sidecar;

/// Every sample of `flink_savepointer_<name>` for `job` whose labels contain `vertex`.
fn values(text: &str, name: &str, job: &str, vertex: Option<&str>) -> Vec<f64> {
    let job_label = format!("job=\"{job}\"");
    let vertex_label = vertex.map(|v| format!("vertex=\"{v}\""));
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("flink_savepointer_{name}{{")))
        .filter(|l| l.contains(&job_label))
        .filter(|l| vertex_label.as_ref().is_none_or(|v| l.contains(v.as_str())))
        .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse().ok())
        .collect()
}

/// The recommendation as /metrics shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Shown {
    evaluated: bool,
    current: f64,
    recommended: f64,
    taskmanagers: f64,
    current_taskmanagers: f64,
}

async fn shown(sidecar: &Sidecar) -> Result<Shown, String> {
    let (_, text) = sidecar.get("/metrics").await?;
    let one = |name: &str, vertex: Option<&str>| {
        values(&text, name, "load", vertex)
            .first()
            .copied()
            .ok_or_else(|| format!("no {name} yet in:\n{text}"))
    };
    Ok(Shown {
        evaluated: one("recommendation_evaluated", None)? == 1.0,
        current: one("current_parallelism", Some("counter"))?,
        recommended: one("recommended_parallelism", Some("counter"))?,
        taskmanagers: one("recommended_taskmanagers", None)?,
        current_taskmanagers: one("current_taskmanagers", None)?,
    })
}

/// Waits until the shown recommendation satisfies `want`; checks on every look that a
/// recommendation not yet evaluated holds the current parallelism. Returns the last one and
/// whether one not evaluated was seen.
async fn wait_shown(sidecar: &Sidecar, what: &str, want: impl Fn(&Shown) -> bool) -> (Shown, bool) {
    let held = std::sync::atomic::AtomicBool::new(false);
    let held = &held;
    let want = &want;
    let last = eventually(what, Duration::from_secs(150), || async move {
        let s = shown(sidecar).await?;
        if !s.evaluated {
            assert_eq!(
                s.recommended, s.current,
                "a recommendation before the window is full holds the parallelism: {s:?}"
            );
            held.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        match want(&s) {
            true => Ok(s),
            false => Err(format!("{s:?}")),
        }
    })
    .await;
    (last, held.load(std::sync::atomic::Ordering::Relaxed))
}

fn sidecar(cluster: &Cluster, extra: &[&str]) -> Sidecar {
    let target = cluster.savepoint_dir();
    let mut args = vec![
        "--job-name",
        "load",
        "--target-dir",
        target.to_str().unwrap(),
        "--every",
        "1h",
        "--recommend",
        "--recommend-every",
        "1s",
        "--metrics-window",
        "6s",
        "--stabilisation",
        "8s",
        "--slots-per-taskmanager",
        "2",
    ];
    args.extend_from_slice(extra);
    Sidecar::start(cluster.url(), &args)
}

async fn counter_parallelism(client: &FlinkClient, job: &JobId) -> u32 {
    client
        .job(job)
        .await
        .ok()
        .and_then(|d| {
            d.vertices
                .iter()
                .find(|v| v.name.contains("counter"))
                .map(|v| v.parallelism)
        })
        .unwrap_or(0)
}

#[each_version(flavor = "multi_thread")]
async fn recommendation_follows_the_load(version: &str) {
    // Small network buffers sized to a second of throughput: a step down in load shows within
    // seconds, not after minutes of draining 32 KiB buffers of backlog at 1500 records/s.
    let cluster = elastic_builder(version, 4)
        .config("taskmanager.memory.segment-size", "4kb")
        .config("taskmanager.network.memory.buffer-debloat.enabled", "true")
        .start()
        .await;
    let client = cluster.client();
    let rate_file = cluster.dir().join("rate");
    std::fs::write(&rate_file, "4000").unwrap();
    let rate_arg = rate_file.to_str().unwrap().to_string();
    let job = start_example_with(
        &cluster,
        "load.jar",
        "load",
        3,
        &[
            "--rate-file",
            &rate_arg,
            "--work-us",
            "2000",
            "--keys",
            "64",
        ],
    )
    .await;
    let job = &job;

    // Saturated: 3 subtasks of 500 records/s against 4000 offered.
    let mut watching = sidecar(&cluster, &[]);
    let (up, held) = wait_shown(&watching, "a recommendation above the job's size", |s| {
        s.evaluated && s.recommended > s.current
    })
    .await;
    assert!(
        held,
        "the first recommendations stabilise and collect before deciding"
    );
    assert_eq!(up.current, 3.0, "{up:?}");
    assert!(
        up.taskmanagers > up.current_taskmanagers,
        "more TaskManagers for more slots: {up:?}"
    );
    // 3 * 100% / 70% rounds up to 5, one step: never beyond its max parallelism of 128.
    assert!(up.recommended <= 128.0, "{up:?}");
    watching.assert_alive();
    let log = watching.log();
    assert!(
        log.contains("recommendation for 'load'") && log.contains("above 0.90"),
        "{log}"
    );
    let (_, metrics) = watching.get("/metrics").await.unwrap();
    for input in [
        "vertex_busy_ms_per_second",
        "vertex_back_pressured_ms_per_second",
        "vertex_records_in_per_second",
        "vertex_utilisation",
    ] {
        assert!(
            !values(&metrics, input, "load", Some("counter")).is_empty(),
            "{input} missing:\n{metrics}"
        );
    }
    let busy = values(
        &metrics,
        "vertex_busy_ms_per_second",
        "load",
        Some("counter"),
    )[0];
    assert!(busy > 900.0, "saturated means busy: {busy}\n{metrics}");

    // Idle: 5 records/s. It falls, but one step removes at most half: 3 -> 2, not 1.
    std::fs::write(&rate_file, "5").unwrap();
    let (down, _) = wait_shown(&watching, "a recommendation below the job's size", |s| {
        s.evaluated && s.recommended < s.current
    })
    .await;
    assert_eq!(down.recommended, 2.0, "{down:?}");
    assert!(down.taskmanagers < up.taskmanagers, "{down:?} after {up:?}");
    assert_eq!(counter_parallelism(client, job).await, 3, "only published");
    drop(watching);

    // Applied: in place, one limited step at a time, stabilising after each.
    let applying = sidecar(&cluster, &["--apply-recommendation"]);
    wait_counter_parallelism(client, job, 2, "the sidecar's first step down").await;
    assert_eq!(
        client.jobs_named("load").await.unwrap().len(),
        1,
        "in place"
    );
    wait_counter_parallelism(client, job, 1, "the sidecar's second step down").await;
    let log = applying.log();
    let first = log.find("applied the recommendation in place: ");
    assert!(first.is_some(), "{log}");
    assert!(
        log.contains("counter 3 -> 2") && log.contains("counter 2 -> 1"),
        "two steps, not 3 -> 1:\n{log}"
    );
    assert!(!log.contains("counter 3 -> 1"), "{log}");
}
