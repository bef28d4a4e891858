//! Deciding what a deploy will do, from what the cluster and the savepoint
//! layout show. Reads only: `plan` prints this and stops.

use flink_rest::{FlinkClient, JarFile, JobOverview};
use savepoint_layout::restore::{self, CheckpointsOf, RestoreKind};
use serde::Serialize;

use crate::holdings::{exit_of, literal, Found, Holdings};
use crate::outcome::{rest_failure, Exit, Failure};
use crate::settings::Settings;

/// How the new version starts.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Start {
    /// A job of this name runs: stop it with a savepoint and restore from that.
    Update { job_id: String, state: String },
    /// Nothing runs: restore from a savepoint found (or given).
    Restore {
        path: String,
        found_in: String,
        /// The savepoint, when it was found in the layout: its folder's date and size.
        #[serde(skip_serializing_if = "Option::is_none")]
        layout_savepoint: Option<Found>,
    },
    /// Nothing runs and nothing to restore.
    Fresh { why: String },
}

/// Why a deploy refuses to start (exit 2, nothing touched).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// More than one active job has the name.
    #[error("{count} jobs named '{job_name}' are active: {jobs}. flink-deploy cannot tell which one to update; \
             cancel all but one (with a savepoint), then run it again. Nothing was changed.")]
    AmbiguousJobs {
        /// The name.
        job_name: String,
        /// Their ids and states.
        jobs: String,
        /// How many.
        count: usize,
    },
    /// `--from-savepoint` while the job runs.
    #[error(
        "--from-savepoint {path} is for a job that is not running, but '{job_name}' is {job}: \
             an update restores from the savepoint taken when stopping it. Drop --from-savepoint, \
             or stop the job first. Nothing was changed."
    )]
    RestoreWhileActive {
        /// The path given.
        path: String,
        /// The name.
        job_name: String,
        /// Its state and id.
        job: String,
    },
    /// The job ran before, and nothing to restore was found.
    #[error("'{job_name}' ran before ({evidence}) but no savepoint to restore was found{searched}: refusing to start it without its state. \
             {elsewhere}Pass --from-savepoint PATH, or --allow-fresh-start to start with empty state. Nothing was changed.")]
    NoRestorePoint {
        /// Active jobs of other names started from this name's jars, said as a sentence.
        elsewhere: String,
        /// The name.
        job_name: String,
        /// What shows it ran before.
        evidence: String,
        /// Where savepoints were looked for.
        searched: String,
    },
}

fn refused(refusal: Refusal) -> Failure {
    Failure::new(Exit::Usage, refusal)
}

/// Why a deploy of a job that is not running refuses when its layout cannot be listed: exit 2
/// when the configuration is at fault (no such bucket, access denied, no credentials), 3 when
/// the store does not answer. Never a fresh start, never an older restore point: the newest
/// savepoint may be in the layout.
#[derive(Debug, thiserror::Error)]
#[error("'{job_name}' is not running and its savepoints under {dir} cannot be listed: {cause}. \
         A deploy restores its newest savepoint from there, so it refuses to start it from anything \
         older or with empty state (--allow-fresh-start does not change that). Fix the store or its \
         credentials and run it again, or pass --from-savepoint PATH. Nothing was changed.")]
pub struct LayoutUnlistable {
    /// The name.
    pub job_name: String,
    /// The job's folder in the layout.
    pub dir: String,
    /// What the store said (no credentials in it).
    pub cause: savepoint_layout::LayoutError,
}

/// What a deploy will do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub start: Start,
    /// The jar of this job that ran healthy (see [`crate::deploy::healthy_release`]): what a
    /// rollback runs.
    pub previous_jar: Option<String>,
    /// What the savepoint layout holds for the job, when it was listed (a job that is not
    /// running, with no `--from-savepoint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layout: Option<Holdings>,
    /// `plan` only: the new release's job graph (the preflight) beside the running job's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph: Option<crate::preflight::GraphDiff>,
}

/// The name `plan` uploads the jar under for its preflight: never one of this job's jars
/// ([`is_jar_of`]), so a plan cut short never leaves a jar a rollback or pruning would count.
pub fn plan_upload_name(job_name: &str, now: time::OffsetDateTime) -> String {
    upload_name(job_name, now).replacen("flink-deploy--", "flink-deploy-plan--", 1)
}

