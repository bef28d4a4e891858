//! The images in `docker/`, built from the same Dockerfiles users build, and the article's whole
//! setup run as containers on a Docker network: a JobManager and two TaskManagers from the Flink
//! image (flink-bootstrap, `--profile elastic`), a GCE metadata stand-in the TaskManagers read,
//! the savepointer sidecar in the JobManager's network namespace, and the job image run as a
//! one-shot container the way Cloud Build runs it.
//!
//! No registry can be reached, so the base images are local stand-ins built from Debian packages
//! by `docker/base-images.sh` and passed as build arguments. Images are cached by Docker between
//! runs. Without a Docker engine (or without root and debootstrap for the stand-ins) these tests
//! skip with a message, except in CI (`CI=true`), where they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use flink_rest::{FlinkClient, JobId, JobState};
use flink_testkit::{
    cache_dir, counter_value, eventually, example_jar, workspace_bin, FlinkDist, GceTree,
    JobVariant,
};

const FLINK_VERSION: &str = "2.3.0";
const JOB: &str = "containers-e2e";
/// The image size the issue asks of the deployer and savepointer images.
const SMALL_IMAGE: u64 = 30 * 1000 * 1000;

mod recipes;

// ---- Docker ---------------------------------------------------------------------------------

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Runs `docker ARGS`, returning its output whatever the exit code.
fn docker_output<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the docker client runs")
}

