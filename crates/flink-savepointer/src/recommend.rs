//! `--recommend`: on its own interval, each selected running job's per-vertex load (busy and
//! back-pressured time, record rates, parallelism) goes through [`flink_autoscaler`]; the
//! recommended parallelism per vertex and TaskManagers per job are published on `/metrics`
//! (for an instance group's autoscaler to follow) and each change is logged with its reason.
//! With `--apply-recommendation` a decided change is applied in place through the adaptive
//! scheduler's resource requirements (Flink 1.18+), which restarts the job's tasks from its
//! latest checkpoint at the new parallelism; the recommender then stabilises again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flink_autoscaler::{Phase, Policy, Recommendation, Recommender, VertexSample};
use flink_rest::{
    FlinkClient, FlinkVersion, JobId, ParallelismBounds, ResourceRequirements, VertexRequirements,
};

use crate::printable;
use crate::select::Selector;
use crate::status::Status;

/// How the recommendation is made and used.
#[derive(Debug, Clone)]
pub struct RecommendSettings {
    /// How often the jobs' metrics are sampled.
    pub every: Duration,
    /// The algorithm's settings.
    pub policy: Policy,
    /// Slots per TaskManager; read from the cluster when not given.
    pub slots_per_taskmanager: Option<u32>,
    /// Apply a decided change in place.
    pub apply: bool,
}

/// One job's published recommendation.
#[derive(Debug, Clone)]
pub struct Published {
    /// The job's id.
    pub job_id: String,
    /// The recommendation.
    pub recommendation: Recommendation,
    /// The slots per TaskManager it was counted with.
    pub slots_per_taskmanager: u32,
}

impl Published {
    /// TaskManagers the recommendation needs.
    pub fn taskmanagers(&self) -> u32 {
        self.recommendation.taskmanagers(self.slots_per_taskmanager)
    }

    /// TaskManagers the job needs at its current parallelism.
    pub fn current_taskmanagers(&self) -> u32 {
        flink_autoscaler::taskmanagers_for(
            self.recommendation.current_slots(),
            self.slots_per_taskmanager,
        )
    }
}

/// Samples, recommends, publishes and (if asked) applies, for ever.
pub async fn run(
    client: FlinkClient,
    selector: Selector,
    settings: RecommendSettings,
    status: Arc<Status>,
) {
    let mut state = Jobs::default();
    let mut ticker = tokio::time::interval(settings.every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        state.round(&client, &selector, &settings, &status).await;
    }
}

/// What the loop remembers between samples.
#[derive(Default)]
struct Jobs {
    recommenders: HashMap<JobId, Recommender>,
    /// What was last logged per job: the recommended parallelism and TaskManagers.
    logged: HashMap<JobId, (BTreeMap<String, u32>, u32)>,
    /// Jobs whose cluster refused resource requirements: not tried again.
    not_rescalable: HashSet<JobId>,
}

impl Jobs {
    async fn round(
        &mut self,
        client: &FlinkClient,
        selector: &Selector,
        settings: &RecommendSettings,
        status: &Status,
    ) {
        let jobs = match client.jobs().await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "recommend: cannot list the jobs: {e}");
                return;
            }
        };
        let selection = selector.select(&jobs);
        let running: HashSet<&JobId> = selection.to_save.iter().map(|(_, id)| id).collect();
        self.recommenders.retain(|id, _| running.contains(id));
        self.logged.retain(|id, _| running.contains(id));
        status.keep_recommendations(
            &selection
                .to_save
                .iter()
                .map(|(n, _)| n.clone())
                .collect::<HashSet<_>>(),
        );
        let slots = match settings.slots_per_taskmanager {
            Some(n) => n,
            None => cluster_slots(client).await,
        };
        for (name, job) in &selection.to_save {
            let sample = match sample(client, job).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(job = %printable(name), job_id = %job, error = %e,
                        "recommend: cannot read the job's metrics: {e}");
                    continue;
                }
            };
            let recommender = self
                .recommenders
                .entry(job.clone())
                .or_insert_with(|| Recommender::new(settings.policy.clone()));
            let recommendation = recommender.observe(Instant::now(), sample);
            let published = Published {
                job_id: job.to_string(),
                recommendation,
                slots_per_taskmanager: slots,
            };
            self.log_change(name, job, &published);
            status.publish_recommendation(name, published.clone());
            let rec = &published.recommendation;
            if settings.apply
                && rec.phase == Phase::Evaluated
                && rec.is_change()
                && !self.not_rescalable.contains(job)
            {
                self.apply(client, name, job, rec).await;
            }
        }
    }

    fn log_change(&mut self, name: &str, job: &JobId, published: &Published) {
        let rec = &published.recommendation;
        let now = (rec.parallelism(), published.taskmanagers());
        let before = self.logged.insert(job.clone(), now.clone());
        if before.as_ref() == Some(&now) {
            return;
        }
        let changes: Vec<String> = rec
            .vertices
            .iter()
            .map(|v| {
                format!(
                    "{} {} -> {}: {}",
                    printable(&v.name),
                    v.current,
                    v.recommended,
                    v.reason
                )
            })
            .collect();
        tracing::info!(
            job = %printable(name),
            job_id = %job,
            taskmanagers = now.1,
            slots = rec.slots(),
            slots_per_taskmanager = published.slots_per_taskmanager,
            "recommendation for '{}': {} TaskManager(s) ({} slots); {}",
            printable(name),
            now.1,
            rec.slots(),
            changes.join("; ")
        );
    }

    async fn apply(&mut self, client: &FlinkClient, name: &str, job: &JobId, rec: &Recommendation) {
        let shown = printable(name);
        if client
            .version()
            .await
            .is_ok_and(|v| v < FlinkVersion::new(1, 18, 0))
        {
            tracing::warn!(job = %shown, job_id = %job,
                "cannot apply the recommendation: Flink before 1.18 takes no resource requirements; only publishing it");
            self.not_rescalable.insert(job.clone());
            return;
        }
        let current = match client.resource_requirements(job).await {
            Ok(c) => c,
            Err(e) if e.is_transient() => {
                tracing::warn!(job = %shown, job_id = %job, error = %e,
                    "cannot read the job's resource requirements; trying again next time: {e}");
                return;
            }
            Err(e) => {
                tracing::warn!(job = %shown, job_id = %job, error = %e,
                    "cannot apply the recommendation: only the adaptive scheduler (jobmanager.scheduler: adaptive) rescales in place; only publishing it: {e}");
                self.not_rescalable.insert(job.clone());
                return;
            }
        };
        let wanted = requirements(&current, rec);
        match client.set_resource_requirements(job, &wanted).await {
            Ok(()) => tracing::info!(job = %shown, job_id = %job,
                "applied the recommendation in place: {}",
                rec.vertices.iter().map(|v| format!("{} {} -> {}", printable(&v.name), v.current, v.recommended)).collect::<Vec<_>>().join(", ")),
            Err(e) if e.is_transient() => tracing::warn!(job = %shown, job_id = %job, error = %e,
                "cannot apply the recommendation; trying again next time: {e}"),
            Err(e) => {
                tracing::warn!(job = %shown, job_id = %job, error = %e,
                    "Flink refused the recommendation's resource requirements; only publishing it: {e}");
                self.not_rescalable.insert(job.clone());
            }
        }
    }
}