/// This job's jars are uploaded as `flink-deploy--<job folder>--<UTC time>.jar`
/// (see [`savepoint_layout::deploy_jar_name`]).
pub fn upload_name(job_name: &str, now: time::OffsetDateTime) -> String {
    savepoint_layout::deploy_jar_name(job_name, now)
}

/// True when `jar` was uploaded by flink-deploy for `job_name`, under its
/// current name or the one earlier versions used ([`legacy_job_folder`]), so
/// jars uploaded before an upgrade remain rollback targets. A legacy name
/// can also be that of a job literally named like it (`my-job-6e279c60` for
/// `my job`); only jars uploaded before the upgrade carry one, and from the
/// first deploy on, each job's newest jar has its unambiguous name.
pub fn is_jar_of(jar: &JarFile, job_name: &str) -> bool {
    jar.name.starts_with("flink-deploy--")
        && savepoint_layout::is_deploy_jar_of(&jar.name, job_name)
}

/// This job's jars on the JobManager, newest first.
pub async fn jars_of(
    client: &FlinkClient,
    job_name: &str,
) -> Result<Vec<JarFile>, flink_rest::Error> {
    let mut jars: Vec<JarFile> = client
        .jars()
        .await?
        .into_iter()
        .filter(|j| is_jar_of(j, job_name))
        .collect();
    jars.sort_by(|a, b| (b.uploaded, &b.name).cmp(&(a.uploaded, &a.name)));
    Ok(jars)
}

