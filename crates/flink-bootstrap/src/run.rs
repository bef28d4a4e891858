//! The bootstrap's flow: resolve, validate, write, drop privileges, exec.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::Context;
use flink_config::{
    load_image_conf, render, resolve, validate, write_config, ConfigFile, FlinkVersion,
    Log4jReport, Profile, Resolved, Role, Severity, Source,
};
use flink_ops_cli::LogFormat;
use instance_metadata::{select, GceMetadata, InstanceMetadata, ResourceProbe};
use tracing::{error, info, warn};

use crate::cli::{Action, Cli, MetadataArg, MetricsReporter};
use crate::env_vars::{self as env, ImageEnv};
use crate::exit::{fail, Exit, Failure, OrExit};
use crate::layers::{self, Inputs};
use crate::plugins::Plugins;
use crate::privileges;
use crate::state_dirs::{self, RunsAs};

/// How long `--metadata auto` waits for the metadata server's first answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Parses the command line and the process environment, runs, and maps the outcome to an exit
/// code. Only returns when Flink was not exec'd.
pub fn main() -> ExitCode {
    let cli = match flink_ops_cli::parse_command_line::<Cli>() {
        Ok((cli, _)) => cli,
        Err(code) => return code,
    };
    flink_ops_cli::init_logging(cli.log.log_format, "info");
    // On success the process is Flink by now (exec), or the config was rendered.
    let result = utf8_vars(std::env::vars_os()).and_then(|vars| run(&cli, vars));
    flink_ops_cli::finish(result.map(|()| Exit::Ok))
}

