//! Finding the image's own config file and writing the rendered one atomically.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::parse::MAX_CONFIG_BYTES;
use crate::{parse_config_yaml, parse_flink_conf, ConfigFile, FlinkVersion, ParseError, HEADER};

/// Suffix of a leftover `flink-conf.yaml` moved aside so that `config.yaml` is used.
pub const REPLACED_SUFFIX: &str = ".replaced-by-config.yaml";

/// Suffix of the copy of an image's config file kept before it is first overwritten in place, so
/// later starts resolve from the image's values rather than from a previous rendering.
const IMAGE_SUFFIX: &str = ".image";

/// Reading or writing a config file failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// An I/O error on a path.
    #[error("{action} {path}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The image's config file is not valid.
    #[error("{path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The error.
        source: ParseError,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FileError + 'a {
    move |source| FileError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The settings of the config file Flink would read from an image's conf dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConf {
    /// The file that was read.
    pub path: PathBuf,
    /// Its `(key, value)` pairs, in file order.
    pub settings: Vec<(String, String)>,
    /// Something the user should know about the files found (leftovers, ignored files).
    pub note: Option<String>,
}

/// Reads the config file `version` would use from `dir` (the image's conf dir), preferring a
/// copy kept by [`write_config`] over a file it rendered. `None` when the dir holds none.
pub fn load_image_conf(dir: &Path, version: FlinkVersion) -> Result<Option<ImageConf>, FileError> {
    use ConfigFile::{ConfigYaml, FlinkConfYaml};
    let legacy = FlinkConfYaml.file_name();
    let current = ConfigYaml.file_name();
    let mut note = None;
    let candidates: Vec<(String, ConfigFile)> = if !version.at_least(1, 19) {
        vec![
            (format!("{legacy}{IMAGE_SUFFIX}"), FlinkConfYaml),
            (legacy.into(), FlinkConfYaml),
        ]
    } else {
        let mut c = Vec::new();
        if !version.at_least(2, 0) {
            if dir.join(legacy).exists() {
                note = Some(format!(
                    "{} takes priority over {current} in Flink {version}: its keys are the image \
                     conf, and {current} is written in its place",
                    dir.join(legacy).display()
                ));
            }
            c.push((legacy.into(), FlinkConfYaml));
            c.push((format!("{legacy}{REPLACED_SUFFIX}"), FlinkConfYaml));
        } else if dir.join(legacy).exists() {
            note = Some(format!(
                "{} is ignored by Flink {version}; move its keys to {current} \
                 (bin/migrate-config-file.sh) or to --set",
                dir.join(legacy).display()
            ));
        }
        c.push((format!("{current}{IMAGE_SUFFIX}"), ConfigYaml));
        c.push((current.into(), ConfigYaml));
        c
    };
    for (name, format) in candidates {
        let path = dir.join(name);
        let text = match read_bounded(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io("cannot read", &path)(e)),
        };
        crate::parse::check_size(&text).map_err(|source| FileError::Parse {
            path: path.clone(),
            source,
        })?;
        let settings = match format {
            ConfigYaml => parse_config_yaml(&text).map_err(|source| FileError::Parse {
                path: path.clone(),
                source,
            })?,
            FlinkConfYaml => parse_flink_conf(&text),
        };
        return Ok(Some(ImageConf {
            path,
            settings,
            note,
        }));
    }
    Ok(None)
}

/// The file's text, or its first `MAX_CONFIG_BYTES + 1` bytes when it is larger (the caller
/// refuses those): a config file is never read whole into memory whatever its size.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    fs::File::open(path)?
        .take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// What [`write_config`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// The file written.
    pub path: PathBuf,
    /// A leftover `flink-conf.yaml` moved aside (1.19/1.20), with its new path.
    pub moved_aside: Option<PathBuf>,
    /// Where the image's original file was copied before it was first overwritten.
    pub kept_original: Option<PathBuf>,
    /// The file already had exactly this content and was not rewritten.
    pub unchanged: bool,
}