fn describe(jobs: &[&JobOverview]) -> String {
    jobs.iter()
        .map(|j| format!("{} ({})", j.jid, j.state))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inspects the cluster and the layout and decides how to start.
pub async fn make_plan(client: &FlinkClient, s: &Settings) -> Result<Plan, Failure> {
    let jobs = client
        .jobs_named(&s.job_name)
        .await
        .map_err(|e| rest_failure("cannot list the cluster's jobs", e))?;
    let jars = jars_of(client, &s.job_name)
        .await
        .map_err(|e| rest_failure("cannot list the uploaded jars", e))?;
    let previous_jar = crate::deploy::healthy_release(&jars, &jobs).map(|j| j.id.to_string());
    let active: Vec<&JobOverview> = jobs.iter().filter(|j| j.state.is_active()).collect();

    if active.len() > 1 {
        return Err(refused(Refusal::AmbiguousJobs {
            job_name: s.job_name.clone(),
            jobs: describe(&active),
            count: active.len(),
        }));
    }
    if let Some(job) = active.first() {
        if let Some(path) = &s.args.from_savepoint {
            return Err(refused(Refusal::RestoreWhileActive {
                path: path.clone(),
                job_name: s.job_name.clone(),
                job: format!("{} as {}", job.state, job.jid),
            }));
        }
        return Ok(Plan {
            start: Start::Update {
                job_id: job.jid.to_string(),
                state: job.state.to_string(),
            },
            previous_jar,
            layout: None,
            graph: None,
        });
    }

    if let Some(path) = &s.args.from_savepoint {
        return Ok(Plan {
            start: Start::Restore {
                path: path.clone(),
                found_in: "--from-savepoint".into(),
                layout_savepoint: None,
            },
            previous_jar,
            layout: None,
            graph: None,
        });
    }

    // Evidence that the job ran before: a fresh start would lose its state.
    let mut ran_before: Vec<String> = Vec::new();
    // Listed before anything changes (the upload comes after the plan). A layout that cannot be
    // listed ends the deploy here: its newest savepoint may be there, so neither a checkpoint the
    // JobManager remembers (maybe older) nor a fresh start is a safe guess.
    let mut holdings = None;
    let mut listed = None;
    if let Some(layout) = &s.layout {
        let listing = layout
            .list(&s.job_name, time::OffsetDateTime::now_utc())
            .await
            .map_err(|cause| {
                Failure::new(
                    exit_of(&cause),
                    LayoutUnlistable {
                        job_name: s.job_name.clone(),
                        dir: literal(&layout.job_dir(&s.job_name)),
                        cause,
                    },
                )
            })?;
        let held = Holdings::of(layout, &s.job_name, &listing);
        // Never restored on their own, but proof the job ran: never a silent fresh start.
        for (what, odd) in listing.set_aside() {
            let newest = &odd[odd.len() - 1];
            tracing::warn!(count = odd.len(), newest = %newest.location, "ignoring savepoint(s) {what}: pass --from-savepoint to use one");
            ran_before.push(format!(
                "{} savepoint(s) {what}, newest {}",
                odd.len(),
                newest.location
            ));
        }
        listed = Some(listing);
        holdings = Some(held);
    }

    // The newest restore point wins: a savepoint of the layout, or a retained checkpoint of a
    // job of this name the JobManager remembers (often newer: savepoints come every 15 minutes).
    let mut finished: Vec<&JobOverview> = jobs.iter().filter(|j| j.state.is_terminal()).collect();
    finished.sort_by_key(|j| std::cmp::Reverse(j.start_time));
    let mut stats = Vec::new();
    for job in &finished {
        let of = client.checkpoints(&job.jid).await.map_err(|e| {
            rest_failure(
                &format!("cannot read the checkpoints of job {}", job.jid),
                e,
            )
        })?;
        stats.push((*job, of));
    }
    let job_ids: Vec<String> = finished.iter().map(|j| j.jid.to_string()).collect();
    let sources = checkpoint_sources(client, s, &job_ids, &stats).await;
    let (checkpoints, problems) = restore::checkpoints_of(&sources).await;
    for problem in &problems {
        tracing::warn!(problem = %problem, "cannot list retained checkpoints ({problem}); the savepoints decide");
    }
    let listing = listed.clone().unwrap_or_default();
    if let Some(point) = restore::newest(&listing, &checkpoints, std::time::SystemTime::now()) {
        let savepoint = listing.newest().filter(|sp| {
            matches!(point.kind, RestoreKind::Savepoint) && sp.location == point.location
        });
        let found_in = match (&point.kind, listing.newest()) {
            (RestoreKind::Savepoint, _) => format!(
                "the savepoint layout under {}",
                literal(
                    s.layout
                        .as_ref()
                        .expect("a savepoint came from the layout")
                        .root()
                )
            ),
            (RestoreKind::Checkpoint { .. }, Some(sp)) => format!(
                "the newest restore point: {}, newer than the layout's newest, {}",
                point.describe(),
                restore::RestorePoint::of_savepoint(sp)
                    .map(|p| p.describe())
                    .unwrap_or_else(|| sp.location.clone())
            ),
            (RestoreKind::Checkpoint { .. }, None) => format!(
                "the newest restore point: {}; the layout holds no complete savepoint",
                point.describe()
            ),
        };
        return Ok(Plan {
            start: Start::Restore {
                path: point.location.clone(),
                found_in,
                layout_savepoint: savepoint.map(Found::from),
            },
            previous_jar,
            layout: holdings,
            graph: None,
        });
    }
    if let Some(held) = &holdings {
        if held.incomplete > 0 {
            ran_before.push(format!(
                "{} incomplete savepoint(s) under {}",
                held.incomplete, held.folder
            ));
        }
    }

    for (job, stats) in &stats {
        // What the JobManager remembers but this process cannot list (a checkpoint directory
        // on the JobManager's own disk): Flink can still restore it.
        let remembered = stats
            .newest_restorable()
            .and_then(|c| c.external_path.clone());
        if let Some(path) = remembered {
            return Ok(Plan {
                start: Start::Restore {
                    path,
                    found_in: format!(
                        "job {} ({}), as the JobManager remembers it",
                        job.jid, job.state
                    ),
                    layout_savepoint: None,
                },
                previous_jar,
                layout: holdings,
                graph: None,
            });
        }
    }
    if !finished.is_empty() {
        ran_before.push(format!("the JobManager remembers {}", describe(&finished)));
    }
    if !jars.is_empty() {
        ran_before.push(format!("{} jar(s) of it on the JobManager", jars.len()));
    }

    if ran_before.is_empty() {
        return Ok(Plan {
            start: Start::Fresh {
                why: "first deploy: no job, savepoint or jar of this name exists".into(),
            },
            previous_jar,
            layout: holdings,
            graph: None,
        });
    }
    if s.args.allow_fresh_start {
        return Ok(Plan {
            start: Start::Fresh {
                why: format!("--allow-fresh-start although {}", ran_before.join("; ")),
            },
            previous_jar,
            layout: holdings,
            graph: None,
        });
    }
    let elsewhere = crate::preflight::jobs_from_jars_of(client, &s.job_name).await;
    Err(refused(Refusal::NoRestorePoint {
        elsewhere: running_elsewhere(&s.job_name, &elsewhere),
        job_name: s.job_name.clone(),
        evidence: ran_before.join("; "),
        searched: s
            .layout
            .as_ref()
            .map(|l| format!(" under {}", l.job_dir(&s.job_name)))
            .unwrap_or_else(|| " (no --savepoint-dir given)".into()),
    }))
}

/// Where the retained checkpoints of `job_ids` may be: the checkpoint directory of the deploy's
/// `--flink-conf`, else the cluster's, and the one each remembered job's checkpoint statistics
/// show (a job may set its own in code).
async fn checkpoint_sources(
    client: &FlinkClient,
    s: &Settings,
    job_ids: &[String],
    stats: &[(&JobOverview, flink_rest::CheckpointStats)],
) -> Vec<CheckpointsOf> {
    if job_ids.is_empty() {
        return Vec::new();
    }
    let cluster = match client.jobmanager_config().await {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the JobManager's configuration ({e}); its checkpoint directory is not searched");
            Default::default()
        }
    };
    let configured = restore::checkpoint_dir(
        |k| s.flink_conf.get(k).map(String::as_str),
        |k| cluster.get(k).map(String::as_str),
    )
    .map(str::to_string);
    let mut sources = Vec::new();
    for id in job_ids {
        if let Some(dir) = &configured {
            sources.push(CheckpointsOf {
                dir: dir.clone(),
                job_id: id.clone(),
            });
        }
    }
    for (job, of) in stats {
        let paths = of
            .history
            .iter()
            .chain(of.latest.completed.iter())
            .filter_map(|c| c.external_path.as_deref());
        for path in paths {
            if let Some(dir) = restore::checkpoint_dir_of(path, job.jid.as_str()) {
                sources.push(CheckpointsOf {
                    dir,
                    job_id: job.jid.to_string(),
                });
            }
        }
    }
    sources
}

