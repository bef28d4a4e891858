//! The release record around a deploy, rollback or stop: the job's lease held for the whole of
//! it, and the record written after it (see `savepoint_layout::ReleaseRecord`).

use std::path::Path;
use std::time::Duration;

use flink_ops_cli::ClaimModeArg;
use flink_rest::RunJob;
use savepoint_layout::{Intent, LayoutError, Lease, ReleaseKind, ReleaseRecord, SavepointLayout};

use crate::outcome::{Exit, Failure};
use crate::settings::Settings;

/// How long a lease lasts unless renewed: a deploy killed half-way blocks recovery and other
/// deploys for at most this long.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// The job's lease is held by someone else (exit 12, nothing changed).
#[derive(Debug, thiserror::Error)]
#[error("another deploy, rollback, stop or recovery of '{}' is in progress: {holder} holds its lease \
         (taken {acquired_at}, expires {expires_at}, at {location}lease.json). Nothing was changed. \
         Wait for it to finish and run this again; a holder that was killed lets its lease expire \
         within {}s of its last renewal.", flink_rest::printable_name(.job), LEASE_TTL.as_secs())]
pub struct LeaseHeld {
    /// The job.
    pub job: String,
    /// Who holds it.
    pub holder: String,
    /// When it was taken.
    pub acquired_at: String,
    /// When it expires.
    pub expires_at: String,
    /// The release folder.
    pub location: String,
}

/// Who takes a lease: the command, the host and the process.
fn holder(command: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unknown host".into());
    format!(
        "flink-deploy {command} on {host}, pid {}",
        std::process::id()
    )
}

/// A lease held and renewed in the background until it is given back.
pub struct LeaseKeeper {
    layout: SavepointLayout,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Lease>,
}

impl LeaseKeeper {
    /// Takes the job's lease for `command`, or refuses with exit 12 (held) or the layout's
    /// exit (2 or 3) when the store cannot be used.
    pub async fn take(
        layout: &SavepointLayout,
        job: &str,
        command: &str,
    ) -> Result<LeaseKeeper, Failure> {
        let store_failed = |e: LayoutError| {
            Failure::new(
                crate::holdings::exit_of(&e),
                anyhow::Error::new(e).context(format!(
                    "cannot take the lease of '{}' under {}; nothing was changed",
                    flink_rest::printable_name(job),
                    layout.release_location(job)
                )),
            )
        };
        let lease = layout
            .acquire_lease(job, &holder(command), LEASE_TTL)
            .await
            .map_err(store_failed)?;
        let Some(mut lease) = lease else {
            let held = layout.lease(job).await.map_err(store_failed)?;
            let (holder, acquired_at, expires_at) = held
                .map(|i| (i.holder, i.acquired_at, i.expires_at))
                .unwrap_or_else(|| ("another process".into(), "-".into(), "-".into()));
            return Err(Failure::new(
                Exit::InProgress,
                LeaseHeld {
                    job: job.to_string(),
                    holder,
                    acquired_at,
                    expires_at,
                    location: layout.release_location(job),
                },
            ));
        };
        tracing::info!(job, expires_at = %lease.info().expires_at, "took the job's lease");
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let renewing = layout.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => return lease,
                    () = tokio::time::sleep(LEASE_TTL / 3) => {}
                }
                match renewing.renew_lease(&mut lease, LEASE_TTL).await {
                    Ok(true) => {}
                    Ok(false) => tracing::error!(
                        job = %lease.job(),
                        "the job's lease was taken over by another process (it expired before it could be renewed)"
                    ),
                    Err(e) => {
                        tracing::warn!(job = %lease.job(), error = %e, "cannot renew the job's lease; retrying")
                    }
                }
            }
        });
        Ok(LeaseKeeper {
            layout: layout.clone(),
            stop,
            task,
        })
    }

    /// Stops renewing and gives the lease back (a failure to is only logged: it expires).
    pub async fn give_back(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(lease) => {
                if let Err(e) = self.layout.drop_lease(lease).await {
                    tracing::warn!(error = %e, "cannot give the job's lease back; it expires within {}s", LEASE_TTL.as_secs());
                }
            }
            Err(e) => tracing::warn!(error = %e, "the lease's renewal ended early"),
        }
    }
}

/// What a deploy knows of the release record before it changes anything.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where the record is.
    pub layout: SavepointLayout,
    /// The current record (the release that runs now, or ran last), if any.
    pub current: Option<ReleaseRecord>,
    /// The JobManager's Flink version.
    pub flink_version: String,
    /// The new jar's SHA-256.
    pub jar_sha256: String,
    /// What this run is.
    pub kind: ReleaseKind,
}

