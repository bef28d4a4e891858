use super::*;

const SEC: Duration = Duration::from_secs(1);

fn policy() -> Policy {
    Policy {
        metrics_window: 30 * SEC,
        stabilisation: 60 * SEC,
        ..Policy::default()
    }
}

/// A source feeding a counter; the counter is `busy` ms/s busy at `rate` records/s.
fn job(parallelism: u32, busy: f64, rate: f64) -> Vec<VertexSample> {
    vec![
        VertexSample {
            id: "a".repeat(32),
            name: "Source: source".into(),
            parallelism: 1,
            max_parallelism: Some(128),
            source: true,
            busy_ms_per_s: Some(10.0),
            back_pressured_ms_per_s: Some(if busy > 900.0 { 800.0 } else { 0.0 }),
            records_in_per_s: Some(0.0),
            records_out_per_s: Some(rate),
        },
        VertexSample {
            id: "b".repeat(32),
            name: "counter".into(),
            parallelism,
            max_parallelism: Some(128),
            source: false,
            busy_ms_per_s: Some(busy),
            back_pressured_ms_per_s: Some(0.0),
            records_in_per_s: Some(rate),
            records_out_per_s: Some(rate),
        },
    ]
}

/// Feeds one sample every 5 s from `start` for `span`; returns the last recommendation.
fn feed(
    r: &mut Recommender,
    start: Instant,
    span: Duration,
    sample: impl Fn() -> Vec<VertexSample>,
) -> Recommendation {
    let mut last = None;
    let mut t = Duration::ZERO;
    while t <= span {
        last = Some(r.observe(start + t, sample()));
        t += 5 * SEC;
    }
    last.expect("at least one sample")
}

fn counter(rec: &Recommendation) -> &VertexRecommendation {
    rec.vertices.iter().find(|v| v.name == "counter").unwrap()
}

#[test]
fn nothing_is_decided_while_stabilising_or_collecting() {
    let mut r = Recommender::new(policy());
    let t0 = Instant::now();
    let first = r.observe(t0, job(2, 1000.0, 2000.0));
    assert!(matches!(first.phase, Phase::Stabilising { left } if left == 60 * SEC));
    assert!(!first.is_change());
    let stabilising = r.observe(t0 + 59 * SEC, job(2, 1000.0, 2000.0));
    assert!(matches!(stabilising.phase, Phase::Stabilising { .. }));
    assert_eq!(counter(&stabilising).recommended, 2);
    // The window starts when the stabilisation ends, and must be covered first.
    let collecting = r.observe(t0 + 60 * SEC, job(2, 1000.0, 2000.0));
    assert!(matches!(collecting.phase, Phase::Collecting { .. }));
    let still = r.observe(t0 + 89 * SEC, job(2, 1000.0, 2000.0));
    assert!(matches!(still.phase, Phase::Collecting { covered } if covered == 29 * SEC));
    assert!(!still.is_change(), "{still:?}");
    let decided = r.observe(t0 + 90 * SEC, job(2, 1000.0, 2000.0));
    assert_eq!(decided.phase, Phase::Evaluated);
    assert!(counter(&decided).recommended > 2, "{decided:?}");
}

#[test]
fn a_saturated_vertex_grows_and_so_do_slots_and_taskmanagers() {
    let mut r = Recommender::new(policy());
    let rec = feed(&mut r, Instant::now(), 120 * SEC, || job(2, 990.0, 1800.0));
    let c = counter(&rec);
    // 99% busy against a 70% target: 2 * 0.99 / 0.7 = 2.83, so 3.
    assert_eq!(c.recommended, 3, "{c:?}");
    assert!(c.reason.contains("above 0.90"), "{}", c.reason);
    let tpr = c.true_processing_rate.unwrap();
    assert!((tpr - 1800.0 / 0.99).abs() < 1e-6, "{tpr}");
    assert_eq!(rec.current_slots(), 2);
    assert_eq!(rec.slots(), 3);
    assert_eq!(rec.taskmanagers(2), 2);
    assert_eq!(rec.taskmanagers(4), 1);
    // The back-pressured source is not grown: it waits, it is not busy.
    let source = &rec.vertices[0];
    assert!(source.recommended <= source.current, "{source:?}");
}

#[test]
fn within_the_band_nothing_changes() {
    let mut r = Recommender::new(policy());
    let rec = feed(&mut r, Instant::now(), 120 * SEC, || job(4, 650.0, 1000.0));
    assert_eq!(counter(&rec).recommended, 4);
    assert!(counter(&rec).reason.contains("kept"));
}

