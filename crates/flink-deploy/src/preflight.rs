//! The preflight: the new release's job graph, built by Flink (`POST /jars/{id}/plan`) after the
//! upload and before anything is stopped, and what it changes against the running job.
//!
//! A release whose `main()` throws, whose entry class is missing, or that names its job
//! otherwise than `--job-name` is refused here, with the old job untouched and the uploaded jar
//! deleted.

use std::collections::BTreeMap;

use flink_rest::{FlinkClient, JarId, JobDetails, JobId, JobOverview, JobPlan, RunJob};
use serde::Serialize;

use crate::deploy::printable;
use crate::outcome::{rest_failure, Exit, Failure};
use crate::settings::Settings;

/// Why the preflight refused the release.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Flink could not build the job graph (exit 9).
    #[error("the new release is invalid: Flink cannot build its job graph: {cause}. \
             Nothing was stopped{}{}; fix the release and deploy it again.",
        if *.jar_deleted { " and the uploaded jar was deleted" } else { " (the uploaded jar could not be deleted)" },
        if .running.is_some() { format!(": job {} runs on as before", .running.as_ref().map(|j| j.as_str()).unwrap_or_default()) } else { String::new() })]
    Invalid {
        /// Flink's own cause (the last `Caused by` of its trace).
        cause: String,
        /// The uploaded jar was deleted.
        jar_deleted: bool,
        /// The job that runs on.
        running: Option<JobId>,
    },
    /// The release names its job otherwise than `--job-name` (exit 2).
    #[error("the new release names its job '{}', not '{}' (--job-name): flink-deploy finds the job by that name, \
             so the next deploy and flink-savepointer would not find it. Either change the name in the job's code \
             (what its main() passes to execute(), or call execute() without a name to get --job-name), \
             or pass --job-name '{}'. Nothing was stopped{}.",
        printable(.actual), printable(.expected), printable(.actual),
        if *.jar_deleted { " and the uploaded jar was deleted" } else { " (the uploaded jar could not be deleted)" })]
    NameMismatch {
        /// `--job-name`.
        expected: String,
        /// The name in the job graph.
        actual: String,
        /// The uploaded jar was deleted.
        jar_deleted: bool,
    },
}

/// The run request of this deploy, restoring from `savepoint_path` (the plan uses the same,
/// without the restore).
pub fn run_request(s: &Settings, savepoint_path: Option<String>) -> RunJob {
    RunJob {
        entry_class: s.args.entry_class.clone(),
        program_args: s.args.program_args.clone(),
        parallelism: s.args.parallelism,
        job_id: None,
        savepoint_path,
        allow_non_restored_state: s.args.allow_non_restored_state,
        claim_mode: s.args.claim_mode.into(),
        flink_configuration: s.flink_conf.clone(),
    }
}

/// Flink's own cause in an error text: the last `(caused by …)` the client extracted from the
/// trace, else the whole text.
pub fn flink_cause(text: &str) -> String {
    const MARK: &str = "(caused by ";
    match text.rfind(MARK) {
        Some(at) => {
            let rest = &text[at + MARK.len()..];
            rest.strip_suffix(')').unwrap_or(rest).to_string()
        }
        None => text.to_string(),
    }
}

/// Builds the release's job graph from the uploaded `jar` and checks its name. On a refusal the
/// jar is deleted (nothing else was touched). `running` is the job an update would stop.
pub async fn preflight(
    client: &FlinkClient,
    s: &Settings,
    jar: &JarId,
    running: Option<&JobId>,
) -> Result<JobPlan, Failure> {
    let run = run_request(s, None);
    let planned = match client.plan_jar(jar, &run).await {
        Ok(plan) => plan,
        Err(e) => {
            let jar_deleted = delete(client, jar).await;
            return Err(match &e {
                // Flink answered, with its trace: the release is at fault.
                flink_rest::Error::Client { message, .. }
                | flink_rest::Error::Server { message, .. }
                    if !message.is_empty() =>
                {
                    Failure::new(
                        Exit::InvalidRelease,
                        Refused::Invalid {
                            cause: flink_cause(message),
                            jar_deleted,
                            running: running.cloned(),
                        },
                    )
                }
                _ => rest_failure(
                    "cannot build the new release's job graph (preflight); nothing was stopped",
                    e,
                ),
            });
        }
    };
    if planned.name != s.job_name {
        let jar_deleted = delete(client, jar).await;
        return Err(Failure::new(
            Exit::Usage,
            Refused::NameMismatch {
                expected: s.job_name.clone(),
                actual: planned.name,
                jar_deleted,
            },
        ));
    }
    tracing::info!(
        vertices = planned.nodes.len(),
        "preflight: Flink built the new release's job graph"
    );
    Ok(planned)
}

