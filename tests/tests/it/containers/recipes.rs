//! The README's recipes, taken from README.md's own text and run as a user pastes them, against
//! the images built from the project's Dockerfiles (`super::images`) and a real Flink in Docker:
//!
//! - the quickstart block names `./quickstart` (run end to end by `quickstart::`);
//! - the image builds name the Dockerfiles and tags `super::images` builds (with `REG` the test's
//!   registry name; the public base images replaced by the local stand-ins, as there);
//! - the JobManager VM with the savepointer beside it, run as written, `chown` included;
//! - the TaskManager's instance template: the `gcloud` lines are checked by `sh -n` and their
//!   words read by the shell itself; the container runs with the template's image, arguments
//!   and metadata (served by the metadata stand-in, as on GCE);
//! - the job image built from the documented command, and the documented deploy run twice:
//!   a first deploy, the sidecar's savepoint in the mounted directory, then an update that
//!   restores from it.
//!
//! Substitutions, each asserted to be in the recipe (so a recipe that changes fails here):
//! `REG/…:TAG` by the local images; `--network host` by a Docker network of the test's (one host
//! runs every "VM" here, and several tests share the machine: host networking would collide on
//! port 8081); container names by names unique to the test; the host's `/data/savepoints` by a
//! new directory of the test's (the path inside the containers stays); `--every 15m` by `10s`;
//! `JM_IP` and `10.0.0.2` by the JobManager's address; the deploy's `gs://` root by the mounted
//! directory (no GCS here), with that mount, the network and `--rm` added to its `docker run`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flink_rest::FlinkClient;
use flink_testkit::{counter_value, eventually, GceTree};

use super::{
    can_run, docker_output, images, job_context, repo, running_job_named, updated_from_savepoint,
    Images, Setup,
};

const README_JOB: &str = "orders";

/// The text of the first ```sh block after the line `heading` (before any other heading).
fn block(readme: &str, heading: &str) -> String {
    // The first heading is the file's first line.
    let readme = format!("\n{readme}");
    let at = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no heading `{heading}`"));
    let rest = &readme[at + heading.len() + 2..];
    let open = rest
        .find("```sh\n")
        .unwrap_or_else(|| panic!("no sh block after `{heading}`"));
    assert!(
        !rest[..open].lines().any(|l| l.starts_with('#')),
        "the first sh block after `{heading}` is under another heading"
    );
    let body = &rest[open + "```sh\n".len()..];
    body[..body.find("```").expect("the block ends")].to_owned()
}

/// `text` with each `(from, to)` replaced; every `from` must be there.
fn substitute(text: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (from, to) in pairs {
        assert!(
            out.contains(from),
            "`{from}` is not in the README's recipe any more:\n{text}"
        );
        out = out.replace(from, to);
    }
    out
}