impl Context {
    /// Reads the current record, and the digest of the jar to deploy. A record that cannot be
    /// read is a refusal (exit 2 or 3, nothing changed): writing past it would lose the
    /// previous release.
    pub async fn read(
        layout: &SavepointLayout,
        s: &Settings,
        flink_version: String,
        kind: ReleaseKind,
    ) -> Result<Context, Failure> {
        let current = layout.current_release(&s.job_name).await.map_err(|e| {
            Failure::new(
                crate::holdings::exit_of(&e),
                anyhow::Error::new(e).context(format!(
                    "cannot read the release record of '{}'; nothing was changed",
                    flink_rest::printable_name(&s.job_name)
                )),
            )
        })?;
        let jar = s.args.jar.clone();
        let jar_sha256 = tokio::task::spawn_blocking(move || savepoint_layout::file_sha256(&jar))
            .await
            .map_err(|e| Failure::new(Exit::Failure, anyhow::anyhow!("hashing the jar: {e}")))?
            .map_err(|e| {
                Failure::new(
                    Exit::Usage,
                    anyhow::anyhow!("cannot read the jar {}: {e}", s.args.jar.display()),
                )
            })?;
        Ok(Context {
            layout: layout.clone(),
            current,
            flink_version,
            jar_sha256,
            kind,
        })
    }

    /// The record of the release `s` describes, now running as `job_id`.
    pub fn record_of(
        &self,
        s: &Settings,
        job_id: &str,
        restored_from: Option<String>,
    ) -> ReleaseRecord {
        ReleaseRecord {
            format: savepoint_layout::RELEASE_FORMAT,
            job_name: s.job_name.clone(),
            jar_sha256: self.jar_sha256.clone(),
            jar_file_name: s
                .args
                .jar
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "job.jar".into()),
            entry_class: s.args.entry_class.clone(),
            program_args: s.args.program_args.clone(),
            parallelism: s.args.parallelism,
            flink_config: s.flink_conf.clone(),
            claim_mode: claim_mode(s.args.claim_mode).into(),
            allow_non_restored_state: s.args.allow_non_restored_state,
            flink_version: self.flink_version.clone(),
            job_id: job_id.to_string(),
            restored_from,
            recorded_at: now_rfc3339(),
            kind: self.kind,
            intent: Intent::Running,
            stopped_with: None,
            previous: self.current.clone().map(Box::new),
        }
    }

    /// The current record again, running as `job_id` after an automatic rollback to it.
    pub fn rolled_back_to(
        &self,
        job_id: &str,
        restored_from: Option<String>,
    ) -> Option<ReleaseRecord> {
        let current = self.current.as_ref()?;
        Some(ReleaseRecord {
            job_id: job_id.to_string(),
            restored_from,
            recorded_at: now_rfc3339(),
            kind: ReleaseKind::Rollback,
            intent: Intent::Running,
            stopped_with: None,
            ..current.clone()
        })
    }

    /// Writes `record` (with `jar` stored when given); a failure is logged and returned as the
    /// sentence the report carries.
    pub async fn write(&self, record: &ReleaseRecord, jar: Option<&Path>) -> Result<(), String> {
        match self.layout.put_release(&record.job_name, record, jar).await {
            Ok(()) => {
                tracing::info!(kind = ?record.kind, job_id = %record.job_id, at = %self.layout.release_location(&record.job_name), "recorded the release");
                Ok(())
            }
            Err(e) => {
                let message = format!(
                    "the release record of '{}' could not be written under {}: {e}. Recovery and \
                     `flink-deploy rollback` work from the record written before (if any) until \
                     the next deploy writes one.",
                    flink_rest::printable_name(&record.job_name),
                    self.layout.release_location(&record.job_name)
                );
                tracing::warn!("{message}");
                Err(message)
            }
        }
    }
}

/// The run request of a recorded release, restoring from `restore`.
pub fn run_request(record: &ReleaseRecord, restore: Option<String>) -> RunJob {
    RunJob {
        entry_class: record.entry_class.clone(),
        program_args: record.program_args.clone(),
        parallelism: record.parallelism,
        job_id: None,
        savepoint_path: restore,
        allow_non_restored_state: record.allow_non_restored_state,
        claim_mode: claim_mode_arg(&record.claim_mode).into(),
        flink_configuration: record.flink_config.clone(),
    }
}

/// `CLAIM` or `NO_CLAIM`, as Flink spells them.
pub fn claim_mode(mode: ClaimModeArg) -> &'static str {
    match mode {
        ClaimModeArg::Claim => "CLAIM",
        ClaimModeArg::NoClaim => "NO_CLAIM",
    }
}

/// A recorded claim mode; anything but `CLAIM` is the safe `NO_CLAIM`.
pub fn claim_mode_arg(mode: &str) -> ClaimModeArg {
    if mode.eq_ignore_ascii_case("CLAIM") {
        ClaimModeArg::Claim
    } else {
        ClaimModeArg::NoClaim
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time formats")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_modes_round_trip_and_default_to_no_claim() {
        for mode in [ClaimModeArg::Claim, ClaimModeArg::NoClaim] {
            assert_eq!(claim_mode_arg(claim_mode(mode)), mode);
        }
        assert_eq!(claim_mode_arg("LEGACY"), ClaimModeArg::NoClaim);
    }
}
