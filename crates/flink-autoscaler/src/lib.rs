//! The parallelism a Flink job's vertices need for their load, and the slots and TaskManagers
//! that makes.
//!
//! The method is the one of the Flink Kubernetes operator's autoscaler, for any cluster that
//! answers REST: each vertex's *true processing rate* (the records it handles per second of
//! busy time) is set against its *target rate* (the records per second it is given), which
//! gives its utilisation at the current parallelism. Outside a band around the utilisation
//! target the vertex is resized so that it would run at the target; a step down removes at
//! most a fraction of its subtasks, a step up never passes its max parallelism. The rates are
//! averaged over a metrics window, and nothing is decided during a stabilisation period after
//! each rescale (a rescaled job catches up and its metrics lie for a while).
//!
//! Without a backlog metric (a Kafka lag) a saturated vertex reads at most 100% busy, so its
//! target rate is what it was given, and a job far behind grows step by step (each step by
//! about 1 / target). The default band is narrower than the operator's for that reason: above
//! 90% is a scale-up.
//!
//! [`Recommender`] is a pure state machine fed with samples and the time they were taken; the
//! I/O (the REST calls, the metrics, applying the result) lives with its callers.
#![deny(missing_docs)]

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

/// How the recommendation is made; [`Policy::default`] holds the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The utilisation a vertex should run at (0..1): the share of its time it is busy.
    pub target_utilisation: f64,
    /// How far the utilisation may stray from the target, either way, before a vertex is resized.
    pub utilisation_boundary: f64,
    /// The span of samples averaged for a decision; nothing is decided before it is covered.
    pub metrics_window: Duration,
    /// After a rescale (and when a job is first seen): how long nothing is decided.
    pub stabilisation: Duration,
    /// The most a step down removes, as a fraction of the current parallelism (0..1).
    pub max_scale_down_factor: f64,
    /// The most a step up adds, as a multiple of the current parallelism.
    pub max_scale_up_factor: f64,
    /// No vertex is recommended below this.
    pub min_parallelism: u32,
    /// No vertex is recommended above this (nor above its own max parallelism).
    pub max_parallelism: Option<u32>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            target_utilisation: 0.7,
            utilisation_boundary: 0.2,
            metrics_window: Duration::from_secs(5 * 60),
            stabilisation: Duration::from_secs(5 * 60),
            max_scale_down_factor: 0.5,
            max_scale_up_factor: 10.0,
            min_parallelism: 1,
            max_parallelism: None,
        }
    }
}

/// Why a policy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPolicy(String);

impl std::fmt::Display for InvalidPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidPolicy {}

impl Policy {
    /// The policy, or what is wrong with it.
    pub fn validated(self) -> Result<Self, InvalidPolicy> {
        let bad = |m: String| Err(InvalidPolicy(m));
        let t = self.target_utilisation;
        if !(t > 0.0 && t <= 1.0) {
            return bad(format!(
                "the utilisation target must be above 0 and at most 1, not {t}"
            ));
        }
        let b = self.utilisation_boundary;
        if !(0.0..t).contains(&b) {
            return bad(format!(
                "the utilisation boundary must be at least 0 and below the target ({t}), not {b}"
            ));
        }
        let d = self.max_scale_down_factor;
        if !(0.0..1.0).contains(&d) {
            return bad(format!(
                "the scale-down limit must be at least 0 and below 1, not {d}"
            ));
        }
        // NaN included: it compares false either way.
        if self.max_scale_up_factor.is_nan() || self.max_scale_up_factor <= 0.0 {
            return bad(format!(
                "the scale-up limit must be above 0, not {}",
                self.max_scale_up_factor
            ));
        }
        if self.min_parallelism == 0 {
            return bad("the minimum parallelism must be at least 1".into());
        }
        if let Some(max) = self.max_parallelism {
            if max < self.min_parallelism {
                return bad(format!(
                    "the maximum parallelism ({max}) is below the minimum ({})",
                    self.min_parallelism
                ));
            }
        }
        Ok(self)
    }
}

/// One vertex as seen in one sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VertexSample {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The parallelism it runs at.
    pub parallelism: u32,
    /// Its max parallelism (key groups), where known.
    pub max_parallelism: Option<u32>,
    /// True for a vertex with no inputs: its rate is what it emits.
    pub source: bool,
    /// Busy time, ms per second, of its busiest subtask (0..=1000).
    pub busy_ms_per_s: Option<f64>,
    /// Back-pressured time, ms per second, of its most back-pressured subtask.
    pub back_pressured_ms_per_s: Option<f64>,
    /// Records in per second, all subtasks.
    pub records_in_per_s: Option<f64>,
    /// Records out per second, all subtasks.
    pub records_out_per_s: Option<f64>,
}

