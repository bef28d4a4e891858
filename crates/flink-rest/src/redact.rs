//! Keeping credentials out of logs and error messages.

use std::fmt;

use reqwest::header::{HeaderName, HeaderValue};
use url::Url;

/// A URL whose user name and password are never displayed.
///
/// The JobManager URL may carry basic-auth credentials
/// (`https://user:secret@flink:8081`); everything that prints a URL prints
/// this type instead.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactedUrl(Box<Url>);

impl RedactedUrl {
    /// Wraps a URL.
    pub fn new(url: Url) -> Self {
        // Boxed to keep the error types that carry it small.
        Self(Box::new(url))
    }

    /// The real URL, credentials included, for making requests.
    pub fn expose(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.username().is_empty() && self.0.password().is_none() {
            return f.write_str(self.0.as_str());
        }
        let mut shown = (*self.0).clone();
        // Both setters only fail for URLs that cannot have credentials at all.
        let _ = shown.set_username("****");
        let _ = shown.set_password(None);
        f.write_str(shown.as_str())
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedactedUrl({self})")
    }
}

/// An extra HTTP header (for example `Authorization` for a proxy) whose value
/// is never displayed.
#[derive(Clone)]
pub struct SecretHeader {
    name: HeaderName,
    value: HeaderValue,
}

impl SecretHeader {
    /// Parses `Name: value`, as given on a command line.
    pub fn parse(line: &str) -> Result<Self, String> {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| "a header must look like 'Name: value'".to_string())?;
        let name = HeaderName::try_from(name.trim())
            .map_err(|_| format!("'{}' is not a valid HTTP header name", name.trim()))?;
        let mut value = HeaderValue::try_from(value.trim()).map_err(|_| {
            format!("the value of header '{name}' has characters HTTP does not allow")
        })?;
        value.set_sensitive(true);
        Ok(Self { name, value })
    }

    /// The header name (safe to print).
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    pub(crate) fn value(&self) -> &HeaderValue {
        &self.value
    }
}

impl fmt::Debug for SecretHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ****", self.name)
    }
}

impl std::str::FromStr for SecretHeader {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_hidden() {
        let url = RedactedUrl::new(Url::parse("https://alice:s3cret@flink:8081/x").unwrap());
        let shown = url.to_string();
        assert_eq!(shown, "https://****@flink:8081/x");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.expose().password(), Some("s3cret"));
    }

    #[test]
    fn url_without_credentials_is_unchanged() {
        let url = RedactedUrl::new(Url::parse("http://10.0.0.1:8081/").unwrap());
        assert_eq!(url.to_string(), "http://10.0.0.1:8081/");
    }

    #[test]
    fn header_value_is_never_printed() {
        let h: SecretHeader = "Authorization: Bearer abc.def".parse().unwrap();
        assert_eq!(h.name().as_str(), "authorization");
        assert_eq!(format!("{h:?}"), "authorization: ****");
        assert!(h.value().is_sensitive());
    }

    #[test]
    fn malformed_headers_are_rejected() {
        assert!(SecretHeader::parse("no colon").is_err());
        assert!(SecretHeader::parse("bad name: x").is_err());
        assert!(SecretHeader::parse("X-Ok: line\nbreak").is_err());
    }
}
