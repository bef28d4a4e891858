//! `cloudbuild.yaml` at the repository root: every Dockerfile, build context and file its steps
//! name exists, the images it pushes are the ones it builds, and the deploy step's command line
//! is accepted by the real `flink-deploy` (its argument parser and its deploy-spec reader).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use flink_testkit::workspace_bin;
use serde_yaml_ng::Value;

/// The built-in substitutions Cloud Build provides, with sample values.
const BUILT_INS: [(&str, &str); 3] = [
    ("PROJECT_ID", "my-project"),
    ("SHORT_SHA", "0a1b2c3"),
    ("BUILD_ID", "3f7c1d2e"),
];

/// Files that the user's own build produces before the pipeline runs.
const BUILD_OUTPUTS: [&str; 1] = ["job.jar"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

struct Pipeline {
    steps: Vec<Step>,
    images: Vec<String>,
}

#[derive(Debug)]
struct Step {
    id: String,
    name: String,
    args: Vec<String>,
}

/// Parses `cloudbuild.yaml` and applies its substitutions (with their defaults).
fn pipeline() -> Pipeline {
    let text = std::fs::read_to_string(repo().join("cloudbuild.yaml")).expect("cloudbuild.yaml");
    let doc: Value = serde_yaml_ng::from_str(&text).expect("cloudbuild.yaml is YAML");
    let mut vars: BTreeMap<String, String> = BUILT_INS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(subs) = doc["substitutions"].as_mapping() {
        for (k, v) in subs {
            let key = k.as_str().expect("substitution names are strings");
            assert!(
                key.starts_with('_'),
                "user substitutions must start with _: {key}"
            );
            let value = v.as_str().expect("substitution values are strings");
            vars.insert(key.to_owned(), value.to_owned());
        }
    }
    let steps = doc["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .map(|s| Step {
            id: s["id"].as_str().unwrap_or("?").to_owned(),
            name: s["name"]
                .as_str()
                .expect("every step has a name")
                .to_owned(),
            args: s["args"]
                .as_sequence()
                .expect("every step has args")
                .iter()
                .map(|a| substitute(a.as_str().expect("args are strings"), &vars))
                .collect(),
        })
        .collect();
    let images = doc["images"]
        .as_sequence()
        .map(|s| {
            s.iter()
                .map(|i| substitute(i.as_str().unwrap(), &vars))
                .collect()
        })
        .unwrap_or_default();
    Pipeline { steps, images }
}

/// Replaces `$NAME` and `${NAME}` until none is left; an unknown name fails.
fn substitute(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = text.to_owned();
    for _ in 0..5 {
        let mut next = out.clone();
        for (k, v) in vars {
            next = next.replace(&format!("${{{k}}}"), v);
        }
        // Longest names first, so that $_JOB_IMAGE is not read as $_JOB + _IMAGE.
        let mut names: Vec<_> = vars.keys().collect();
        names.sort_by_key(|k| std::cmp::Reverse(k.len()));
        for k in names {
            next = next.replace(&format!("${k}"), &vars[k]);
        }
        if next == out {
            break;
        }
        out = next;
    }
    assert!(
        !out.contains('$'),
        "an unknown substitution in `{text}`: {out}"
    );
    out
}

/// A `docker build` step.
#[derive(Debug)]
struct Build {
    step: String,
    dockerfile: PathBuf,
    context: PathBuf,
    build_args: Vec<(String, String)>,
    tags: Vec<String>,
}

fn builds(p: &Pipeline) -> Vec<Build> {
    p.steps
        .iter()
        .filter(|s| s.name.ends_with("cloud-builders/docker") && s.args[0] == "build")
        .map(|s| {
            let mut b = Build {
                step: s.id.clone(),
                dockerfile: PathBuf::new(),
                context: PathBuf::new(),
                build_args: vec![],
                tags: vec![],
            };
            let mut args = s.args[1..].iter();
            let mut positional = vec![];
            while let Some(a) = args.next() {
                let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
                match a.as_str() {
                    "-f" | "--file" => b.dockerfile = repo().join(value()),
                    "-t" | "--tag" => b.tags.push(value().clone()),
                    "--build-arg" => {
                        let (k, v) = value().split_once('=').expect("--build-arg K=V");
                        b.build_args.push((k.to_owned(), v.to_owned()));
                    }
                    flag if flag.starts_with('-') => panic!("step {}: unexpected {flag}", s.id),
                    other => positional.push(other.to_owned()),
                }
            }
            assert_eq!(positional.len(), 1, "step {}: one build context", s.id);
            b.context = repo().join(&positional[0]);
            if b.dockerfile.as_os_str().is_empty() {
                b.dockerfile = b.context.join("Dockerfile");
            }
            b
        })
        .collect()
}

