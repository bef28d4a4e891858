//! Item 5: sizes of the images built from `docker/`, and of the Flink image
//! the CLI approach needs. Only inspects images; never builds them.

use std::process::Command;

/// One image found, or looked for.
#[derive(Debug, Clone)]
pub struct Image {
    /// What it is for.
    pub role: &'static str,
    /// `repository:tag`, when found.
    pub name: Option<String>,
    /// Bytes, when found.
    pub bytes: Option<u64>,
    /// How to build it, when not found.
    pub how_to_build: &'static str,
}

/// The figures of item 5: `None` when docker cannot be reached.
#[derive(Debug, Default)]
pub struct Results {
    pub docker: Option<String>,
    pub images: Vec<Image>,
}

/// Each image: what it is for, the names its repository may end in, and how
/// to build it.
const ROLES: [(&str, &[&str], &str); 4] = [
    (
        "flink-deploy (deployer base image)",
        &["deploy", "flink-deploy"],
        "`docker build -f docker/deploy.Dockerfile -t flink-ops/deploy .` (base images: `docker/base-images.sh`)",
    ),
    (
        "flink-savepointer (sidecar)",
        &["savepointer", "flink-savepointer"],
        "`docker build -f docker/savepointer.Dockerfile -t flink-ops/savepointer .`",
    ),
    (
        "Flink + flink-bootstrap (JobManager/TaskManager)",
        &["flink", "flink-ops-flink"],
        "`docker build -f docker/flink.Dockerfile -t flink-ops/flink .`",
    ),
    (
        "Flink stand-in image (what the CLI approach and the cron script need)",
        &["flink"],
        "`FLINK_DIST_DIR=<FLINK_HOME> docker/base-images.sh flink`",
    ),
];

pub fn measure() -> Results {
    let version = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    let docker = match version {
        Ok(out) if out.status.success() => {
            Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        _ => None,
    };
    let listed: Vec<(String, String)> = match &docker {
        None => Vec::new(),
        Some(_) => Command::new("docker")
            .args(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
            .output()
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter_map(|l| l.split_once(' '))
                    .map(|(n, id)| (n.to_string(), id.to_string()))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let images = ROLES
        .iter()
        .map(|(role, patterns, how)| {
            let found = listed.iter().find(|(name, _)| {
                // Names are those of the last part of the repository; the
                // stand-in base images only stand for the Flink image.
                let repo = name.split(':').next().unwrap_or_default();
                let last = repo.rsplit('/').next().unwrap_or_default();
                let standin_role = role.starts_with("Flink stand-in");
                repo.starts_with("flink-")
                    && repo.contains("standin") == standin_role
                    && patterns.contains(&last)
            });
            Image {
                role,
                name: found.map(|(n, _)| n.clone()),
                bytes: found.and_then(|(_, id)| size(id)),
                how_to_build: how,
            }
        })
        .collect();
    Results { docker, images }
}

fn size(id: &str) -> Option<u64> {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Size}}", id])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
