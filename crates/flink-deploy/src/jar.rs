//! Checking the job's jar before anything touches the cluster.

use std::io::Read;
use std::path::{Path, PathBuf};

/// What we know of a jar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JarInfo {
    /// Its size in bytes.
    pub size: u64,
    /// `Main-Class` of its manifest, if any.
    pub main_class: Option<String>,
}

/// Why the jar cannot be deployed (exit 2, nothing touched).
#[derive(Debug, thiserror::Error)]
pub enum JarError {
    /// No file at the path.
    #[error("the jar {} does not exist (set --jar or FLINK_JOB_JAR; job images put it at /opt/flink-job/job.jar)", .0.display())]
    Missing(PathBuf),
    /// The file cannot be read.
    #[error("cannot read the jar {}: {source}", .path.display())]
    Unreadable {
        /// The jar.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a zip archive.
    #[error("{} is not a jar (not a zip archive: {source})", .path.display())]
    NotAJar {
        /// The file.
        path: PathBuf,
        /// Why.
        source: zip::result::ZipError,
    },
    /// No main class anywhere.
    #[error("{} names no Main-Class in its manifest: pass --entry-class", .0.display())]
    NoMainClass(PathBuf),
    /// `--entry-class` is not in the jar.
    #[error("--entry-class {class}: {} has no {class_file}", .path.display())]
    NoEntryClass {
        /// The jar.
        path: PathBuf,
        /// The class.
        class: String,
        /// The file it would be.
        class_file: String,
    },
}

/// Checks that `path` is a readable jar with a main class (in its manifest,
/// or `entry_class`).
pub fn inspect(path: &Path, entry_class: Option<&str>) -> Result<JarInfo, JarError> {
    let unreadable = |source| JarError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => JarError::Missing(path.to_path_buf()),
        _ => unreadable(e),
    })?;
    let size = file.metadata().map_err(unreadable)?.len();
    let mut archive = zip::ZipArchive::new(file).map_err(|source| JarError::NotAJar {
        path: path.to_path_buf(),
        source,
    })?;
    let main_class = match archive.by_name("META-INF/MANIFEST.MF") {
        Ok(mut manifest) => {
            let mut text = String::new();
            manifest.read_to_string(&mut text).map_err(unreadable)?;
            manifest_main_class(&text)
        }
        Err(_) => None,
    };
    if main_class.is_none() && entry_class.is_none() {
        return Err(JarError::NoMainClass(path.to_path_buf()));
    }
    if let Some(class) = entry_class {
        let class_file = format!("{}.class", class.replace('.', "/"));
        if archive.by_name(&class_file).is_err() {
            return Err(JarError::NoEntryClass {
                path: path.to_path_buf(),
                class: class.to_string(),
                class_file,
            });
        }
    }
    Ok(JarInfo { size, main_class })
}

/// `Main-Class` of a manifest (continuation lines start with one space).
fn manifest_main_class(text: &str) -> Option<String> {
    let mut unfolded: Vec<String> = Vec::new();
    for line in text.lines() {
        match (line.strip_prefix(' '), unfolded.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => unfolded.push(line.to_string()),
        }
    }
    unfolded.iter().find_map(|l| {
        l.strip_prefix("Main-Class:")
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn jar(dir: &Path, manifest: Option<&str>, classes: &[&str]) -> std::path::PathBuf {
        let path = dir.join("job.jar");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        if let Some(m) = manifest {
            zip.start_file("META-INF/MANIFEST.MF", opts).unwrap();
            zip.write_all(m.as_bytes()).unwrap();
        }
        for c in classes {
            zip.start_file(*c, opts).unwrap();
            zip.write_all(b"\xca\xfe\xba\xbe").unwrap();
        }
        zip.finish().unwrap();
        path
    }

    #[test]
    fn main_class_comes_from_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let path = jar(
            dir.path(),
            Some("Manifest-Version: 1.0\r\nMain-Class: com.example.Very\r\n LongName\r\n"),
            &[],
        );
        let info = inspect(&path, None).unwrap();
        assert_eq!(info.main_class.as_deref(), Some("com.example.VeryLongName"));
    }

    #[test]
    fn a_jar_without_main_class_needs_an_entry_class_it_contains() {
        let dir = tempfile::tempdir().unwrap();
        let path = jar(
            dir.path(),
            Some("Manifest-Version: 1.0\n"),
            &["com/example/Job.class"],
        );
        let err = inspect(&path, None).unwrap_err();
        assert!(matches!(err, JarError::NoMainClass(_)), "{err}");
        assert!(err.to_string().contains("--entry-class"), "{err}");
        assert!(inspect(&path, Some("com.example.Job")).is_ok());
        let err = inspect(&path, Some("com.example.Typo")).unwrap_err();
        assert!(
            matches!(&err, JarError::NoEntryClass { class_file, .. } if class_file == "com/example/Typo.class"),
            "{err}"
        );
    }

    #[test]
    fn missing_and_non_jars_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = inspect(&dir.path().join("nope.jar"), None).unwrap_err();
        assert!(matches!(err, JarError::Missing(_)), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");
        let text = dir.path().join("text.jar");
        std::fs::write(&text, "hello").unwrap();
        let err = inspect(&text, Some("x.Y")).unwrap_err();
        assert!(matches!(err, JarError::NotAJar { .. }), "{err}");
    }
}