/// A Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions(dockerfile: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dockerfile)
        .unwrap_or_else(|e| panic!("{}: {e}", dockerfile.display()));
    let mut out = vec![];
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                if let Some((op, rest)) = current.trim().split_once(char::is_whitespace) {
                    out.push((op.to_uppercase(), rest.trim().to_owned()));
                }
                current.clear();
            }
        }
    }
    out
}

#[test]
fn every_build_names_existing_dockerfiles_contexts_files_and_arguments() {
    let p = pipeline();
    let builds = builds(&p);
    assert!(
        builds.len() >= 4,
        "the three toolkit images and the job image"
    );
    for b in &builds {
        assert!(
            b.dockerfile.is_file(),
            "step {}: no Dockerfile {}",
            b.step,
            b.dockerfile.display()
        );
        assert!(
            b.context.is_dir(),
            "step {}: no build context {}",
            b.step,
            b.context.display()
        );
        assert!(!b.tags.is_empty(), "step {}: the image needs a tag", b.step);
        let instructions = instructions(&b.dockerfile);
        let declared: Vec<&str> = instructions
            .iter()
            .filter(|(op, _)| op == "ARG")
            .map(|(_, rest)| rest.split('=').next().unwrap())
            .collect();
        for (arg, _) in &b.build_args {
            assert!(
                declared.contains(&arg.as_str()),
                "step {}: {} declares no ARG {arg}",
                b.step,
                b.dockerfile.display()
            );
        }
        // What the Dockerfile copies from the context is there (or built by the user's step).
        for (_, rest) in instructions.iter().filter(|(op, _)| op == "COPY") {
            let words: Vec<&str> = rest
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            if rest.contains("--from=") {
                continue;
            }
            for source in &words[..words.len() - 1] {
                let path = b.context.join(source);
                assert!(
                    path.exists() || BUILD_OUTPUTS.contains(source),
                    "step {}: {} copies {source}, which {} lacks",
                    b.step,
                    b.dockerfile.display(),
                    b.context.display()
                );
            }
        }
    }
    // The toolkit's three images come from the repository's own Dockerfiles.
    for dockerfile in [
        "docker/deploy.Dockerfile",
        "docker/flink.Dockerfile",
        "docker/savepointer.Dockerfile",
    ] {
        assert!(
            builds
                .iter()
                .any(|b| b.dockerfile == repo().join(dockerfile)),
            "no step builds {dockerfile}"
        );
    }
}

#[test]
fn pushed_images_are_built_by_the_pipeline() {
    let p = pipeline();
    let tags: Vec<String> = builds(&p).into_iter().flat_map(|b| b.tags).collect();
    let repository = |tag: &str| tag.rsplit_once(':').map_or(tag, |(r, _)| r).to_owned();
    for s in p.steps.iter().filter(|s| s.args[0] == "push") {
        let image = s.args.last().unwrap();
        assert!(
            tags.iter().any(|t| t == image || repository(t) == *image),
            "step {} pushes {image}, which no step builds",
            s.id
        );
    }
    for image in &p.images {
        assert!(tags.contains(image), "images: {image} is not built");
    }
    let pushed: Vec<String> = p
        .steps
        .iter()
        .filter(|s| s.args[0] == "push")
        .map(|s| s.args.last().unwrap().clone())
        .collect();
    for name in ["flink-deploy", "flink", "flink-savepointer"] {
        assert!(
            pushed.iter().any(|p| p.ends_with(&format!("/{name}"))),
            "the {name} image is not pushed: {pushed:?}"
        );
    }
}