/// The variables that are UTF-8. One the configuration is read from that is not is an error:
/// dropping it would start Flink without its settings, and decoding it lossily would write
/// U+FFFD into them.
fn utf8_vars(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Vec<(String, String)>, Failure> {
    let mut out = Vec::new();
    for (name, value) in vars {
        match (name.into_string(), value.into_string()) {
            (Ok(name), Ok(value)) => out.push((name, value)),
            // Whether ImageEnv reads the variable, asked of ImageEnv itself: does a value for it
            // change (or fail) the load?
            (Ok(name), Err(_))
                if ImageEnv::load([(name.clone(), "x".to_owned())])
                    .map_or(true, |e| e != ImageEnv::default()) =>
            {
                return Err(fail(
                    Exit::InvalidConfig,
                    format!(
                        "${name} is not valid UTF-8; nothing was written and Flink was not started"
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Runs `cli` with the official-image variables taken from `vars` (not from the process).
pub fn run(cli: &Cli, vars: impl IntoIterator<Item = (String, String)>) -> Result<(), Failure> {
    let (role, action, extra) = cli.command.parts();
    let image_env = ImageEnv::load(vars).or_exit(Exit::InvalidConfig)?;
    let version = FlinkVersion::detect(&cli.flink_home)
        .with_context(|| format!("--flink-home {}", cli.flink_home.display()))
        .or_exit(Exit::FlinkNotFound)?;
    if !version.is_supported() {
        warn!("Flink {version} is outside the versions flink-ops supports (1.19 to 2.3)");
    }
    let script = cli.flink_home.join("bin").join(role.script());
    if action == Action::Start && !script.is_file() {
        return Err(fail(
            Exit::FlinkNotFound,
            format!(
                "{} not found: is --flink-home a Flink installation?",
                script.display()
            ),
        ));
    }
    // Fail on a missing user before doing anything else.
    let user = match action {
        Action::Start => privileges::target_user(cli.run_as.as_deref())?,
        _ => None,
    };

    let mut plugins = Plugins::read(
        &cli.flink_home,
        image_env.enable_built_in_plugins.as_deref(),
    )
    .map_err(|e| {
        fail(
            Exit::InvalidConfig,
            format!("{e}; nothing was written and Flink was not started"),
        )
    })?;
    let prometheus = prometheus(cli, &mut plugins)?;
    let image_dir = cli.flink_home.join("conf");
    // Rendered now, written with the config: a problem stops the start before anything is written.
    let console_log4j = match cli.log.log_format {
        LogFormat::Json => json_console_log4j(&cli.flink_home, &image_dir, cli.strict)?,
        LogFormat::Text => None,
    };
    let image = load_image_conf(&image_dir, version).or_exit(Exit::InvalidConfig)?;
    if let Some(note) = image.as_ref().and_then(|i| i.note.as_deref()) {
        warn!("{note}");
    }
    let resources = ResourceProbe::default().read();
    for w in &resources.warnings {
        warn!("{w}");
    }
    let metadata = fetch_metadata(cli, &image_env)?;
    let host_address = match metadata.as_ref().and_then(|m| m.internal_ip) {
        Some(_) => None,
        None => host_address(),
    };
    let inputs = Inputs {
        role,
        version,
        image,
        profile: cli.profile,
        prometheus,
        resources,
        metadata,
        host_address,
        env: image_env,
        sets: cli.set.clone(),
    };
    let layers = layers::build(&inputs).or_exit(Exit::InvalidConfig)?;
    let resolved = resolve(&layers, version);
    for (from, to, origin) in resolved.renames() {
        info!("{from} (from {origin}) is called {to} in Flink {version}: written as {to}");
    }
    // Who Flink will run as, for the state directory check: the user started Flink drops to,
    // else this process's user. (Only a start fails on a --run-as it cannot switch to.)
    let runs_as = match &user {
        Some(user) => RunsAs::user(user),
        None if action == Action::Start => RunsAs::current(),
        None => privileges::target_user(cli.run_as.as_deref())
            .ok()
            .flatten()
            .map_or_else(RunsAs::current, |u| RunsAs::user(&u)),
    };
    // Started as root to drop to Flink's user: an empty state directory (a new mount) becomes
    // that user's, as the official entrypoint does with its own directories.
    if let (Action::Start, Some(_)) = (action, &user) {
        for given in state_dirs::give_empty_dirs(&resolved, &runs_as) {
            match given {
                Ok(dir) => info!(
                    "gave the empty state directory {} to {} (uid {}, gid {})",
                    dir.display(),
                    runs_as.name,
                    runs_as.uid,
                    runs_as.gid
                ),
                Err(e) => warn!("{e}"),
            }
        }
    }
    check(&resolved, role, cli.strict, cli.profile, &plugins, &runs_as)?;

    match action {
        Action::Explain => {
            print!("{}", explain(&resolved, role, console_log4j.is_some()));
            return Ok(());
        }
        Action::Check => {
            info!("the {role} configuration is valid for Flink {version}");
            return Ok(());
        }
        Action::Render | Action::Start => {}
    }
    let text = render(&resolved, version.config_file()).or_exit(Exit::InvalidConfig)?;
    let ConfDir {
        path: conf_dir,
        separate,
        private,
    } = choose_conf_dir(cli.conf_dir.as_deref(), &image_dir)?;
    if separate {
        copy_support_files(&image_dir, &conf_dir)?;
    }
    let report = write_config(&conf_dir, version, &text).or_exit(Exit::ConfDirUnwritable)?;
    if let Some(aside) = &report.moved_aside {
        warn!(
            "moved the leftover flink-conf.yaml to {}: Flink {version} would read it instead of config.yaml",
            aside.display()
        );
    }
    if let Some(kept) = &report.kept_original {
        info!("kept the image's config as {}", kept.display());
    }
    info!(
        "{} {} ({} keys)",
        if report.unchanged {
            "unchanged"
        } else {
            "wrote"
        },
        report.path.display(),
        resolved.entries.len()
    );
    let linked = plugins.enable().map_err(|e| {
        fail(
            Exit::ConfDirUnwritable,
            format!("{e}; Flink was not started"),
        )
    })?;
    for link in linked {
        info!("enabled the plugin {}", link.display());
    }
    match flink_config::write_console_log4j(&conf_dir, console_log4j.as_deref())
        .or_exit(Exit::ConfDirUnwritable)?
    {
        Log4jReport::Json(path) => info!(
            "wrote {}: Flink's console log is Cloud Logging JSON",
            path.display()
        ),
        Log4jReport::Restored(path) => info!(
            "put the image's {} back: Flink's console log is text again",
            path.display()
        ),
        Log4jReport::Untouched => {}
    }
    if action == Action::Render {
        return Ok(());
    }
    if let (true, Some(user)) = (private, &user) {
        give_to(&conf_dir, user)?;
    }
    Err(exec(
        &script,
        extra,
        separate.then_some(&conf_dir),
        user.as_ref(),
    ))
}

/// Whether Flink's Prometheus reporter is on, and what turned it on; its plugin is made sure of.
/// Missing, it stops the start when asked for, and is a warning when the profile asked.
fn prometheus(cli: &Cli, plugins: &mut Plugins) -> Result<Option<Source>, Failure> {
    let (reporter, explicit) = cli.metrics_reporter();
    if reporter == MetricsReporter::None {
        return Ok(None);
    }
    let source = if explicit {
        Source::Option
    } else {
        Source::Profile
    };
    match plugins.provide(flink_config::PROMETHEUS_PLUGIN) {
        Ok(()) => Ok(Some(source)),
        Err(e) if explicit || cli.strict => Err(fail(
            Exit::InvalidConfig,
            format!(
                "the Prometheus reporter needs Flink's plugin: {e}; nothing was written and Flink \
                 was not started{}",
                if explicit {
                    ""
                } else {
                    " (--strict; --metrics-reporter none turns the reporter off)"
                }
            ),
        )),
        Err(e) => {
            warn!(
                "the elastic profile's Prometheus reporter is off: {e} (--metrics-reporter none \
                 says so without this warning)"
            );
            Ok(None)
        }
    }
}

/// The image's `log4j-console.properties` with Cloud Logging JSON on the console, when this
/// Flink can do it. A Flink without the layout jar (1.20's `lib/`) keeps its text console log
/// with a warning, so `FLINK_OPS_LOG_FORMAT=json` set for the toolkit's own logs never stops a
/// start; `--strict` refuses instead.
fn json_console_log4j(
    home: &Path,
    image_dir: &Path,
    strict: bool,
) -> Result<Option<String>, Failure> {
    let unchanged = "; nothing was written and Flink was not started";
    if let Err(e) = crate::logs::json_layout_jar(home) {
        if strict {
            return Err(fail(
                Exit::InvalidConfig,
                format!("{e} (--strict){unchanged}"),
            ));
        }
        warn!("Flink's own console log stays text: {e}");
        return Ok(None);
    }
    let (path, text) = flink_config::image_console_log4j(image_dir)
        .or_exit(Exit::InvalidConfig)?
        .ok_or_else(|| {
            fail(
                Exit::InvalidConfig,
                format!(
                    "--log-format json renders Flink's {}, which {} does not have{unchanged}",
                    flink_config::CONSOLE_LOG4J,
                    image_dir.display()
                ),
            )
        })?;
    flink_config::json_console(&text, &path)
        .map(Some)
        .map_err(|e| fail(Exit::InvalidConfig, format!("{e}{unchanged}")))
}

fn fetch_metadata(cli: &Cli, env: &ImageEnv) -> Result<Option<InstanceMetadata>, Failure> {
    if cli.metadata == MetadataArg::None {
        return Ok(None);
    }
    let gce = GceMetadata::new(env.gce_metadata_host.as_deref())
        .or_exit(Exit::MetadataUnavailable)?
        .with_deadline(cli.metadata_timeout);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .or_exit(Exit::Failure)?;
    // The runtime is dropped before privileges are dropped: no other threads remain.
    runtime.block_on(async {
        let Some(provider) = select(cli.metadata.into(), gce, PROBE_TIMEOUT).await else {
            info!(
                "no metadata server answered within {PROBE_TIMEOUT:?}: using container facts only"
            );
            return Ok(None);
        };
        let md = provider.fetch().await.map_err(|e| {
            if e.is_bad_metadata() {
                Failure {
                    exit: Exit::InvalidConfig,
                    error: anyhow::Error::new(e).context(
                        "the instance metadata cannot be used; nothing was written and Flink \
                         was not started",
                    ),
                }
            } else {
                Failure {
                    exit: Exit::MetadataUnavailable,
                    error: anyhow::Error::new(e).context(
                        "instance metadata is required (--metadata gce, or auto after a \
                         successful probe)",
                    ),
                }
            }
        })?;
        info!(
            "{} metadata: instance {} in {}, internal IP {}",
            provider.name(),
            md.name.as_deref().unwrap_or("?"),
            md.zone.as_deref().unwrap_or("?"),
            md.internal_ip.map_or("?".into(), |ip| ip.to_string()),
        );
        Ok(Some(md))
    })
}

/// The first non-loopback address of this host's name (a container's address on its network).
fn host_address() -> Option<IpAddr> {
    let name = nix::unistd::gethostname().ok()?.into_string().ok()?;
    let mut addrs: Vec<IpAddr> = (name.as_str(), 0)
        .to_socket_addrs()
        .ok()?
        .map(|a| a.ip())
        .filter(|ip| !ip.is_loopback())
        .collect();
    addrs.sort_by_key(|ip| ip.is_ipv6());
    addrs.first().copied()
}

fn check(
    resolved: &Resolved,
    role: Role,
    strict: bool,
    profile: Option<Profile>,
    plugins: &Plugins,
    runs_as: &RunsAs,
) -> Result<(), Failure> {
    let mut errors = 0;
    let mut findings = validate(resolved);
    findings.extend(plugins.missing_for(resolved));
    findings.extend(state_dirs::unwritable(resolved, runs_as));
    // The elastic profile is an instance group of TaskManagers on hosts of their own.
    if profile == Some(Profile::Elastic) {
        findings.extend(flink_config::state_dirs_across_hosts(resolved));
    }
    for d in findings {
        if d.severity == Severity::Error || strict {
            error!("{d}");
            errors += 1;
        } else {
            warn!("{d}");
        }
    }
    if role == Role::TaskManager
        && resolved
            .get("jobmanager.rpc.address")
            .is_none_or(|a| a == "localhost")
    {
        warn!(
            "the TaskManager will look for the JobManager at localhost: set the metadata attribute \
             {} or {} or --set jobmanager.rpc.address=HOST",
            layers::ATTR_JOBMANAGER_ADDRESS,
            env::JOB_MANAGER_RPC_ADDRESS
        );
    }
    if errors > 0 {
        return Err(fail(
            Exit::InvalidConfig,
            format!(
                "{errors} problem(s) in the {role} configuration for Flink {}{}; nothing was \
                 written and Flink was not started",
                resolved.version,
                if strict { " (--strict)" } else { "" }
            ),
        ));
    }
    Ok(())
}

/// A table of every key, its value and its source, with what it replaced; then where state,
/// metrics and logs go and how rescales are damped.
fn explain(resolved: &Resolved, role: Role, json_logs: bool) -> String {
    let width = |f: fn((&String, &flink_config::Resolution)) -> usize| {
        resolved.entries.iter().map(f).max().unwrap_or(0)
    };
    let kw = width(|(k, _)| k.len()).max(3);
    let vw = width(|(_, r)| r.value.chars().count()).clamp(5, 40);
    let mut out = format!(
        "# Flink {} {role}: {} keys, written to {}\n{:<kw$}  {:<vw$}  SOURCE\n",
        resolved.version,
        resolved.entries.len(),
        resolved.version.config_file().file_name(),
        "KEY",
        "VALUE",
    );
    for (key, r) in &resolved.entries {
        let _ = writeln!(out, "{key:<kw$}  {:<vw$}  {}", r.value, r.origin);
        let indent = kw + 2;
        if let Some(note) = &r.note {
            let _ = writeln!(out, "{:indent$}  {note}", "");
        }
        if let Some(from) = &r.renamed_from {
            let _ = writeln!(out, "{:indent$}  written as {from}", "");
        }
        for (origin, value) in &r.overrides {
            let _ = writeln!(out, "{:indent$}  overrides {value} from {origin}", "");
        }
    }
    // Where state goes is the one thing no default gets right on several hosts: name the keys
    // (as this version spells them) even when unset.
    out.push_str("# state (a bucket, gs://BUCKET/… or s3://BUCKET/…, when TaskManagers run on other hosts):\n");
    for (key, what) in flink_config::state_dir_keys(resolved.version) {
        let what = format!("{what}s");
        match resolved.entries.get(key) {
            Some(r) => {
                let _ = writeln!(out, "#   {what}: {key} = {}", r.value);
            }
            None => {
                let _ = writeln!(
                    out,
                    "#   {what}: {key} is unset (--set {key}=gs://BUCKET/{what})"
                );
            }
        }
    }
    let reporter = flink_config::PROMETHEUS_REPORTER;
    match resolved.get(&format!("metrics.reporter.{reporter}.port")) {
        Some(port)
            if resolved
                .entries
                .contains_key(&format!("metrics.reporter.{reporter}.factory.class")) =>
        {
            let _ = writeln!(
                out,
                "# metrics: Prometheus at http://<this host>:{port}/metrics (the first free port \
                 of a range), on every interface: Flink binds it so"
            );
        }
        _ => out.push_str("# metrics: no Prometheus reporter (--metrics-reporter prometheus)\n"),
    }
    out.push_str(if json_logs {
        "# logs: Flink's console log (stdout) is Cloud Logging JSON (log4j-console.properties)\n"
    } else {
        "# logs: Flink's console log (stdout) is text (--log-format json for Cloud Logging)\n"
    });
    if resolved
        .get("jobmanager.scheduler")
        .is_some_and(|s| s.eq_ignore_ascii_case("adaptive"))
    {
        out.push_str("# rescale damping (adaptive scheduler):\n");
        for d in flink_config::damping_keys(resolved.version) {
            let value = match resolved.entries.get(d.key) {
                Some(r) => format!("{} ({})", r.value, r.origin),
                None => format!("unset, Flink's default: {}", d.flink_default),
            };
            let _ = writeln!(out, "#   {} = {value}: {}", d.key, d.what);
        }
    }
    out
}

/// Where the config is written.
#[derive(Debug)]
struct ConfDir {
    /// Absolute, because Flink's scripts get it as FLINK_CONF_DIR.
    path: PathBuf,
    /// Not the installation's: Flink must be told with FLINK_CONF_DIR.
    separate: bool,
    /// Created by this run, readable by its owner only.
    private: bool,
}

/// `--conf-dir`, else the installation's when it is writable, else a new private directory.
/// Never a fixed path in the temporary directory: another local user could have put a symlink
/// (to a directory of theirs) there, and swapped Flink's config after it was written.
fn choose_conf_dir(explicit: Option<&Path>, image_dir: &Path) -> Result<ConfDir, Failure> {
    let (dir, private) = match explicit {
        Some(dir) => (dir.to_owned(), false),
        None if tempfile::NamedTempFile::new_in(image_dir).is_ok() => (image_dir.to_owned(), false),
        None => {
            let dir = private_dir()?;
            info!(
                "{} is not writable: writing the config to the new private directory {} and \
                 passing it to Flink as {}",
                image_dir.display(),
                dir.display(),
                env::FLINK_CONF_DIR
            );
            (dir, true)
        }
    };
    let path = fs::create_dir_all(&dir)
        .and_then(|()| fs::canonicalize(&dir))
        .with_context(|| format!("cannot create the conf dir {}", dir.display()))
        .or_exit(Exit::ConfDirUnwritable)?;
    let same = fs::canonicalize(image_dir).is_ok_and(|image| image == path);
    Ok(ConfDir {
        path,
        separate: !same,
        private,
    })
}

/// A new directory with a random name in the temporary directory, mode 0700. It is kept: Flink
/// reads it after the exec.
fn private_dir() -> Result<PathBuf, Failure> {
    tempfile::Builder::new()
        .prefix("flink-conf-")
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir()
        .map(tempfile::TempDir::keep)
        .with_context(|| {
            format!(
                "cannot create a conf dir in {}",
                std::env::temp_dir().display()
            )
        })
        .or_exit(Exit::ConfDirUnwritable)
}

/// Makes the private conf dir, written as root, Flink's: so that it can read it, and still
/// nobody else.
fn give_to(dir: &Path, user: &nix::unistd::User) -> Result<(), Failure> {
    std::os::unix::fs::chown(dir, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
        .with_context(|| format!("cannot give {} to {}", dir.display(), user.name))
        .or_exit(Exit::ConfDirUnwritable)
}

/// Copies what Flink's scripts need besides the config (log4j and logback files, masters,
/// workers) from the image's conf dir.
fn copy_support_files(from: &Path, to: &Path) -> Result<(), Failure> {
    let Ok(entries) = fs::read_dir(from) else {
        warn!(
            "{} cannot be read: no logging configuration for Flink",
            from.display()
        );
        return Ok(());
    };
    let config_files = [ConfigFile::ConfigYaml, ConfigFile::FlinkConfYaml].map(|f| f.file_name());
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let is_config = name
            .to_str()
            .is_some_and(|n| config_files.iter().any(|c| n.starts_with(c)));
        if is_config || !entry.path().is_file() {
            continue;
        }
        let target = to.join(&name);
        if fs::read(&target).ok() != fs::read(entry.path()).ok() {
            fs::copy(entry.path(), &target)
                .with_context(|| {
                    format!("cannot copy {} to {}", entry.path().display(), to.display())
                })
                .or_exit(Exit::ConfDirUnwritable)?;
        }
    }
    Ok(())
}

/// Replaces this process with Flink's start script; returns only on failure.
fn exec(
    script: &Path,
    extra: &[String],
    conf_dir: Option<&PathBuf>,
    user: Option<&nix::unistd::User>,
) -> Failure {
    let mut command = Command::new(script);
    command.arg("start-foreground").args(extra);
    if let Some(dir) = conf_dir {
        command.env(env::FLINK_CONF_DIR, dir);
    }
    if let Some(user) = user {
        if let Err(failure) = privileges::drop_to(user) {
            return failure;
        }
        command
            .env("HOME", &user.dir)
            .env("USER", &user.name)
            .env("LOGNAME", &user.name);
        info!(
            "running as {} (uid {}, gid {})",
            user.name, user.uid, user.gid
        );
    }
    info!(
        "exec {} start-foreground {}",
        script.display(),
        extra.join(" ")
    );
    let err = command.exec();
    fail(
        Exit::ExecFailed,
        format!("cannot exec {}: {err}", script.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;
    use gce_metadata_standin::{GceTree, MetadataStandin};
    use std::os::unix::fs::MetadataExt;

    /// A fake installation: a dist jar of `version`, the shipped config and a log4j file.
    #[test]
    fn the_fallback_conf_dir_is_new_and_private_every_time() {
        let home = flink_home("2.3.0");
        let image_dir = home.path().join("conf");
        // Where the old fallback was: a symlink someone else could have planted.
        let planted = std::env::temp_dir().join("flink-conf");
        let dirs: Vec<PathBuf> = (0..2).map(|_| private_dir().unwrap()).collect();
        for dir in &dirs {
            assert_ne!(dir, &planted);
            let meta = fs::symlink_metadata(dir).unwrap();
            assert!(meta.is_dir());
            assert_eq!(meta.permissions().mode() & 0o777, 0o700);
            fs::remove_dir(dir).unwrap();
        }
        assert_ne!(dirs[0], dirs[1]);
        // Root gives it to the user Flink runs as; anyone else cannot give it away.
        let dir = private_dir().unwrap();
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        let given = give_to(&dir, &nobody);
        if nix::unistd::geteuid().is_root() {
            given.unwrap();
            let meta = fs::metadata(&dir).unwrap();
            assert_eq!(meta.uid(), nobody.uid.as_raw());
            assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        } else {
            assert_eq!(given.unwrap_err().exit, Exit::ConfDirUnwritable);
        }
        fs::remove_dir(&dir).unwrap();
        let in_place = choose_conf_dir(None, &image_dir).unwrap();
        assert_eq!(
            (in_place.separate, in_place.private),
            (false, false),
            "{in_place:?}"
        );
    }

    #[test]
    fn variables_the_config_is_read_from_must_be_utf8() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(b"taskmanager.host: caf\xe9".to_vec());
        let err = utf8_vars([(env::FLINK_PROPERTIES.into(), bad())]).unwrap_err();
        assert_eq!(err.exit, Exit::InvalidConfig);
        assert!(
            err.to_string()
                .contains("$FLINK_PROPERTIES is not valid UTF-8"),
            "{err}"
        );
        // Others are nothing to the bootstrap.
        let vars = utf8_vars([("SOMETHING_ELSE".into(), bad()), ("A".into(), "b".into())]);
        assert_eq!(vars.unwrap(), [("A".to_owned(), "b".to_owned())]);
    }

    fn flink_home(version: &str) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        for dir in ["lib", "bin", "conf"] {
            fs::create_dir(home.path().join(dir)).unwrap();
        }
        fs::write(
            home.path().join(format!("lib/flink-dist-{version}.jar")),
            "",
        )
        .unwrap();
        fs::write(
            home.path().join("conf/config.yaml"),
            "taskmanager:\n  host: localhost\n  numberOfTaskSlots: 1\njobmanager:\n  rpc:\n    address: localhost\n",
        )
        .unwrap();
        fs::write(home.path().join("conf/log4j-console.properties"), "x=y\n").unwrap();
        home
    }

    fn cli(home: &Path, args: &[&str]) -> Cli {
        let home = home.to_str().unwrap();
        let mut argv = vec!["flink-bootstrap", "--flink-home", home];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap()
    }

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    #[test]
    fn renders_into_a_separate_conf_dir_with_support_files() {
        let home = flink_home("2.3.0");
        let out = tempfile::tempdir().unwrap();
        let conf = out.path().join("conf");
        let args = [
            "--metadata",
            "none",
            "--profile",
            "elastic",
            "--conf-dir",
            conf.to_str().unwrap(),
            "--set",
            "jobmanager.rpc.address=10.0.0.2",
            "render",
            "taskmanager",
        ];
        run(&cli(home.path(), &args), no_env()).unwrap();
        let text = fs::read_to_string(conf.join("config.yaml")).unwrap();
        assert!(text.contains(
            "jobmanager.adaptive-scheduler.submission.resource-wait-timeout: '3600 s'\n"
        ));
        assert!(text.contains("jobmanager.rpc.address: '10.0.0.2'\n"));
        assert!(text.contains("taskmanager.bind-host: '0.0.0.0'\n"));
        assert!(conf.join("log4j-console.properties").exists());
        // Same inputs, same bytes.
        run(&cli(home.path(), &args), no_env()).unwrap();
        assert_eq!(fs::read_to_string(conf.join("config.yaml")).unwrap(), text);
        // The image was not touched.
        assert!(!home.path().join("conf/config.yaml.image").exists());
    }

    #[test]
    fn renders_in_place_for_1_20_and_handles_a_leftover_flink_conf() {
        let home = flink_home("1.20.3");
        fs::write(
            home.path().join("conf/flink-conf.yaml"),
            "rest.port: 8089\n",
        )
        .unwrap();
        let args = [
            "--metadata",
            "none",
            "--profile",
            "elastic",
            "render",
            "jobmanager",
        ];
        run(&cli(home.path(), &args), no_env()).unwrap();
        let conf = home.path().join("conf");
        let text = fs::read_to_string(conf.join("config.yaml")).unwrap();
        assert!(text.contains("rest.port: '8089'\n"), "{text}");
        assert!(text.contains("heartbeat.timeout: '15 s'\n"));
        assert!(text.contains("jobmanager.adaptive-scheduler.resource-wait-timeout: '3600 s'\n"));
        assert!(!conf.join("flink-conf.yaml").exists());
        assert!(conf
            .join("flink-conf.yaml.replaced-by-config.yaml")
            .exists());
        run(&cli(home.path(), &args), no_env()).unwrap();
        assert_eq!(fs::read_to_string(conf.join("config.yaml")).unwrap(), text);
    }

    #[test]
    fn bad_inputs_get_their_exit_codes() {
        let home = flink_home("2.3.0");
        let code = |args: &[&str], env: Vec<(String, String)>| {
            run(&cli(home.path(), args), env).unwrap_err().exit
        };
        assert_eq!(
            code(
                &[
                    "--metadata",
                    "none",
                    "--set",
                    "heartbeat.timeout=fast",
                    "check",
                    "taskmanager"
                ],
                no_env()
            ),
            Exit::InvalidConfig
        );
        assert_eq!(
            code(
                &[
                    "--metadata",
                    "none",
                    "--strict",
                    "--set",
                    "hearbeat.timeout=15000",
                    "check",
                    "taskmanager"
                ],
                no_env()
            ),
            Exit::InvalidConfig
        );
        assert_eq!(
            code(
                &["--metadata", "none", "check", "taskmanager"],
                vec![(env::FLINK_PROPERTIES.into(), "not a property".into())]
            ),
            Exit::InvalidConfig
        );
        // A typo alone is a warning.
        run(
            &cli(
                home.path(),
                &[
                    "--metadata",
                    "none",
                    "--set",
                    "hearbeat.timeout=15000",
                    "check",
                    "taskmanager",
                ],
            ),
            no_env(),
        )
        .unwrap();
        assert_eq!(
            code(
                &[
                    "--metadata",
                    "none",
                    "--conf-dir",
                    "/proc/flink-conf",
                    "render",
                    "taskmanager"
                ],
                no_env()
            ),
            Exit::ConfDirUnwritable
        );
        let missing = tempfile::tempdir().unwrap();
        let err = run(
            &cli(
                missing.path(),
                &["--metadata", "none", "check", "taskmanager"],
            ),
            no_env(),
        )
        .unwrap_err();
        assert_eq!(err.exit, Exit::FlinkNotFound);
        assert!(err.to_string().contains("Flink installation"), "{err}");
    }

    #[test]
    fn metadata_down_is_retried_then_its_own_exit_code() {
        let home = flink_home("2.3.0");
        let standin = MetadataStandin::start(GceTree::new("tm-1", "10.128.0.7").build()).unwrap();
        standin.fail_next(u32::MAX);
        let env = vec![(env::GCE_METADATA_HOST.to_owned(), standin.host())];
        let args = [
            "--metadata",
            "gce",
            "--metadata-timeout",
            "500ms",
            "check",
            "taskmanager",
        ];
        let err = run(&cli(home.path(), &args), env).unwrap_err();
        assert_eq!(err.exit, Exit::MetadataUnavailable);
        assert!(standin.requests() > 2, "retried: {}", standin.requests());
    }

    #[test]
    fn metadata_feeds_the_taskmanager_config() {
        let home = flink_home("2.3.0");
        let standin = MetadataStandin::start(
            GceTree::new("tm-1", "10.128.0.7")
                .project_attribute("flink-jobmanager-address", "10.128.0.2")
                .project_attribute("flink-config", "heartbeat.timeout: 20 s\n")
                .instance_attribute("flink-config", "taskmanager.numberOfTaskSlots: 3\n")
                .build(),
        )
        .unwrap();
        let env = vec![(env::GCE_METADATA_HOST.to_owned(), standin.host())];
        let args = [
            "--metadata",
            "auto",
            "--profile",
            "elastic",
            "render",
            "taskmanager",
        ];
        run(&cli(home.path(), &args), env).unwrap();
        let text = fs::read_to_string(home.path().join("conf/config.yaml")).unwrap();
        for line in [
            "jobmanager.rpc.address: '10.128.0.2'",
            "taskmanager.host: '10.128.0.7'",
            "taskmanager.numberOfTaskSlots: '3'",
            "heartbeat.timeout: '20 s'",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(home.path().join("conf/config.yaml.image").exists());
    }

    #[test]
    fn explain_shows_values_sources_and_overrides() {
        let home = flink_home("2.3.0");
        let c = cli(
            home.path(),
            &[
                "--metadata",
                "none",
                "--profile",
                "elastic",
                "explain",
                "taskmanager",
            ],
        );
        let version = FlinkVersion::new(2, 3, 0);
        let image = load_image_conf(&home.path().join("conf"), version).unwrap();
        let inputs = Inputs {
            role: Role::TaskManager,
            version,
            image,
            profile: c.profile,
            prometheus: Some(Source::Profile),
            resources: ResourceProbe::default().read(),
            metadata: None,
            host_address: None,
            env: ImageEnv::default(),
            sets: vec![],
        };
        let text = explain(
            &resolve(&layers::build(&inputs).unwrap(), version),
            Role::TaskManager,
            false,
        );
        let line = text
            .lines()
            .find(|l| l.starts_with("heartbeat.timeout "))
            .unwrap();
        assert!(
            line.contains("15 s") && line.ends_with("profile (elastic)"),
            "{line}"
        );
        assert!(text.contains("overrides 1 from image conf ("), "{text}");
        assert!(
            text.contains(
                "#   savepoints: execution.checkpointing.savepoint-dir is unset (--set \
                 execution.checkpointing.savepoint-dir=gs://BUCKET/savepoints)"
            ) && text.contains("#   checkpoints: execution.checkpointing.dir is unset"),
            "{text}"
        );
        // The damping keys of 2.3, set by the profile or left to Flink, each said what it does.
        for line in [
            "#   jobmanager.adaptive-scheduler.executing.cooldown-after-rescaling = 1 min \
             (profile (elastic)): after a rescale",
            "#   jobmanager.adaptive-scheduler.executing.resource-stabilization-timeout = unset, \
             Flink's default: 60 s: after a TaskManager joins",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(
            !text.contains("min-parallelism-increase"),
            "not read by 2.x: {text}"
        );
        assert!(
            text.contains("# metrics: Prometheus at http://<this host>:9250-9259/metrics"),
            "{text}"
        );
    }

    /// A Flink home whose console log4j file is Flink's, with or without the JSON layout jar.
    fn home_for_json_logs(with_layout: bool) -> tempfile::TempDir {
        let home = flink_home("2.3.0");
        let console = "rootLogger.appenderRef.console.ref = ConsoleAppender\n\
                       appender.console.name = ConsoleAppender\n\
                       appender.console.type = CONSOLE\n\
                       appender.console.layout.type = PatternLayout\n\
                       appender.console.layout.pattern = %m%n\n";
        fs::write(home.path().join("conf/log4j-console.properties"), console).unwrap();
        fs::write(home.path().join("lib/log4j-core-2.25.3.jar"), "PK").unwrap();
        if with_layout {
            fs::write(
                home.path()
                    .join("lib/log4j-layout-template-json-2.25.3.jar"),
                "PK GcpLayout.json PK",
            )
            .unwrap();
        }
        home
    }

    #[test]
    fn json_logs_render_the_console_log4j_into_the_conf_dir() {
        let home = home_for_json_logs(true);
        let image_file = home.path().join("conf/log4j-console.properties");
        let image_text = fs::read_to_string(&image_file).unwrap();
        let out = tempfile::tempdir().unwrap();
        let conf = out.path().join("conf");
        let args = |format: &'static str| {
            [
                "--metadata",
                "none",
                "--log-format",
                format,
                "--conf-dir",
                conf.to_str().unwrap(),
                "render",
                "jobmanager",
            ]
            .map(str::to_owned)
        };
        let json = args("json");
        let json: Vec<&str> = json.iter().map(String::as_str).collect();
        run(&cli(home.path(), &json), no_env()).unwrap();
        let rendered = fs::read_to_string(conf.join("log4j-console.properties")).unwrap();
        assert!(
            rendered.contains("appender.console.layout.type = JsonTemplateLayout\n")
                && rendered.contains("eventTemplateUri = classpath:GcpLayout.json\n"),
            "{rendered}"
        );
        assert_eq!(
            fs::read_to_string(&image_file).unwrap(),
            image_text,
            "the image is untouched"
        );
        // Text again: the image's file.
        let text = args("text");
        let text: Vec<&str> = text.iter().map(String::as_str).collect();
        run(&cli(home.path(), &text), no_env()).unwrap();
        assert_eq!(
            fs::read_to_string(conf.join("log4j-console.properties")).unwrap(),
            image_text
        );
    }

    #[test]
    fn json_logs_without_the_layout_jar_keep_flinks_text_log_and_strict_refuses() {
        let home = home_for_json_logs(false);
        let image_text =
            fs::read_to_string(home.path().join("conf/log4j-console.properties")).unwrap();
        let out = tempfile::tempdir().unwrap();
        let conf = out.path().join("conf");
        let args = |strict: bool| {
            let mut args = vec!["--metadata", "none", "--log-format", "json"];
            if strict {
                args.push("--strict");
            }
            args.extend([
                "--conf-dir",
                conf.to_str().unwrap(),
                "render",
                "taskmanager",
            ]);
            args
        };
        let err = run(&cli(home.path(), &args(true)), no_env()).unwrap_err();
        assert_eq!(err.exit, Exit::InvalidConfig);
        let msg = format!("{err}");
        assert!(
            msg.contains("log4j-layout-template-json-2.25.3.jar")
                && msg.contains("nothing was written"),
            "{msg}"
        );
        assert!(!conf.exists(), "nothing written");
        // Without --strict: the config is written and the console log is the image's, text.
        run(&cli(home.path(), &args(false)), no_env()).unwrap();
        assert_eq!(
            fs::read_to_string(conf.join("log4j-console.properties")).unwrap(),
            image_text
        );
    }

    #[test]
    fn an_asked_for_reporter_without_its_plugin_is_refused_the_profiles_is_a_warning() {
        let home = flink_home("2.3.0");
        let run_with = |extra: &[&str]| {
            let mut args = vec!["--metadata", "none"];
            args.extend_from_slice(extra);
            args.extend(["check", "jobmanager"]);
            run(&cli(home.path(), &args), no_env())
        };
        let err = run_with(&["--metrics-reporter", "prometheus"]).unwrap_err();
        assert_eq!(err.exit, Exit::InvalidConfig);
        assert!(
            err.to_string()
                .contains("no flink-metrics-prometheus-*.jar in"),
            "{err}"
        );
        run_with(&["--profile", "elastic"]).unwrap();
        assert_eq!(
            run_with(&["--profile", "elastic", "--strict"])
                .unwrap_err()
                .exit,
            Exit::InvalidConfig
        );
        // In opt/ only: linked, as ENABLE_BUILT_IN_PLUGINS would.
        fs::create_dir(home.path().join("opt")).unwrap();
        fs::write(
            home.path().join("opt/flink-metrics-prometheus-2.3.0.jar"),
            "PK",
        )
        .unwrap();
        let out = tempfile::tempdir().unwrap();
        let conf = out.path().join("conf");
        let args = [
            "--metadata",
            "none",
            "--metrics-reporter",
            "prometheus",
            "--conf-dir",
            conf.to_str().unwrap(),
            "render",
            "jobmanager",
        ];
        run(&cli(home.path(), &args), no_env()).unwrap();
        let link = home
            .path()
            .join("plugins/flink-metrics-prometheus-2.3.0/flink-metrics-prometheus-2.3.0.jar");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let text = fs::read_to_string(conf.join("config.yaml")).unwrap();
        assert!(
            text.contains("metrics.reporter.prom.port: '9249'\n"),
            "{text}"
        );
    }
}