/// `plan`'s preflight: uploads the jar under a name no deploy counts as this job's
/// ([`crate::plan::plan_upload_name`]), builds its graph, deletes it, and sets the graph beside
/// the running job's.
pub async fn plan_graph(
    client: &FlinkClient,
    s: &Settings,
    plan: &crate::plan::Plan,
) -> Result<GraphDiff, Failure> {
    let running = match &plan.start {
        crate::plan::Start::Update { job_id, .. } => Some(JobId::new(job_id.clone())),
        _ => None,
    };
    let name = crate::plan::plan_upload_name(&s.job_name, time::OffsetDateTime::now_utc());
    tracing::info!(jar = %s.args.jar.display(), "preflight: uploading the jar as {name} (deleted again)");
    let jar = client
        .upload_jar(&s.args.jar, &name)
        .await
        .map_err(|e| rest_failure("cannot upload the jar for the preflight", e))?;
    let planned = preflight(client, s, &jar, running.as_ref()).await?;
    if !delete(client, &jar).await {
        tracing::warn!(jar = %jar, "the preflight's jar is left on the JobManager; delete it by hand");
    }
    let details = match &running {
        Some(job) => Some(
            client
                .job(job)
                .await
                .map_err(|e| rest_failure("cannot read the running job's vertices", e))?,
        ),
        None => None,
    };
    Ok(GraphDiff::of(&planned, details.as_ref()))
}

async fn delete(client: &FlinkClient, jar: &JarId) -> bool {
    match client.delete_jar(jar).await {
        Ok(()) => true,
        Err(e) if e.is_not_found() => true,
        Err(e) => {
            tracing::warn!(jar = %jar, error = %e, "cannot delete the uploaded jar");
            false
        }
    }
}

/// Active jobs of other names that most likely run a jar flink-deploy uploaded for `job_name`
/// (a release that named its job otherwise, deployed before flink-deploy checked names): each
/// started within minutes after one of its jars was uploaded. Flink's REST API does not say
/// which jar a job runs, so this is a likelihood, and the message says so.
pub async fn jobs_from_jars_of(client: &FlinkClient, job_name: &str) -> Vec<JobOverview> {
    let (Ok(jobs), Ok(jars)) = (client.jobs().await, client.jars().await) else {
        return Vec::new();
    };
    jobs.into_iter()
        .filter(|j| j.state.is_active() && j.name != job_name)
        .filter(|j| {
            jars.iter().any(|jar| {
                savepoint_layout::is_deploy_jar_of(&jar.name, job_name)
                    && savepoint_layout::started_after_upload(j.start_time, jar.uploaded)
            })
        })
        .collect()
}

/// One side of a vertex: its name and parallelism (and, running, its max parallelism).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VertexSide {
    pub name: String,
    pub parallelism: u32,
    /// Where Flink reports it (the running job's vertices only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<u32>,
}

/// What the release does to one vertex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// The same name and parallelism.
    Same,
    /// In both, with another name or parallelism.
    Changed,
    /// Only in the new release.
    New,
    /// Only in the running job (its state needs `--allow-non-restored-state`).
    Gone,
}

/// One vertex of the diff, matched by id (stable for the same operator uids).
#[derive(Debug, Clone, Serialize)]
pub struct VertexDiff {
    pub id: String,
    pub change: Change,
    /// In the new release's graph.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<VertexSide>,
    /// In the running job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<VertexSide>,
}

/// The new release's job graph beside the running job's.
#[derive(Debug, Clone, Serialize)]
pub struct GraphDiff {
    /// The name the new release gives its job.
    pub job_name: String,
    /// The running job compared with, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_job_id: Option<String>,
    /// The new graph's vertices in Flink's order, then the running job's that are gone.
    pub vertices: Vec<VertexDiff>,
}