/// A minimal jar with a Main-Class, like the user's job.jar.
fn sample_jar(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("job.jar");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    zip.start_file(
        "META-INF/MANIFEST.MF",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(b"Manifest-Version: 1.0\r\nMain-Class: com.example.Job\r\n\r\n")
        .unwrap();
    zip.finish().unwrap();
    path
}

#[test]
fn the_deploy_step_is_accepted_by_flink_deploy() {
    let p = pipeline();
    let builds = builds(&p);
    let deployer = builds
        .iter()
        .find(|b| b.dockerfile.ends_with("docker/deploy.Dockerfile"))
        .expect("the deployer image is built");
    let deployer_workdir = instructions(&deployer.dockerfile)
        .into_iter()
        .filter(|(op, _)| op == "WORKDIR")
        .map(|(_, dir)| dir)
        .next_back()
        .expect("the deployer image has a WORKDIR");
    let runs: Vec<&Step> = p.steps.iter().filter(|s| s.args[0] == "run").collect();
    assert!(!runs.is_empty(), "no `docker run` step deploys the job");
    let scratch = tempfile::tempdir().unwrap();
    let jar = sample_jar(scratch.path());
    // A JobManager URL where nothing listens: parsing and validation pass, then the
    // connection fails with flink-deploy's "unreachable" exit code.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unreachable = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for step in runs {
        // docker run [--rm] [--network=N] [-e K=V]... IMAGE ARGS...
        let mut env = vec![];
        let mut network = None;
        let mut rest = step.args[1..].iter();
        let image = loop {
            let a = rest.next().expect("docker run names an image");
            match a.as_str() {
                "--rm" | "-i" | "-t" => {}
                flag if flag.starts_with("--network=") => {
                    network = flag.strip_prefix("--network=").map(str::to_owned);
                }
                "-e" | "--env" => {
                    let (k, v) = rest.next().unwrap().split_once('=').unwrap();
                    env.push((k.to_owned(), v.to_owned()));
                }
                flag if flag.starts_with('-') => panic!("step {}: unexpected {flag}", step.id),
                image => break image.to_owned(),
            }
        };
        let args: Vec<String> = rest.cloned().collect();
        assert_eq!(
            args[0], "deploy",
            "step {}: runs flink-deploy deploy",
            step.id
        );
        assert!(
            env.iter().any(|(k, _)| k == "FLINK_JOBMANAGER_URL"),
            "step {}: the JobManager comes from -e FLINK_JOBMANAGER_URL",
            step.id
        );
        // The deployer lists the gs:// layout with the build's credentials, which only
        // containers on Cloud Build's own network get from its metadata server.
        assert_eq!(
            network.as_deref(),
            Some("cloudbuild"),
            "step {}: docker run --network=cloudbuild",
            step.id
        );
        // The job image: built from the deployer image, its files copied into the workdir.
        let job = builds
            .iter()
            .find(|b| b.tags.contains(&image))
            .unwrap_or_else(|| panic!("step {}: no step builds {image}", step.id));
        let from_deployer = job
            .build_args
            .iter()
            .any(|(_, v)| deployer.tags.contains(v));
        assert!(
            from_deployer,
            "the job image {image} is not built FROM the deployer image"
        );
        let copies_into_workdir = instructions(&job.dockerfile).iter().any(|(op, rest)| {
            op == "COPY"
                && rest
                    .trim_end_matches('/')
                    .ends_with(deployer_workdir.trim_end_matches('/'))
        });
        assert!(
            copies_into_workdir,
            "{} copies the job into {deployer_workdir}",
            job.dockerfile.display()
        );
        // Run the real binary as the container would: in the workdir (here: the job's build
        // context, whose files the image has there), the jar where the image has it.
        let out = Command::new(workspace_bin("flink-deploy"))
            .args(&args)
            .current_dir(&job.context)
            .env_clear()
            .envs(
                env.iter()
                    .filter(|(k, _)| k != "FLINK_JOBMANAGER_URL")
                    .cloned(),
            )
            .env("FLINK_JOBMANAGER_URL", &unreachable)
            .env("FLINK_JOB_JAR", &jar)
            .env("FLINK_REST_TIMEOUT", "2s")
            .stdin(Stdio::null())
            .output()
            .expect("flink-deploy runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(3),
            "step {}: flink-deploy {} should get past its arguments and deploy spec and only \
             fail to reach the JobManager (exit 3)\nstderr:\n{stderr}",
            step.id,
            args.join(" ")
        );
        assert!(
            stderr.contains("cannot reach the JobManager"),
            "step {}: {stderr}",
            step.id
        );
    }
}

#[test]
fn a_misspelled_flag_fails_this_check() {
    // The check above relies on flink-deploy rejecting what it does not know before it
    // connects anywhere: the article's own spelling must fail with the usage exit code.
    let out = Command::new(workspace_bin("flink-deploy"))
        .args(["deploy", "--job-name", "x", "--parallelism", "72"])
        .args(["--config_file", "deploy.yaml", "--paralelism", "3"])
        .env_clear()
        .env("FLINK_JOBMANAGER_URL", "http://127.0.0.1:9")
        .stdin(Stdio::null())
        .output()
        .expect("flink-deploy runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