/// Writes `contents` as the config file `version` reads in `dir`: through a temporary file in
/// the same dir and a rename, so Flink never sees half a file. On 1.19/1.20 a `flink-conf.yaml`
/// would take priority over `config.yaml`, so it is moved aside.
pub fn write_config(
    dir: &Path,
    version: FlinkVersion,
    contents: &str,
) -> Result<WriteReport, FileError> {
    let file = version.config_file();
    let path = dir.join(file.file_name());
    let mut report = WriteReport {
        path: path.clone(),
        moved_aside: None,
        kept_original: None,
        unchanged: false,
    };
    if file == ConfigFile::ConfigYaml && !version.at_least(2, 0) {
        let legacy = dir.join(ConfigFile::FlinkConfYaml.file_name());
        if legacy.exists() {
            let aside = dir.join(format!(
                "{}{REPLACED_SUFFIX}",
                ConfigFile::FlinkConfYaml.file_name()
            ));
            fs::rename(&legacy, &aside).map_err(io("cannot move aside", &legacy))?;
            report.moved_aside = Some(aside);
        }
    }
    match fs::read_to_string(&path) {
        Ok(existing) if existing == contents => {
            report.unchanged = true;
            return Ok(report);
        }
        Ok(existing) if !existing.starts_with(HEADER) => {
            let keep = dir.join(format!("{}{IMAGE_SUFFIX}", file.file_name()));
            // `create_new` neither follows nor replaces a symlink planted at `keep`.
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&keep)
            {
                Ok(mut copy) => {
                    copy.write_all(existing.as_bytes())
                        .map_err(io("cannot keep a copy of", &path))?;
                    report.kept_original = Some(keep);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("cannot keep a copy of", &path)(e)),
            }
        }
        _ => {}
    }
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(io("cannot create a file in", dir))?;
    let tmp_path = tmp.path().to_owned();
    tmp.write_all(contents.as_bytes())
        .and_then(|()| {
            // Temporary files are 0600; Flink may run as another user than the one rendering.
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(0o644))
        })
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io("cannot write", &tmp_path))?;
    tmp.persist(&path)
        .map_err(|e| io("cannot replace", &path)(e.error))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_20: FlinkVersion = FlinkVersion::new(1, 20, 3);
    const V2_3: FlinkVersion = FlinkVersion::new(2, 3, 0);
    const RENDERED: &str = "# Written by flink-bootstrap for Flink\na.b: 'c'\n";

    #[test]
    fn writes_atomically_readable_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_config(dir.path(), V2_3, RENDERED).unwrap();
        assert_eq!(first.path, dir.path().join("config.yaml"));
        assert!(!first.unchanged);
        assert_eq!(fs::read_to_string(&first.path).unwrap(), RENDERED);
        let mode = fs::metadata(&first.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        assert!(write_config(dir.path(), V2_3, RENDERED).unwrap().unchanged);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn keeps_the_images_file_and_reads_it_on_later_starts() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("config.yaml"),
            "taskmanager:\n  host: localhost\n",
        )
        .unwrap();
        let report = write_config(dir.path(), V2_3, RENDERED).unwrap();
        assert_eq!(
            report.kept_original,
            Some(dir.path().join("config.yaml.image"))
        );
        let image = load_image_conf(dir.path(), V2_3).unwrap().unwrap();
        assert_eq!(image.path, dir.path().join("config.yaml.image"));
        assert_eq!(
            image.settings,
            [("taskmanager.host".into(), "localhost".into())]
        );
        // The copy is made once; the rendered file is never mistaken for the image's.
        let again = write_config(dir.path(), V2_3, "# Written by flink-bootstrap\nx.y: 'z'\n");
        assert_eq!(again.unwrap().kept_original, None);
    }

    #[test]
    fn moves_a_leftover_flink_conf_aside_on_1_20() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("flink-conf.yaml"),
            "heartbeat.timeout: 9000\n",
        )
        .unwrap();
        fs::write(dir.path().join("config.yaml"), "heartbeat.timeout: 1000\n").unwrap();
        let image = load_image_conf(dir.path(), V1_20).unwrap().unwrap();
        assert_eq!(
            image.settings,
            [("heartbeat.timeout".into(), "9000".into())]
        );
        assert!(image.note.unwrap().contains("takes priority"));

        let report = write_config(dir.path(), V1_20, RENDERED).unwrap();
        let aside = dir.path().join("flink-conf.yaml.replaced-by-config.yaml");
        assert_eq!(report.moved_aside.as_ref(), Some(&aside));
        assert!(!dir.path().join("flink-conf.yaml").exists());
        // Next start: the moved file still provides the image's values.
        let image = load_image_conf(dir.path(), V1_20).unwrap().unwrap();
        assert_eq!(image.path, aside);
        assert_eq!(image.note, None);
    }

    #[test]
    fn flink_2_ignores_flink_conf() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("flink-conf.yaml"),
            "heartbeat.timeout: 9000\n",
        )
        .unwrap();
        let image = load_image_conf(dir.path(), V2_3).unwrap();
        assert_eq!(image, None);
        fs::write(dir.path().join("config.yaml"), "a.b: 1\n").unwrap();
        let image = load_image_conf(dir.path(), V2_3).unwrap().unwrap();
        assert!(image.note.unwrap().contains("ignored"));
    }

    #[test]
    fn writes_flink_conf_before_1_19() {
        let dir = tempfile::tempdir().unwrap();
        let report = write_config(dir.path(), FlinkVersion::new(1, 18, 1), RENDERED).unwrap();
        assert_eq!(report.path, dir.path().join("flink-conf.yaml"));
    }

    #[test]
    fn a_huge_image_config_is_refused_without_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        // /dev/zero never ends: only the first MAX_CONFIG_BYTES + 1 bytes are read.
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("config.yaml")).unwrap();
        let err = load_image_conf(dir.path(), V2_3).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::Parse {
                    source: ParseError::TooLarge { .. },
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn the_kept_copy_never_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("victim");
        fs::write(dir.path().join("config.yaml"), "a.b: 1\n").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("config.yaml.image")).unwrap();
        let report = write_config(dir.path(), V2_3, RENDERED).unwrap();
        assert_eq!(report.kept_original, None);
        assert!(!target.exists(), "wrote through the symlink");
        assert_eq!(
            fs::read_to_string(dir.path().join("config.yaml")).unwrap(),
            RENDERED
        );
    }

    #[test]
    fn unwritable_dir_is_a_clear_error() {
        let err = write_config(Path::new("/nonexistent/conf"), V2_3, RENDERED).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/conf"), "{err}");
    }
}