/// Runs `script` with `sh -e`, in `dir`; returns stdout, panics with both streams on failure.
fn sh(script: &str, dir: &Path) -> String {
    let out = Command::new("sh")
        .args(["-e", "-c", script])
        .current_dir(dir)
        .output()
        .expect("sh runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "the recipe failed ({}):\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    stdout.into_owned()
}

/// The words of each `gcloud` command of `block`, as the shell splits them.
fn gcloud_commands(block: &str) -> Vec<Vec<String>> {
    let syntax = Command::new("sh")
        .args(["-n", "-c", block])
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "sh -n: {}\n{block}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    let script = format!("gcloud() {{ printf '%s\\037' \"$@\"; printf '\\036'; }}\n{block}");
    let words = sh(&script, &repo());
    words
        .split('\u{1e}')
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.split('\u{1f}')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// The value of `--flag=VALUE` (each one, in order) in `words`.
fn flag_values<'a>(words: &'a [String], flag: &str) -> Vec<&'a str> {
    let prefix = format!("{flag}=");
    words
        .iter()
        .filter_map(|w| w.strip_prefix(&prefix))
        .collect()
}

/// The README's image builds are the ones `super::images` runs: same Dockerfiles, same tags
/// (with `REG` = flink-ops-test), build arguments the Dockerfiles declare.
fn check_image_builds(readme: &str, images: &Images) -> String {
    let builds = block(readme, "## Images and the Cloud Build pipeline");
    let built = [
        ("docker/deploy.Dockerfile", &images.deployer),
        ("docker/flink.Dockerfile", &images.flink),
        ("docker/savepointer.Dockerfile", &images.savepointer),
    ];
    let mut job_build = None;
    let mut seen = 0;
    for line in builds.lines().filter(|l| l.starts_with("docker build")) {
        if line.contains("job.Dockerfile.example") {
            job_build = Some(line.to_owned());
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |flag: &str| {
            words
                .windows(2)
                .find(|w| w[0] == flag)
                .map(|w| w[1])
                .unwrap_or_else(|| panic!("no {flag} in `{line}`"))
        };
        let (file, tag) = (after("-f"), after("-t").replace("REG/", "flink-ops-test/"));
        let tag = if tag.contains(':') {
            tag
        } else {
            format!("{tag}:latest")
        };
        let (_, image) = built
            .iter()
            .find(|(f, _)| *f == file)
            .unwrap_or_else(|| panic!("`{line}` builds {file}, which the tests do not build"));
        assert_eq!(&tag, *image, "`{line}`");
        let dockerfile = std::fs::read_to_string(repo().join(file)).unwrap();
        for arg in words
            .windows(2)
            .filter(|w| w[0] == "--build-arg")
            .map(|w| w[1].split('=').next().unwrap())
        {
            assert!(
                dockerfile.contains(&format!("ARG {arg}")),
                "`{line}`: {file} declares no ARG {arg}"
            );
        }
        seen += 1;
    }
    assert_eq!(seen, 3, "the README builds three images:\n{builds}");
    job_build.expect("the README builds the job image")
}

/// Each of the README's recipes, as written, in one test (the images are built once; the
/// container test group runs one container test at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipes_from_the_readme_work_as_written() {
    if !can_run("recipes_from_the_readme_work_as_written") {
        return;
    }
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();

    // The quickstart: `./quickstart`, which runs the quickstart binary `quickstart::` tests.
    let quick = block(&readme, "# flink-ops");
    assert!(quick.lines().any(|l| l.trim() == "./quickstart"), "{quick}");
    let script = std::fs::read_to_string(repo().join("quickstart")).unwrap();
    assert!(script.contains("flink-ops-quickstart"), "{script}");

    // The TaskManager template: syntax, and its words for the container below.
    let template = block(
        &readme,
        "### TaskManagers: a Container-Optimized OS instance group",
    );
    let gcloud = gcloud_commands(&template);
    let create = gcloud
        .iter()
        .find(|c| c.starts_with(&["compute".into(), "instance-templates".into()]))
        .unwrap_or_else(|| panic!("no instance template in:\n{template}"));
    let tm_image = flag_values(create, "--container-image");
    assert_eq!(tm_image, ["REG/flink:TAG"], "{create:?}");
    let tm_args: Vec<String> = flag_values(create, "--container-arg")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let [metadata] = flag_values(create, "--metadata")[..] else {
        panic!("one --metadata in {create:?}");
    };
    assert_eq!(gcloud.len(), 3, "{gcloud:?}");

    let images = tokio::task::spawn_blocking(images).await.unwrap();
    let job_build = check_image_builds(&readme, &images);
    let mut setup = Setup::new();
    let network = setup.network.clone();
    // The host's /data/savepoints: not there yet, as on a new VM (the recipe creates it).
    let host_dir = setup.savepoints.path().join("data-savepoints");
    let host = host_dir.to_str().unwrap().to_owned();

    // Without the recipe's chown, the image's bootstrap says what to run before Flink starts.
    let root_owned = setup.savepoints.path().join("root-owned");
    std::fs::create_dir(&root_owned).unwrap();
    let warned = docker_output([
        "run",
        "--rm",
        "-v",
        &format!("{}:/data/savepoints", root_owned.display()),
        &images.flink,
        "--metadata",
        "none",
        "--set",
        "execution.checkpointing.savepoint-dir=file:///data/savepoints",
        "check",
        "jobmanager",
    ]);
    let stderr = String::from_utf8_lossy(&warned.stderr);
    assert!(warned.status.success(), "{stderr}");
    assert!(
        stderr.contains("(uid 9999, gid 9999)")
            && stderr.contains("sudo chown -R 9999:9999 HOST_DIR"),
        "{stderr}"
    );

    // The JobManager VM with the savepointer beside it.
    let jm_name = setup.name("jm");
    let sp_name = setup.name("savepointer");
    setup.containers.extend([jm_name.clone(), sp_name.clone()]);
    let recipe = block(
        &readme,
        "### The JobManager VM, with the savepointer beside it",
    );
    let script: String = recipe
        .lines()
        .map(|line| match line.strip_prefix("sudo ") {
            // The host's commands, on the test's directory (the test runs as root).
            Some(_) => substitute(line, &[("sudo ", ""), ("/data/savepoints", &host)]),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let script = substitute(
        &script,
        &[
            ("--network host", &format!("--network {network}")),
            ("--name jm ", &format!("--name {jm_name} ")),
            ("container:jm ", &format!("container:{jm_name} ")),
            ("--name savepointer ", &format!("--name {sp_name} ")),
            ("-v /data/savepoints:", &format!("-v {host}:")),
            ("REG/flink:TAG", &images.flink),
            ("REG/flink-savepointer", &images.savepointer),
            ("--every 15m", "--every 10s"),
        ],
    );
    sh(&script, &repo());
    let jm_ip = setup.ip(&jm_name);
    let url = url::Url::parse(&format!("http://{jm_ip}:8081")).unwrap();
    let client = FlinkClient::new(flink_rest::ClientConfig::new(url)).unwrap();
    eventually(
        "the JobManager of the recipe answers",
        Duration::from_secs(90),
        || async { client.version().await.map_err(|e| e.to_string()) },
    )
    .await;
    let jm_log = setup.logs(&jm_name);
    assert!(!jm_log.contains("sudo chown"), "{jm_log}");

    // The TaskManager instance: the template's image, arguments and metadata.
    let mut tree = GceTree::new("flink-tm", "0.0.0.0");
    for pair in metadata.split(',') {
        let (key, value) = pair.split_once('=').expect("KEY=VALUE");
        tree = tree.instance_attribute(key, &value.replace("JM_IP", &jm_ip));
    }
    let standin = super::metadata_standin(&mut setup, &images, &tree.build());
    let mut run_tm = vec![
        "--network".to_owned(),
        network.clone(),
        "-e".to_owned(),
        format!("GCE_METADATA_HOST={standin}:80"),
        tm_image[0].replace("REG/flink:TAG", &images.flink),
    ];
    run_tm.extend(tm_args);
    let run_tm: Vec<&str> = run_tm.iter().map(String::as_str).collect();
    setup.start("taskmanager", &run_tm);
    eventually(
        "the template's TaskManager registers",
        Duration::from_secs(120),
        || async {
            let tms = client.task_managers().await.map_err(|e| e.to_string())?;
            (tms.len() == 1)
                .then_some(())
                .ok_or(format!("{} registered", tms.len()))
        },
    )
    .await;

    // The job image, as documented, from a folder holding job.jar and deploy.yaml.
    let context = job_context(&setup.savepoints.path().join("job"));
    let job_tag = "flink-ops-test/my-flink-job:latest";
    let dockerfile = repo().join("docker/job.Dockerfile.example");
    let build = substitute(
        &job_build,
        &[
            ("docker build", "docker build --quiet"),
            ("REG/flink-deploy", &images.deployer),
            (
                "-f docker/job.Dockerfile.example",
                &format!("-f {}", dockerfile.display()),
            ),
            ("-t my-flink-job", &format!("-t {job_tag}")),
        ],
    );
    sh(&build, &context);

    // The documented deploy, twice: a first deploy, then an update from a savepoint.
    let deploy_recipe = block(&readme, "## flink-deploy: deploy or update a job from CI");
    let deploy_script = substitute(
        &deploy_recipe,
        &[
            (
                "docker run ",
                &format!("docker run --rm --network {network} -v {host}:/data/savepoints "),
            ),
            ("http://10.0.0.2:8081", &format!("http://{jm_ip}:8081")),
            ("my-flink-job ", &format!("{job_tag} ")),
            ("--job-name orders", &format!("--job-name {README_JOB}")),
            ("gs://my-bucket/savepoints", "/data/savepoints"),
        ],
    );
    sh(&deploy_script, &repo());
    let first = eventually("the deployed job runs", Duration::from_secs(60), || {
        running_job_named(&client, README_JOB)
    })
    .await;

    // The sidecar's savepoint, in the host's directory.
    let savepoint = eventually(
        "the savepointer's savepoint",
        Duration::from_secs(90),
        || async {
            let stats = client
                .checkpoints(&first)
                .await
                .map_err(|e| e.to_string())?;
            stats
                .latest
                .savepoint
                .and_then(|s| s.external_path)
                .ok_or_else(|| "no savepoint yet".to_owned())
        },
    )
    .await;
    let inside = savepoint.trim_start_matches("file:");
    let on_host = inside.replacen("/data/savepoints", &host, 1);
    assert!(
        inside.starts_with(&format!("/data/savepoints/{README_JOB}/"))
            && Path::new(&on_host).join("_metadata").is_file(),
        "{savepoint} (on the host {on_host})"
    );
    let sidecar_log = setup.logs(&sp_name);
    assert!(!sidecar_log.contains("Failed to create"), "{sidecar_log}");
    let counted = eventually("the job counts", Duration::from_secs(60), || async {
        match counter_value(&client, &first).await {
            Ok(n) if n > 0 => Ok(n),
            Ok(n) => Err(format!("count {n}")),
            Err(e) => Err(e),
        }
    })
    .await;

    sh(&deploy_script, &repo());
    let (_, after) =
        updated_from_savepoint(&client, README_JOB, &first, "/data/savepoints", counted).await;
    eprintln!("README recipes: counted {counted} before the update, {after} after");
    drop(setup);
}