/// The resource requirements that run each vertex at its recommendation: the upper bound set
/// to it, the lower bound kept (at most the upper), so a job short of slots still runs.
pub fn requirements(current: &ResourceRequirements, rec: &Recommendation) -> ResourceRequirements {
    rec.vertices
        .iter()
        .map(|v| {
            let lower = current
                .get(&v.id)
                .map_or(1, |r| r.parallelism.lower_bound)
                .clamp(1, v.recommended.max(1));
            let parallelism = ParallelismBounds {
                lower_bound: lower,
                upper_bound: v.recommended.max(1),
            };
            (v.id.clone(), VertexRequirements { parallelism })
        })
        .collect()
}

/// The slots a TaskManager of the cluster offers: the most any registered one has, else 1.
async fn cluster_slots(client: &FlinkClient) -> u32 {
    client
        .task_managers()
        .await
        .ok()
        .and_then(|tms| tms.iter().map(|t| t.slots_number).max())
        .filter(|n| *n > 0)
        .unwrap_or(1)
}

/// One sample of every vertex of `job`.
async fn sample(client: &FlinkClient, job: &JobId) -> flink_rest::Result<Vec<VertexSample>> {
    let details = client.job(job).await?;
    let mut out = Vec::with_capacity(details.vertices.len());
    for v in &details.vertices {
        let load = client.vertex_load(job, &v.id).await?;
        out.push(VertexSample {
            id: v.id.clone(),
            name: v.name.clone(),
            parallelism: v.parallelism,
            max_parallelism: v.max_parallelism,
            source: details.is_source(&v.id),
            busy_ms_per_s: load.busy_ms_per_s,
            back_pressured_ms_per_s: load.back_pressured_ms_per_s,
            records_in_per_s: load.records_in_per_s,
            records_out_per_s: load.records_out_per_s,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flink_autoscaler::VertexRecommendation;

    fn vertex(id: &str, current: u32, recommended: u32) -> VertexRecommendation {
        VertexRecommendation {
            id: id.into(),
            name: id.into(),
            current,
            recommended,
            busy_ms_per_s: None,
            back_pressured_ms_per_s: None,
            records_in_per_s: None,
            records_out_per_s: None,
            true_processing_rate: None,
            utilisation: None,
            reason: String::new(),
        }
    }

    #[test]
    fn requirements_follow_the_recommendation_and_keep_a_low_lower_bound() {
        let rec = Recommendation {
            phase: Phase::Evaluated,
            vertices: vec![vertex("a", 1, 1), vertex("b", 4, 2)],
        };
        let bounds = |lower, upper| VertexRequirements {
            parallelism: ParallelismBounds {
                lower_bound: lower,
                upper_bound: upper,
            },
        };
        let current: ResourceRequirements = [
            ("a".to_string(), bounds(1, 1)),
            ("b".to_string(), bounds(4, 4)),
        ]
        .into();
        let new = requirements(&current, &rec);
        assert_eq!(new["a"], bounds(1, 1));
        assert_eq!(
            new["b"],
            bounds(2, 2),
            "the lower bound is never above the upper"
        );
        let up = Recommendation {
            phase: Phase::Evaluated,
            vertices: vec![vertex("b", 2, 3)],
        };
        assert_eq!(requirements(&current, &up)["b"], bounds(3, 3));
        assert_eq!(
            requirements(&ResourceRequirements::new(), &up)["b"],
            bounds(1, 3)
        );
    }

    #[test]
    fn taskmanagers_count_whole_machines() {
        let published = Published {
            job_id: "x".into(),
            recommendation: Recommendation {
                phase: Phase::Evaluated,
                vertices: vec![vertex("a", 1, 1), vertex("b", 3, 5)],
            },
            slots_per_taskmanager: 2,
        };
        assert_eq!(published.taskmanagers(), 3);
        assert_eq!(published.current_taskmanagers(), 2);
    }
}