#[test]
fn scale_down_is_limited_per_step_and_never_below_the_minimum() {
    let mut r = Recommender::new(policy());
    let rec = feed(&mut r, Instant::now(), 120 * SEC, || job(8, 20.0, 50.0));
    let c = counter(&rec);
    // Nearly idle wants 1, but one step removes at most half.
    assert_eq!(c.recommended, 4, "{c:?}");
    assert!(c.reason.contains("at most 50% down"), "{}", c.reason);

    let mut r = Recommender::new(Policy {
        min_parallelism: 2,
        max_scale_down_factor: 0.9,
        ..policy()
    });
    let rec = feed(&mut r, Instant::now(), 120 * SEC, || job(3, 0.0, 0.0));
    assert_eq!(counter(&rec).recommended, 2);
    // An idle job still needs one TaskManager.
    assert_eq!(taskmanagers_for(0, 4), 1);
}

#[test]
fn growth_stops_at_max_parallelism() {
    let mut r = Recommender::new(Policy {
        max_parallelism: Some(2),
        ..policy()
    });
    let rec = feed(&mut r, Instant::now(), 120 * SEC, || job(2, 1000.0, 500.0));
    assert_eq!(counter(&rec).recommended, 2);
    assert!(counter(&rec).reason.contains("max parallelism 2"));
    let mut vertices = job(4, 1000.0, 500.0);
    vertices[1].max_parallelism = Some(4);
    let mut r = Recommender::new(policy());
    let rec = feed(&mut r, Instant::now(), 120 * SEC, || vertices.clone());
    assert_eq!(counter(&rec).recommended, 4, "{:?}", counter(&rec));
    assert!(counter(&rec).reason.contains("max parallelism 4"));
}

#[test]
fn a_rescale_restarts_the_stabilisation_and_the_window() {
    let mut r = Recommender::new(policy());
    let t0 = Instant::now();
    let before = feed(&mut r, t0, 120 * SEC, || job(2, 990.0, 1800.0));
    assert_eq!(counter(&before).recommended, 3);
    // The job now runs at 3: the old window's samples must not decide anything.
    let after = r.observe(t0 + 125 * SEC, job(3, 990.0, 1800.0));
    assert!(
        matches!(after.phase, Phase::Stabilising { .. }),
        "{after:?}"
    );
    assert!(!after.is_change());
    let later = feed(&mut r, t0 + 130 * SEC, 50 * SEC, || job(3, 990.0, 1800.0));
    assert!(matches!(later.phase, Phase::Stabilising { .. }));
    let decided = feed(&mut r, t0 + 185 * SEC, 30 * SEC, || job(3, 990.0, 1800.0));
    assert_eq!(decided.phase, Phase::Evaluated);
    assert_eq!(counter(&decided).recommended, 5);
}

#[test]
fn the_window_averages_and_forgets_old_samples() {
    let mut r = Recommender::new(policy());
    let t0 = Instant::now();
    // Saturated for a long while, then idle for more than a window: only idle counts.
    feed(&mut r, t0, 120 * SEC, || job(4, 1000.0, 2000.0));
    let rec = feed(&mut r, t0 + 125 * SEC, 35 * SEC, || job(4, 10.0, 20.0));
    assert_eq!(counter(&rec).recommended, 2, "{:?}", counter(&rec));
    // Part of the window saturated, part at 40%: the mean lies between.
    let mut r = Recommender::new(policy());
    let t1 = Instant::now();
    feed(&mut r, t1, 100 * SEC, || job(4, 400.0, 800.0));
    let mid = feed(&mut r, t1 + 105 * SEC, 10 * SEC, || job(4, 1000.0, 2000.0));
    assert_eq!(mid.phase, Phase::Evaluated);
    let mean = counter(&mid).busy_ms_per_s.unwrap();
    assert!(mean > 400.0 && mean < 1000.0, "{mean}");
}

#[test]
fn missing_metrics_keep_the_parallelism() {
    let mut r = Recommender::new(policy());
    let rec = feed(&mut r, Instant::now(), 120 * SEC, || {
        let mut v = job(2, 1000.0, 100.0);
        v[1].busy_ms_per_s = None;
        v[1].records_in_per_s = Some(f64::NAN);
        v
    });
    assert_eq!(counter(&rec).recommended, 2);
    assert!(counter(&rec).reason.contains("no busy time"));
}

#[test]
fn bad_policies_are_refused_with_the_value() {
    for (p, text) in [
        (
            Policy {
                target_utilisation: 0.0,
                ..Policy::default()
            },
            "not 0",
        ),
        (
            Policy {
                utilisation_boundary: 0.8,
                ..Policy::default()
            },
            "not 0.8",
        ),
        (
            Policy {
                max_scale_down_factor: 1.0,
                ..Policy::default()
            },
            "below 1, not 1",
        ),
        (
            Policy {
                min_parallelism: 0,
                ..Policy::default()
            },
            "at least 1",
        ),
        (
            Policy {
                min_parallelism: 4,
                max_parallelism: Some(2),
                ..Policy::default()
            },
            "(2) is below the minimum (4)",
        ),
    ] {
        let e = p.validated().unwrap_err().to_string();
        assert!(e.contains(text), "{e}");
    }
    assert!(Policy::default().validated().is_ok());
}
