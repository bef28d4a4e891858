//! Values users type that more than one binary takes.

use clap::ValueEnum;
use flink_rest::{ClaimMode, SavepointFormat};
use serde::Deserialize;

/// `--savepoint-format` / `--format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SavepointFormatArg {
    /// Portable across state backends
    #[default]
    Canonical,
    /// The state backend's own format: faster, not portable
    Native,
}

impl From<SavepointFormatArg> for SavepointFormat {
    fn from(f: SavepointFormatArg) -> Self {
        match f {
            SavepointFormatArg::Canonical => SavepointFormat::Canonical,
            SavepointFormatArg::Native => SavepointFormat::Native,
        }
    }
}

/// `--claim-mode`: who owns a restored savepoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimModeArg {
    /// The job takes ownership and may delete it
    Claim,
    /// It stays yours
    #[default]
    NoClaim,
}

impl From<ClaimModeArg> for ClaimMode {
    fn from(c: ClaimModeArg) -> Self {
        match c {
            ClaimModeArg::Claim => ClaimMode::Claim,
            ClaimModeArg::NoClaim => ClaimMode::NoClaim,
        }
    }
}