/// Where the recommender stands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    /// Just rescaled (or first seen): metrics are not trusted until the period is over.
    Stabilising {
        /// How much of the period is left.
        #[serde(with = "secs")]
        left: Duration,
    },
    /// Gathering samples until they cover the metrics window.
    Collecting {
        /// How much of the window is covered.
        #[serde(with = "secs")]
        covered: Duration,
    },
    /// Decided from a full window.
    Evaluated,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// A vertex's recommendation and what it was made from (window averages).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VertexRecommendation {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The parallelism it runs at.
    pub current: u32,
    /// The parallelism it should run at.
    pub recommended: u32,
    /// Busy ms per second (busiest subtask), averaged over the window.
    pub busy_ms_per_s: Option<f64>,
    /// Back-pressured ms per second (most back-pressured subtask), averaged over the window.
    pub back_pressured_ms_per_s: Option<f64>,
    /// Records in per second, averaged over the window.
    pub records_in_per_s: Option<f64>,
    /// Records out per second, averaged over the window.
    pub records_out_per_s: Option<f64>,
    /// Records it could handle per second at the current parallelism if always busy.
    pub true_processing_rate: Option<f64>,
    /// Target rate / true processing rate: its load at the current parallelism.
    pub utilisation: Option<f64>,
    /// Why, in a few words.
    pub reason: String,
}

/// The whole job's recommendation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// How it was made.
    #[serde(flatten)]
    pub phase: Phase,
    /// Each vertex, in the order sampled.
    pub vertices: Vec<VertexRecommendation>,
}

impl Recommendation {
    /// The slots the recommended job needs. Flink puts every vertex in one slot-sharing group
    /// unless the job says otherwise, so a slot holds one subtask of each vertex: the job needs
    /// as many slots as its widest vertex.
    pub fn slots(&self) -> u32 {
        self.vertices
            .iter()
            .map(|v| v.recommended)
            .max()
            .unwrap_or(0)
    }

    /// The slots the job runs on now (same rule).
    pub fn current_slots(&self) -> u32 {
        self.vertices.iter().map(|v| v.current).max().unwrap_or(0)
    }

    /// TaskManagers of `slots_per_taskmanager` slots that give [`Recommendation::slots`].
    pub fn taskmanagers(&self, slots_per_taskmanager: u32) -> u32 {
        taskmanagers_for(self.slots(), slots_per_taskmanager)
    }

    /// True when some vertex should run at another parallelism.
    pub fn is_change(&self) -> bool {
        self.vertices.iter().any(|v| v.recommended != v.current)
    }

    /// Each vertex id with its recommended parallelism.
    pub fn parallelism(&self) -> BTreeMap<String, u32> {
        self.vertices
            .iter()
            .map(|v| (v.id.clone(), v.recommended))
            .collect()
    }
}

/// TaskManagers of `slots_per_taskmanager` slots that hold `slots` (at least one).
pub fn taskmanagers_for(slots: u32, slots_per_taskmanager: u32) -> u32 {
    slots.div_ceil(slots_per_taskmanager.max(1)).max(1)
}

/// The recommendation for one job, kept up to date sample by sample.
#[derive(Debug, Clone)]
pub struct Recommender {
    policy: Policy,
    /// When the job last changed shape (parallelism or vertices), or was first seen.
    rescaled_at: Option<Instant>,
    /// The shape of the latest sample: vertex id and parallelism.
    shape: Vec<(String, u32)>,
    /// Samples since the stabilisation ended, at most one window old.
    window: VecDeque<(Instant, Vec<VertexSample>)>,
    /// When the first sample of the current window was taken.
    collecting_since: Option<Instant>,
}