/// Runs `docker ARGS` and returns its trimmed stdout; panics with stderr on failure.
fn docker<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().into()).collect();
    let out = docker_output(&args);
    assert!(
        out.status.success(),
        "docker {:?} failed ({}):\n{}",
        args,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// True when the tests can run here. Otherwise prints why and returns false, or, in CI
/// (`CI=true`), panics: there the container tests must not be skipped.
fn can_run(test: &str) -> bool {
    let engine = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .output();
    let problem = match engine {
        Err(e) => Some(format!("no docker client ({e})")),
        Ok(out) if !out.status.success() => Some(format!(
            "no Docker engine answers `docker version`: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) if !nix_is_root() => {
            Some("building the stand-in base images needs root (debootstrap, chroot, chown)".into())
        }
        Ok(_)
            if Command::new("debootstrap")
                .arg("--version")
                .output()
                .is_err() =>
        {
            Some("debootstrap is not installed (apt-get install debootstrap)".into())
        }
        Ok(_) => None,
    };
    let Some(problem) = problem else {
        return true;
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {problem} (CI=true: the container tests must run in CI, not be skipped)");
    }
    eprintln!("SKIPPED {test}: {problem}");
    false
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs `command` under an exclusive lock, so that two test processes do not build the same
/// images at once (the second then finds Docker's cache).
fn locked(command: &mut Command) -> Output {
    let lock = cache_dir().join("container-images.lock");
    std::fs::create_dir_all(cache_dir()).unwrap();
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut wrapped = Command::new("flock");
    wrapped.arg(&lock).arg(program).args(args);
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    wrapped
        .stdin(Stdio::null())
        .output()
        .expect("flock runs (util-linux)")
}

// ---- images ---------------------------------------------------------------------------------

/// The images under test, built from docker/*.Dockerfile on the local base-image stand-ins.
#[derive(Clone)]
struct Images {
    deployer: String,
    flink: String,
    savepointer: String,
    /// A Debian image with glibc (the Flink stand-in), to run the host-built metadata stand-in.
    debian: String,
}

fn images() -> Images {
    let started = Instant::now();
    let dist = FlinkDist::get(FLINK_VERSION);
    let out = locked(
        Command::new(repo().join("docker/base-images.sh"))
            .env("FLINK_DIST_DIR", dist.home())
            .env("FLINK_VERSION", FLINK_VERSION)
            .env("FLINK_OPS_CACHE", cache_dir()),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "docker/base-images.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("base-images.sh printed no {key}: {stdout}"))
            .to_owned()
    };
    let (builder, runtime, flink) = (
        base("BUILDER_IMAGE"),
        base("RUNTIME_IMAGE"),
        base("FLINK_IMAGE"),
    );
    eprintln!(
        "base images ready in {:.0?}: {builder}, {runtime}, {flink}",
        started.elapsed()
    );
    let build = |dockerfile: &str, tag: &str, args: &[(&str, &str)]| {
        let started = Instant::now();
        let mut cmd = Command::new("docker");
        cmd.current_dir(repo())
            .args(["build", "--quiet", "-f", dockerfile, "-t", tag]);
        for (k, v) in args {
            cmd.arg("--build-arg").arg(format!("{k}={v}"));
        }
        cmd.arg(".");
        let out = locked(&mut cmd);
        assert!(
            out.status.success(),
            "docker build -f {dockerfile} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("built {tag} from {dockerfile} in {:.0?}", started.elapsed());
        tag.to_owned()
    };
    let images = Images {
        deployer: build(
            "docker/deploy.Dockerfile",
            "flink-ops-test/flink-deploy:latest",
            &[("BUILDER_IMAGE", &builder), ("RUNTIME_IMAGE", &runtime)],
        ),
        flink: build(
            "docker/flink.Dockerfile",
            "flink-ops-test/flink:latest",
            &[("BUILDER_IMAGE", &builder), ("FLINK_IMAGE", &flink)],
        ),
        savepointer: build(
            "docker/savepointer.Dockerfile",
            "flink-ops-test/flink-savepointer:latest",
            &[("BUILDER_IMAGE", &builder), ("RUNTIME_IMAGE", &runtime)],
        ),
        debian: flink,
    };
    eprintln!("images ready in {:.0?}", started.elapsed());
    images
}

/// The job image, built like a user builds it: docker/job.Dockerfile.example in a directory
/// holding job.jar and deploy.yaml.
fn job_image(deployer: &str, dir: &Path) -> String {
    let context = job_context(dir);
    let tag = "flink-ops-test/job:latest";
    let dockerfile = repo().join("docker/job.Dockerfile.example");
    docker([
        "build".as_ref(),
        "--quiet".as_ref(),
        "-f".as_ref(),
        dockerfile.as_os_str(),
        "--build-arg".as_ref(),
        format!("DEPLOYER_IMAGE={deployer}").as_ref(),
        "-t".as_ref(),
        tag.as_ref(),
        context.as_os_str(),
    ]);
    tag.to_owned()
}

/// `dir/job-image`, holding what a user puts next to the Dockerfile: the example job's jar and
/// the documented deploy spec.
fn job_context(dir: &Path) -> PathBuf {
    let context = dir.join("job-image");
    std::fs::create_dir_all(&context).unwrap();
    let dist = FlinkDist::get(FLINK_VERSION);
    std::fs::copy(
        example_jar(&dist, JobVariant::Normal),
        context.join("job.jar"),
    )
    .unwrap();
    // The documented example spec, as a user copies it, with the bucket swapped for the shared
    // volume (no GCS here) and shorter waits. No `--name` for the jar: the job takes its name from
    // `--job-name` (pipeline.name), so the documented command works twice in a row.
    let example = std::fs::read_to_string(repo().join("docker/example/deploy.yaml")).unwrap();
    let mut replaced = 0;
    let spec: String = example
        .lines()
        .map(|line| {
            let swapped = [
                ("savepoint-dir:", "savepoint-dir: /savepoints"),
                ("startup-timeout:", "startup-timeout: 3m"),
                ("stable-for:", "stable-for: 5s"),
            ]
            .into_iter()
            .find(|(key, _)| line.starts_with(key));
            match swapped {
                Some((_, with)) => {
                    replaced += 1;
                    format!("{with}\n")
                }
                None => format!("{line}\n"),
            }
        })
        .collect();
    assert_eq!(
        replaced, 3,
        "docker/example/deploy.yaml changed shape:\n{example}"
    );
    std::fs::write(context.join("deploy.yaml"), spec).unwrap();
    context
}

// ---- the setup ------------------------------------------------------------------------------

/// A network and the containers on it, all removed on drop; their logs are printed first when
/// the test is failing.
struct Setup {
    prefix: String,
    network: String,
    containers: Vec<String>,
    /// The savepoint directory every container mounts at /savepoints.
    savepoints: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let prefix = format!(
            "flink-ops-test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        docker(["network", "create", "--label", "flink-ops-test", &prefix]);
        let savepoints = tempfile::Builder::new()
            .prefix("flink-ops-savepoints-")
            .tempdir()
            .unwrap();
        // Flink (uid 9999), the savepointer and the deployer (65532) all use it.
        std::fs::set_permissions(
            savepoints.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        Setup {
            network: prefix.clone(),
            prefix,
            containers: vec![],
            savepoints,
        }
    }

    fn name(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    fn volume(&self) -> String {
        format!("{}:/savepoints", self.savepoints.path().display())
    }

    /// `docker run -d --name PREFIX-ROLE` with `args` (options, image, command).
    fn start(&mut self, role: &str, args: &[&str]) -> String {
        let name = self.name(role);
        self.containers.push(name.clone());
        let mut all = vec!["run", "-d", "--name", &name, "--label", "flink-ops-test"];
        all.extend_from_slice(args);
        docker(all);
        name
    }

    fn logs(&self, container: &str) -> String {
        let out = docker_output(["logs", "--tail", "150", container]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn ip(&self, container: &str) -> String {
        docker([
            "inspect",
            "-f",
            &format!(
                "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
                self.network
            ),
            container,
        ])
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for c in &self.containers {
                eprintln!("\n===== logs of container {c} =====\n{}", self.logs(c));
            }
        }
        for c in &self.containers {
            let _ = docker_output(["rm", "-f", "-v", c]);
        }
        let _ = docker_output(["network", "rm", &self.network]);
    }
}

/// The GCE metadata server stand-in as a container on the setup's network, answering as
/// `metadata.google.internal` with `tree`; returns its container name (its host for
/// `GCE_METADATA_HOST`, port 80).
fn metadata_standin(setup: &mut Setup, images: &Images, tree: &serde_json::Value) -> String {
    let network = setup.network.clone();
    let tree_file = setup
        .savepoints
        .path()
        .parent()
        .unwrap()
        .join(format!("{}-tree.json", setup.prefix));
    std::fs::write(&tree_file, tree.to_string()).unwrap();
    let standin_bin = workspace_bin("gce-metadata-standin");
    let metadata = setup.start(
        "metadata",
        &[
            "--network",
            &network,
            "--network-alias",
            "metadata.google.internal",
            "-v",
            &format!(
                "{}:/usr/local/bin/gce-metadata-standin:ro",
                standin_bin.display()
            ),
            "-v",
            &format!("{}:/standin/tree.json:ro", tree_file.display()),
            "--entrypoint",
            "/usr/local/bin/gce-metadata-standin",
            &images.debian,
            "--listen",
            "0.0.0.0:80",
            "--tree",
            "/standin/tree.json",
        ],
    );
    // Bind-mounted into the running container, which keeps the file: the path can go.
    let _ = std::fs::remove_file(&tree_file);
    metadata
}

/// The job image run once, as Cloud Build's deploy step runs it.
fn deploy(setup: &Setup, job_image: &str, jobmanager: &str) -> Output {
    let url = format!("FLINK_JOBMANAGER_URL=http://{jobmanager}:8081");
    let volume = setup.volume();
    docker_output([
        "run",
        "--rm",
        "--network",
        &setup.network,
        "-v",
        &volume,
        "-e",
        &url,
        job_image,
        "deploy",
        "--job-name",
        JOB,
        "--parallelism",
        "4",
        "--config-file",
        "deploy.yaml",
    ])
}

fn assert_deployed(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: the deploy container exited {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn running_job(client: &FlinkClient) -> Result<JobId, String> {
    running_job_named(client, JOB).await
}

/// The one running job named `name`.
async fn running_job_named(client: &FlinkClient, name: &str) -> Result<JobId, String> {
    let jobs = client.jobs_named(name).await.map_err(|e| e.to_string())?;
    let running: Vec<_> = jobs
        .into_iter()
        .filter(|j| j.state == JobState::Running)
        .collect();
    match running.as_slice() {
        [one] => Ok(one.jid.clone()),
        other => Err(format!("{} running jobs named {name}", other.len())),
    }
}

/// After an update deploy of `name`: a new job (not `first`) runs, restored from a savepoint
/// under `savepoints/<name>/`, and counts on past `counted`, the count before the update.
/// Returns it and its count.
async fn updated_from_savepoint(
    client: &FlinkClient,
    name: &str,
    first: &JobId,
    savepoints: &str,
    counted: u64,
) -> (JobId, u64) {
    let updated = eventually("the updated job runs", Duration::from_secs(60), || async {
        let id = running_job_named(client, name).await?;
        if &id == first {
            Err("still the first job".into())
        } else {
            Ok(id)
        }
    })
    .await;
    let restored = client
        .checkpoints(&updated)
        .await
        .unwrap()
        .latest
        .restored
        .and_then(|r| r.external_path)
        .expect("the update restored from a savepoint");
    assert!(
        restored.contains(&format!("{savepoints}/{name}/")),
        "{restored}"
    );
    let after = eventually(
        "the updated job counts on from the restored state",
        Duration::from_secs(90),
        || async {
            let n = counter_value(client, &updated).await?;
            if n > counted {
                Ok(n)
            } else {
                Err(format!("count {n}, before the update {counted}"))
            }
        },
    )
    .await;
    (updated, after)
}

/// Waits until `job` runs all its tasks at `parallelism`.
async fn runs_at(client: &FlinkClient, job: &JobId, parallelism: u32, within: Duration) {
    eventually(
        &format!("job {job} running at parallelism {parallelism}"),
        within,
        || async move {
            let details = client.job(job).await.map_err(|e| e.to_string())?;
            let now: Vec<u32> = details.vertices.iter().map(|v| v.parallelism).collect();
            if details.state == JobState::Running
                && details.all_tasks_running()
                && now.iter().all(|p| *p == parallelism)
            {
                Ok(())
            } else {
                Err(format!("{}, parallelism {now:?}", details.state))
            }
        },
    )
    .await;
}

async fn taskmanagers(client: &FlinkClient, n: usize) {
    eventually(
        &format!("{n} TaskManagers registered"),
        Duration::from_secs(120),
        || async move {
            let tms = client.task_managers().await.map_err(|e| e.to_string())?;
            if tms.len() == n {
                Ok(())
            } else {
                Err(format!("{} registered", tms.len()))
            }
        },
    )
    .await;
}

// ---- tests ----------------------------------------------------------------------------------

/// The deployer and savepointer images are small; all three run as non-root, start their
/// binary (static, so any base image's libc does) and carry CA certificates.
fn check_images(images: &Images) {
    for (image, binary, small) in [
        (&images.deployer, "flink-deploy", true),
        (&images.savepointer, "flink-savepointer", true),
        (&images.flink, "flink-bootstrap", false),
    ] {
        let size: u64 = docker(["image", "inspect", "-f", "{{.Size}}", image])
            .parse()
            .unwrap();
        eprintln!("{image}: {:.1} MB", size as f64 / 1e6);
        if small {
            assert!(size < SMALL_IMAGE, "{image} is {size} bytes");
        }
        let user = docker(["image", "inspect", "-f", "{{.Config.User}}", image]);
        assert!(
            !user.is_empty() && !user.starts_with("root") && !user.starts_with("0"),
            "{image} runs as {user:?}"
        );
        let entrypoint = docker([
            "image",
            "inspect",
            "-f",
            "{{json .Config.Entrypoint}}",
            image,
        ]);
        assert!(entrypoint.contains(binary), "{image}: {entrypoint}");
        // The static binary runs on the base image, whatever its libc.
        let version = docker([
            "run",
            "--rm",
            "--entrypoint",
            &format!("/usr/local/bin/{binary}"),
            image,
            "--version",
        ]);
        assert!(version.starts_with(binary), "{version}");
        // CA certificates, for HTTPS JobManagers and gs:// savepoints.
        let container = docker(["create", image]);
        let certs = docker_output([
            "cp",
            &format!("{container}:/etc/ssl/certs/ca-certificates.crt"),
            "-",
        ]);
        docker(["rm", &container]);
        assert!(
            certs.status.success() && certs.stdout.len() > 10_000,
            "{image} has no CA bundle: {}",
            String::from_utf8_lossy(&certs.stderr)
        );
    }
    // The deployer's workdir is where job images put the jar and the deploy spec.
    let workdir = docker([
        "image",
        "inspect",
        "-f",
        "{{.Config.WorkingDir}}",
        &images.deployer,
    ]);
    assert_eq!(workdir, "/opt/flink-job");
}

/// One test, so that the images are built once and no second test waits for them: cold, the
/// build alone takes minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_and_the_elastic_cluster_in_containers() {
    if !can_run("images_and_the_elastic_cluster_in_containers") {
        return;
    }
    let images = tokio::task::spawn_blocking(images).await.unwrap();
    tokio::task::spawn_blocking({
        let images = images.clone();
        move || check_images(&images)
    })
    .await
    .unwrap();
    let mut setup = Setup::new();
    let job_image = {
        let deployer = images.deployer.clone();
        let dir = setup
            .savepoints
            .path()
            .parent()
            .unwrap()
            .join(&setup.prefix);
        let image = tokio::task::spawn_blocking(move || {
            let image = job_image(&deployer, &dir);
            let _ = std::fs::remove_dir_all(&dir);
            image
        })
        .await
        .unwrap();
        image
    };
    let network = setup.network.clone();
    let volume = setup.volume();

    // The JobManager, its REST port published on loopback only.
    let jm = setup.start(
        "jobmanager",
        &[
            "--network",
            &network,
            "-v",
            &volume,
            "-p",
            "127.0.0.1::8081",
            &images.flink,
            "jobmanager",
            "--profile",
            "elastic",
            "--set",
            "execution.checkpointing.savepoint-dir=file:///savepoints",
        ],
    );
    let jm_ip = setup.ip(&jm);
    let port = docker(["port", &jm, "8081/tcp"]);
    let port = port
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .unwrap_or_else(|| panic!("no published port: {port}"))
        .to_owned();
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let client = FlinkClient::new(flink_rest::ClientConfig::new(url)).unwrap();
    eventually(
        "the JobManager answers on its published port",
        Duration::from_secs(90),
        || async { client.version().await.map_err(|e| e.to_string()) },
    )
    .await;

    // The metadata server of the "instances": each TaskManager is told its own address, the
    // JobManager's, and the Flink settings of the instance template.
    let tree = GceTree::new("flink-tm", "0.0.0.0")
        .project_attribute("flink-jobmanager-address", &jm_ip)
        .instance_attribute("flink-config", "taskmanager.numberOfTaskSlots: 1\n")
        .build();
    let metadata = metadata_standin(&mut setup, &images, &tree);
    let metadata_host = format!("GCE_METADATA_HOST={metadata}:80");
    let taskmanager = |setup: &mut Setup, n: &str| {
        setup.start(
            &format!("taskmanager-{n}"),
            &[
                "--network",
                &network,
                "-v",
                &volume,
                "-e",
                &metadata_host,
                &images.flink,
                "taskmanager",
                "--profile",
                "elastic",
                "--metadata",
                "gce",
            ],
        )
    };
    let tm1 = taskmanager(&mut setup, "1");
    let _tm2 = taskmanager(&mut setup, "2");
    taskmanagers(&client, 2).await;
    // One slot each: the instance attribute from the metadata server, not the CPU count. A
    // TaskManager reports its slots just after it registers, so wait for the total.
    eventually("2 slots in all", Duration::from_secs(60), || async {
        let overview = client.overview().await.map_err(|e| e.to_string())?;
        match overview.slots_total {
            2 => Ok(()),
            _ => Err(format!("{overview:?}")),
        }
    })
    .await;

    // The savepointer, in the JobManager's network namespace, talking to 127.0.0.1:8081.
    setup.start(
        "savepointer",
        &[
            "--network",
            &format!("container:{jm}"),
            "-v",
            &volume,
            &images.savepointer,
            "--job-name",
            JOB,
            "--target-dir",
            "/savepoints",
            "--every",
            "10s",
        ],
    );

    // First deploy: parallelism 4 asked, the 2 slots used.
    let first = deploy(&setup, &job_image, &jm);
    assert_deployed(&first, "first deploy");
    let job = eventually("the job runs", Duration::from_secs(60), || {
        running_job(&client)
    })
    .await;
    runs_at(&client, &job, 2, Duration::from_secs(120)).await;

    // The savepointer writes savepoints of it into the shared layout.
    let savepoint = eventually(
        "the savepointer took a savepoint",
        Duration::from_secs(90),
        || async {
            let stats = client.checkpoints(&job).await.map_err(|e| e.to_string())?;
            stats
                .latest
                .savepoint
                .and_then(|s| s.external_path)
                .ok_or_else(|| "no savepoint yet".to_owned())
        },
    )
    .await;
    assert!(
        savepoint.contains(&format!("/savepoints/{JOB}/")),
        "{savepoint}"
    );
    let counted = eventually("the job counts", Duration::from_secs(60), || async {
        match counter_value(&client, &job).await {
            Ok(n) if n > 0 => Ok(n),
            Ok(n) => Err(format!("count {n}")),
            Err(e) => Err(e),
        }
    })
    .await;

    // Update deploy: stop with a savepoint, run the new version from it, state kept.
    let update = deploy(&setup, &job_image, &jm);
    assert_deployed(&update, "update deploy");
    let (updated, after) = updated_from_savepoint(&client, JOB, &job, "/savepoints", counted).await;
    eprintln!("counted {counted} before the update, {after} after");
    runs_at(&client, &updated, 2, Duration::from_secs(120)).await;

    // A TaskManager instance goes away: the job keeps running on the other one.
    docker(["stop", "-t", "5", &tm1]);
    taskmanagers(&client, 1).await;
    runs_at(&client, &updated, 1, Duration::from_secs(180)).await;
    assert_eq!(running_job(&client).await.unwrap(), updated);

    // A new instance joins: the adaptive scheduler scales the job up again.
    taskmanager(&mut setup, "3");
    taskmanagers(&client, 2).await;
    runs_at(&client, &updated, 2, Duration::from_secs(180)).await;
    assert_eq!(running_job(&client).await.unwrap(), updated);
    drop(setup);
}