/// The sentence naming active jobs that run a jar of `job_name` under another name, if any.
fn running_elsewhere(job_name: &str, jobs: &[JobOverview]) -> String {
    if jobs.is_empty() {
        return String::new();
    }
    let list = jobs
        .iter()
        .map(|j| {
            format!(
                "job {} '{}' ({})",
                j.jid,
                crate::deploy::printable(&j.name),
                j.state
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let first = crate::deploy::printable(&jobs[0].name);
    format!(
        "But {list} started just after a jar of '{}' was uploaded, so it most likely runs that release \
         under the name its code gives it. \
         If that is this job, pass --job-name '{first}' (or name the job '{}' in its code, \
         then update it with --job-name '{first}' once). ",
        crate::deploy::printable(job_name),
        crate::deploy::printable(job_name),
    )
}

impl Plan {
    pub fn text(&self, s: &Settings) -> String {
        let mut steps = vec![
            format!(
                "upload {} as a new jar of '{}'",
                s.args.jar.display(),
                s.job_name
            ),
            "build its job graph (preflight): if Flink cannot, or it names the job otherwise, stop here (nothing stopped, jar deleted)".to_string(),
        ];
        let target = s
            .layout
            .as_ref()
            .map(|l| format!("{}<UTC date>/", l.job_dir(&s.job_name)))
            .unwrap_or_else(|| "the cluster's default savepoint directory".into());
        match &self.start {
            Start::Update { job_id, state } => {
                steps.push(format!(
                    "stop job {job_id} ({state}) with a savepoint into {target}"
                ));
                steps.push("run the new jar from that savepoint".into());
            }
            Start::Restore {
                path,
                found_in,
                layout_savepoint,
            } => {
                let what = match (layout_savepoint, &self.layout) {
                    (Some(sp), Some(held)) => format!(
                        ", the newest of {} complete, taken {}, {}",
                        held.complete,
                        sp.taken_at,
                        crate::holdings::size(sp.bytes)
                    ),
                    _ => String::new(),
                };
                steps.push(format!(
                    "run the new jar from {path} (found in {found_in}{what})"
                ));
            }
            Start::Fresh { why } => steps.push(format!("run the new jar with empty state ({why})")),
        }
        steps.push(format!(
            "wait until all its tasks run (up to {}), then watch it for {}{}",
            humantime::format_duration(s.args.startup_timeout),
            humantime::format_duration(s.args.stable_for),
            if s.args.require_checkpoint {
                " and one completed checkpoint"
            } else {
                ""
            }
        ));
        steps.push(match (&self.previous_jar, s.args.no_rollback) {
            (_, true) => "if unhealthy: leave it (--no-rollback)".into(),
            (Some(jar), false) => {
                format!("if unhealthy: cancel it and run {jar} from the same savepoint")
            }
            (None, false) => "if unhealthy: cancel it (no previous jar to roll back to)".into(),
        });
        steps.push(format!(
            "keep this job's newest {} jar(s)",
            s.args.keep_jars
        ));
        let mut text = steps
            .iter()
            .enumerate()
            .map(|(i, step)| format!("{}. {step}", i + 1))
            .collect::<Vec<_>>()
            .join("\n");
        if let Some(graph) = &self.graph {
            text.push('\n');
            text.push_str(&graph.text());
        }
        if let Some(held) = &self.layout {
            text.push_str(&format!(
                "\nthe layout holds under {}: {}",
                held.folder,
                held.summary()
            ));
            for aside in &held.set_aside {
                text.push_str(&format!(
                    "\n  set aside, never restored on their own: {} {}, newest {}",
                    aside.count, aside.why, aside.newest
                ));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flink_rest::JarId;

    fn jar(name: &str) -> JarFile {
        JarFile {
            id: JarId::new(format!("uuid_{name}")),
            name: name.into(),
            uploaded: 0,
        }
    }

    #[test]
    fn jars_are_recognised_by_their_exact_job() {
        let now = time::macros::datetime!(2026-11-23 18:15:42 UTC);
        let name = upload_name("orders", now);
        assert_eq!(name, "flink-deploy--orders--20261123181542.jar");
        assert!(is_jar_of(&jar(&name), "orders"));
        assert!(!is_jar_of(&jar(&name), "orders-v2"));
        assert!(!is_jar_of(&jar(&upload_name("orders-v2", now)), "orders"));
        assert!(!is_jar_of(&jar(&upload_name("a--b", now)), "a"));
        assert!(is_jar_of(&jar(&upload_name("a--b", now)), "a--b"));
        assert!(!is_jar_of(&jar("orders.jar"), "orders"));
        assert!(is_jar_of(&jar(&upload_name("my job", now)), "my job"));
    }

    #[test]
    fn jar_names_of_two_jobs_never_collide() {
        let now = time::macros::datetime!(2026-11-23 18:15:42 UTC);
        // The pair: "my job" and a job named like its old folder.
        assert_eq!(
            upload_name("my job", now),
            "flink-deploy--my~20job--20261123181542.jar"
        );
        assert_eq!(
            upload_name("my-job-6e279c60", now),
            "flink-deploy--my-job~2D6e279c60--20261123181542.jar"
        );
        assert!(!is_jar_of(
            &jar(&upload_name("my job", now)),
            "my-job-6e279c60"
        ));
        assert!(!is_jar_of(
            &jar(&upload_name("my-job-6e279c60", now)),
            "my job"
        ));
        assert!(is_jar_of(
            &jar(&upload_name("my-job-6e279c60", now)),
            "my-job-6e279c60"
        ));
        assert!(!is_jar_of(&jar(&upload_name("my~20job", now)), "my job"));
    }

    #[test]
    fn jars_uploaded_under_the_legacy_name_are_still_this_jobs() {
        // What earlier versions uploaded for "my job" and for "orders".
        let old = jar("flink-deploy--my-job-6e279c60--20261101120000.jar");
        assert!(is_jar_of(&old, "my job"));
        assert!(!is_jar_of(&old, "my job 2"));
        assert!(!is_jar_of(&old, "my-job"));
        let plain = jar("flink-deploy--orders--20261101120000.jar");
        assert!(is_jar_of(&plain, "orders"));
        assert!(!is_jar_of(&plain, "orders-v2"));
        // A job named like the legacy folder recognises it too (its own old
        // name was the same): the documented, pre-upgrade-only ambiguity.
        assert!(is_jar_of(&old, "my-job-6e279c60"));
    }
}