impl Recommender {
    /// A recommender with `policy` (see [`Policy::validated`]).
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            rescaled_at: None,
            shape: Vec::new(),
            window: VecDeque::new(),
            collecting_since: None,
        }
    }

    /// Its policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Takes the sample taken `at` and returns the recommendation as it stands.
    pub fn observe(&mut self, at: Instant, vertices: Vec<VertexSample>) -> Recommendation {
        let shape: Vec<(String, u32)> = vertices
            .iter()
            .map(|v| (v.id.clone(), v.parallelism))
            .collect();
        if self.rescaled_at.is_none() || shape != self.shape {
            self.rescaled_at = Some(at);
            self.shape = shape;
            self.window.clear();
            self.collecting_since = None;
        }
        let since_rescale = at.saturating_duration_since(self.rescaled_at.unwrap_or(at));
        if since_rescale < self.policy.stabilisation {
            let left = self.policy.stabilisation - since_rescale;
            let reason = format!(
                "stabilising after a rescale or start: {}s left",
                left.as_secs()
            );
            return hold(Phase::Stabilising { left }, &vertices, &reason);
        }
        let first = *self.collecting_since.get_or_insert(at);
        self.window.push_back((at, vertices));
        let oldest_kept = at.checked_sub(self.policy.metrics_window);
        while let (Some(limit), Some((taken, _))) = (oldest_kept, self.window.front()) {
            if *taken >= limit || self.window.len() == 1 {
                break;
            }
            self.window.pop_front();
        }
        let latest = &self.window.back().expect("just pushed").1;
        let covered = at.saturating_duration_since(first);
        if covered < self.policy.metrics_window {
            let reason = format!(
                "collecting metrics: {}s of the {}s window",
                covered.as_secs(),
                self.policy.metrics_window.as_secs()
            );
            return hold(Phase::Collecting { covered }, latest, &reason);
        }
        let vertices = latest
            .iter()
            .map(|v| self.evaluate(v, &averages(&self.window, &v.id)))
            .collect();
        Recommendation {
            phase: Phase::Evaluated,
            vertices,
        }
    }

    /// One vertex's parallelism from its window averages.
    fn evaluate(&self, vertex: &VertexSample, avg: &Averages) -> VertexRecommendation {
        let p = &self.policy;
        let current = vertex.parallelism;
        let mut out = VertexRecommendation {
            id: vertex.id.clone(),
            name: vertex.name.clone(),
            current,
            recommended: current,
            busy_ms_per_s: avg.busy,
            back_pressured_ms_per_s: avg.back_pressure,
            records_in_per_s: avg.records_in,
            records_out_per_s: avg.records_out,
            true_processing_rate: None,
            utilisation: None,
            reason: String::new(),
        };
        let rate = if vertex.source {
            avg.records_out
        } else {
            avg.records_in
        };
        let (Some(busy), Some(rate)) = (avg.busy, rate) else {
            out.reason = "no busy time or record rate reported: kept".into();
            return out;
        };
        let busy = (busy / 1000.0).clamp(0.0, 1.0);
        // An idle vertex (no records, or no measurable busy time) handles any rate it is given.
        let utilisation = if rate <= 0.0 || busy <= f64::EPSILON {
            0.0
        } else {
            let true_rate = rate / busy;
            out.true_processing_rate = Some(true_rate);
            rate / true_rate
        };
        out.utilisation = Some(utilisation);
        let (low, high) = (
            p.target_utilisation - p.utilisation_boundary,
            p.target_utilisation + p.utilisation_boundary,
        );
        if (low..=high).contains(&utilisation) {
            out.reason = format!("utilisation {utilisation:.2} within {low:.2}..{high:.2}: kept");
            return out;
        }
        let wanted = utilisation / p.target_utilisation;
        let factor = wanted.clamp(1.0 - p.max_scale_down_factor, 1.0 + p.max_scale_up_factor);
        let mut next = (f64::from(current) * factor).ceil() as u32;
        let ceiling = [vertex.max_parallelism, p.max_parallelism]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(u32::MAX)
            // A vertex already above a lowered limit is brought down to it.
            .max(1);
        let floor = p.min_parallelism.min(ceiling);
        let mut notes = Vec::new();
        if factor > wanted {
            notes.push(format!(
                "at most {:.0}% down per step",
                p.max_scale_down_factor * 100.0
            ));
        } else if factor < wanted {
            notes.push(format!(
                "at most {:.0}x up per step",
                1.0 + p.max_scale_up_factor
            ));
        }
        if next > ceiling {
            next = ceiling;
            notes.push(format!("max parallelism {ceiling}"));
        }
        if next < floor {
            next = floor;
            notes.push(format!("min parallelism {floor}"));
        }
        // A step that would not move in the direction the load asks is no step.
        if (utilisation > high && next < current) || (utilisation < low && next > current) {
            next = current;
        }
        out.recommended = next;
        let side = if utilisation > high {
            format!("above {high:.2}")
        } else {
            format!("below {low:.2}")
        };
        out.reason = format!(
            "utilisation {utilisation:.2} {side} (target {:.2}): {current} -> {next}{}",
            p.target_utilisation,
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            }
        );
        out
    }
}

/// Every vertex at its current parallelism, with the latest sample's values and `reason`.
fn hold(phase: Phase, vertices: &[VertexSample], reason: &str) -> Recommendation {
    Recommendation {
        phase,
        vertices: vertices
            .iter()
            .map(|v| VertexRecommendation {
                id: v.id.clone(),
                name: v.name.clone(),
                current: v.parallelism,
                recommended: v.parallelism,
                busy_ms_per_s: v.busy_ms_per_s,
                back_pressured_ms_per_s: v.back_pressured_ms_per_s,
                records_in_per_s: v.records_in_per_s,
                records_out_per_s: v.records_out_per_s,
                true_processing_rate: None,
                utilisation: None,
                reason: reason.to_string(),
            })
            .collect(),
    }
}

/// Window means of one vertex's values, over the samples that report each.
#[derive(Debug, Default)]
struct Averages {
    busy: Option<f64>,
    back_pressure: Option<f64>,
    records_in: Option<f64>,
    records_out: Option<f64>,
}

fn averages(window: &VecDeque<(Instant, Vec<VertexSample>)>, id: &str) -> Averages {
    let samples: Vec<&VertexSample> = window
        .iter()
        .filter_map(|(_, vs)| vs.iter().find(|v| v.id == id))
        .collect();
    let mean = |pick: fn(&VertexSample) -> Option<f64>| {
        let values: Vec<f64> = samples
            .iter()
            .filter_map(|v| pick(v))
            .filter(|x| x.is_finite())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    Averages {
        busy: mean(|v| v.busy_ms_per_s),
        back_pressure: mean(|v| v.back_pressured_ms_per_s),
        records_in: mean(|v| v.records_in_per_s),
        records_out: mean(|v| v.records_out_per_s),
    }
}

#[cfg(test)]
mod tests;
