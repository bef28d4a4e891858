//! Keeping secrets out of the messages the argument parser prints.
//!
//! clap's "invalid value" errors echo what was typed, which may be `--jobmanager-url
//! http://user:pass@…` or `--header 'X-Api-Key: …'`, from the command line or the environment.
//! [`Scrubber`] knows those values and replaces them in any text before it is printed.

use std::ffi::OsString;

use crate::env_vars;

/// Flags whose values are secret as a whole (after the header name).
const SECRET_FLAGS: &[&str] = &["--header"];
/// Variables whose values are secret headers.
const SECRET_VARS: &[&str] = &[env_vars::FLINK_REST_HEADER];

/// Secret values seen in the command line and environment, and how to show them.
#[derive(Debug, Default, Clone)]
pub struct Scrubber {
    secrets: Vec<(String, String)>,
}

impl Scrubber {
    /// Collects the secrets of `args` (the command line) and `vars` (the environment).
    pub fn new(args: &[OsString], vars: impl IntoIterator<Item = (String, String)>) -> Scrubber {
        let mut scrubber = Scrubber::default();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        for (i, arg) in args.iter().enumerate() {
            scrubber.add_url(arg);
            if let Some((flag, value)) = arg.split_once('=') {
                if SECRET_FLAGS.contains(&flag) {
                    scrubber.add_header(value);
                }
            }
            if SECRET_FLAGS.contains(&arg.as_str()) {
                if let Some(value) = args.get(i + 1) {
                    scrubber.add_header(value);
                }
            }
        }
        for (name, value) in vars {
            scrubber.add_url(&value);
            if SECRET_VARS.contains(&name.as_str()) {
                scrubber.add_header(&value);
            }
        }
        scrubber
    }

    /// A value that may be a URL with credentials (`scheme://user:pass@host`).
    pub fn add_url(&mut self, value: &str) {
        let Some((_, rest)) = value.split_once("://") else {
            return;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if !userinfo.is_empty() {
                self.secrets
                    .push((format!("{userinfo}@"), "****@".to_string()));
            }
        }
    }

    /// A header as typed, `Name: value`; the value is secret (all of it when there is no `:`).
    pub fn add_header(&mut self, value: &str) {
        let secret = match value.split_once(':') {
            Some((_, v)) => v.trim(),
            None => value.trim(),
        };
        if !secret.is_empty() {
            self.secrets.push((secret.to_string(), "****".to_string()));
        }
    }

    /// `text` with every known secret replaced.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        // Longest first, so a secret containing another is replaced whole.
        let mut secrets = self.secrets.clone();
        secrets.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        for (secret, shown) in &secrets {
            out = out.replace(secret.as_str(), shown);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn url_credentials_and_header_values_are_scrubbed() {
        let s = Scrubber::new(
            &args(&[
                "deploy",
                "--jobmanager-url",
                "http://alice:pa+ss@jm:8081/x",
                "--header",
                "X-Api-Key: k3y",
                "--header=Authorization: Bearer t0ken",
            ]),
            [
                (
                    env_vars::FLINK_REST_HEADER.to_string(),
                    "X-Api-Key envkey".to_string(),
                ),
                ("OTHER".to_string(), "https://bob:pw@h".to_string()),
            ],
        );
        let text = "invalid value 'http://alice:pa+ss@jm:8081/x' for '--jobmanager-url'; \
                    'X-Api-Key: k3y'; 'Authorization: Bearer t0ken'; 'X-Api-Key envkey'; https://bob:pw@h";
        let shown = s.scrub(text);
        for secret in ["alice", "pa+ss", "k3y", "t0ken", "envkey", "bob", ":pw"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("http://****@jm:8081/x"), "{shown}");
        assert!(shown.contains("X-Api-Key: ****"), "{shown}");
    }

    #[test]
    fn nothing_secret_nothing_changed() {
        let s = Scrubber::new(&args(&["--jobmanager-url", "http://jm:8081"]), []);
        assert_eq!(s.scrub("http://jm:8081 is down"), "http://jm:8081 is down");
    }
}