/// A plan node's description as a name: Flink writes it as HTML.
fn plain(description: &str) -> String {
    description
        .replace("<br/>", " ")
        .replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#92;", "\\")
        .replace("&amp;", "&")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl GraphDiff {
    /// `plan` beside `running` (the job an update stops, if any).
    pub fn of(plan: &JobPlan, running: Option<&JobDetails>) -> GraphDiff {
        let mut old: BTreeMap<&str, VertexSide> = running
            .map(|r| {
                r.vertices
                    .iter()
                    .map(|v| {
                        (
                            v.id.as_str(),
                            VertexSide {
                                name: v.name.clone(),
                                parallelism: v.parallelism,
                                max_parallelism: v.max_parallelism,
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut vertices: Vec<VertexDiff> = plan
            .nodes
            .iter()
            .map(|n| {
                let new = VertexSide {
                    name: plain(&n.description),
                    parallelism: n.parallelism,
                    max_parallelism: None,
                };
                let was = old.remove(n.id.as_str());
                let change = match &was {
                    None => Change::New,
                    Some(w) if w.parallelism == new.parallelism && w.name == new.name => {
                        Change::Same
                    }
                    Some(_) => Change::Changed,
                };
                VertexDiff {
                    id: n.id.clone(),
                    change,
                    new: Some(new),
                    running: was,
                }
            })
            .collect();
        if let Some(r) = running {
            // Gone ones in the running job's order.
            for v in &r.vertices {
                if let Some(side) = old.remove(v.id.as_str()) {
                    vertices.push(VertexDiff {
                        id: v.id.clone(),
                        change: Change::Gone,
                        new: None,
                        running: Some(side),
                    });
                }
            }
        }
        GraphDiff {
            job_name: plan.name.clone(),
            running_job_id: running.map(|r| r.jid.to_string()),
            vertices,
        }
    }

    pub fn text(&self) -> String {
        let mut lines = vec![match &self.running_job_id {
            Some(job) => format!(
                "job graph of the new release ('{}'), beside running job {job}:",
                printable(&self.job_name)
            ),
            None => format!(
                "job graph of the new release ('{}'), no running job to compare with:",
                printable(&self.job_name)
            ),
        }];
        for v in &self.vertices {
            let side = |s: &VertexSide| {
                let max = s
                    .max_parallelism
                    .map(|m| format!(", max parallelism {m}"))
                    .unwrap_or_default();
                format!(
                    "'{}' parallelism {}{max}",
                    printable(&s.name),
                    s.parallelism
                )
            };
            let what = match (v.change, &v.new, &v.running) {
                (Change::Same, Some(n), Some(r)) => {
                    format!("same     {} (running: {})", side(n), side(r))
                }
                (Change::Changed, Some(n), Some(r)) => {
                    format!("changed  {} (running: {})", side(n), side(r))
                }
                (_, Some(n), None) => format!("new      {}", side(n)),
                (_, None, Some(r)) => {
                    format!("gone     {} (its state maps to nothing new)", side(r))
                }
                _ => continue,
            };
            lines.push(format!("  {what}  [{}]", v.id));
        }
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flink_rest::{PlanNode, Vertex};

    fn vertex(id: &str, name: &str, parallelism: u32) -> Vertex {
        Vertex {
            id: id.into(),
            name: name.into(),
            parallelism,
            max_parallelism: Some(128),
            status: "RUNNING".into(),
            tasks: BTreeMap::new(),
        }
    }

    #[test]
    fn vertices_are_matched_by_id() {
        let running = JobDetails {
            jid: JobId::new("a".repeat(32)),
            name: "orders".into(),
            state: flink_rest::JobState::Running,
            start_time: 0,
            vertices: vec![
                vertex("s", "Source: source", 2),
                vertex("c", "counter", 2),
                vertex("old", "sink", 2),
            ],
            plan: None,
        };
        let node = |id: &str, d: &str, p| PlanNode {
            id: id.into(),
            description: d.into(),
            parallelism: p,
            inputs: Vec::new(),
        };
        let plan = JobPlan {
            name: "orders".into(),
            nodes: vec![
                node("s", "Source: source", 2),
                node("c", "counter", 4),
                node("n", "Map -&gt; Sink:<br/>out", 4),
            ],
        };
        let diff = GraphDiff::of(&plan, Some(&running));
        let changes: Vec<(&str, Change)> = diff
            .vertices
            .iter()
            .map(|v| (v.id.as_str(), v.change))
            .collect();
        assert_eq!(
            changes,
            [
                ("s", Change::Same),
                ("c", Change::Changed),
                ("n", Change::New),
                ("old", Change::Gone)
            ]
        );
        assert_eq!(
            diff.vertices[2].new.as_ref().unwrap().name,
            "Map -> Sink: out"
        );
        let text = diff.text();
        assert!(text.contains("max parallelism 128"), "{text}");
        let json = serde_json::to_value(&diff).unwrap();
        assert_eq!(json["vertices"][3]["change"], "gone");
        assert_eq!(json["vertices"][1]["running"]["max_parallelism"], 128);
        // No running job: everything is new.
        let fresh = GraphDiff::of(&plan, None);
        assert!(fresh.vertices.iter().all(|v| v.change == Change::New));
    }

    #[test]
    fn the_cause_is_flinks_last_caused_by() {
        let text = "POST http://jm/jars/x/plan: rejected with HTTP 400: org.apache.flink.client.program.ProgramInvocationException: The main method caused an error (caused by java.lang.NumberFormatException: For input string: \"fast\")";
        assert_eq!(
            flink_cause(text),
            "java.lang.NumberFormatException: For input string: \"fast\""
        );
        assert_eq!(flink_cause("no cause"), "no cause");
    }
}
