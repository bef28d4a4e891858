//! The README says what the binaries do: their exit-code tables and the variables they read come
//! from the same source as their `--help`. `FLINK_OPS_BLESS=1` rewrites the README's blocks.

use std::path::PathBuf;

use flink_ops_cli::{env_vars, markdown_table, ExitStatus};

fn readme() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md")
}

/// Every generated block: its marker and its content.
fn blocks() -> Vec<(&'static str, String)> {
    let mut vars = String::from("| variable | what it is |\n|---|---|\n");
    for (name, doc) in env_vars::ALL {
        vars.push_str(&format!("| `{name}` | {doc} |\n"));
    }
    vec![
        (
            "exit-codes: flink-deploy",
            markdown_table::<flink_deploy::Exit>(),
        ),
        (
            "exit-codes: flink-savepointer",
            markdown_table::<flink_savepointer::exit::Exit>(),
        ),
        (
            "exit-codes: flink-bootstrap",
            markdown_table::<flink_bootstrap::exit::Exit>(),
        ),
        ("env-vars", vars),
        ("flink-versions", flink_versions()),
    ]
}

/// The versions CI tests, and how: the list `#[each_version]` and `#[each_smoke_version]`
/// generate the tests from.
fn flink_versions() -> String {
    let mut table = String::from("| Flink | tested in CI |\n|---|---|\n");
    for version in flink_testkit::MATRIX_VERSIONS {
        let how = if flink_testkit::SUPPORTED_VERSIONS.contains(&version) {
            "the full suites"
        } else {
            "the smoke scenarios"
        };
        table.push_str(&format!("| {version} | {how} |\n"));
    }
    table
}

/// `text` with the block after `<!-- marker -->` (up to `<!-- end -->`) replaced by `content`.
fn with_block(text: &str, marker: &str, content: &str) -> String {
    let open = format!("<!-- {marker} -->\n");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("README.md has no `<!-- {marker} -->`"))
        + open.len();
    let end = start
        + text[start..]
            .find("<!-- end -->")
            .unwrap_or_else(|| panic!("README.md: `<!-- {marker} -->` has no `<!-- end -->`"));
    format!("{}{content}{}", &text[..start], &text[end..])
}

#[test]
fn readme_tables_are_the_binaries_own() {
    let path = readme();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut expected = text.clone();
    for (marker, content) in blocks() {
        expected = with_block(&expected, marker, &content);
    }
    if std::env::var_os("FLINK_OPS_BLESS").is_some() {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    assert!(
        text == expected,
        "README.md's generated blocks are out of date: run FLINK_OPS_BLESS=1 cargo nextest run -p flink-ops-tests -E 'test(/^readme::/)'\nexpected:\n{expected}"
    );
}

#[test]
fn each_binary_prints_the_same_table_in_help() {
    for (bin, table) in [
        (
            "flink-deploy",
            flink_ops_cli::help_table::<flink_deploy::Exit>(),
        ),
        (
            "flink-savepointer",
            flink_ops_cli::help_table::<flink_savepointer::exit::Exit>(),
        ),
        (
            "flink-bootstrap",
            flink_ops_cli::help_table::<flink_bootstrap::exit::Exit>(),
        ),
    ] {
        let out = std::process::Command::new(flink_testkit::workspace_bin(bin))
            .arg("--help")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{bin} --help: {help}");
        assert!(
            help.contains(&table),
            "{bin} --help lacks its table:\n{help}"
        );
    }
}

#[test]
fn shared_codes_mean_the_same_in_every_binary() {
    let shared: Vec<(u8, &str)> = flink_ops_cli::Shared::ALL
        .iter()
        .map(|s| (s.code(), s.meaning()))
        .collect();
    let first = |all: &[(u8, &'static str)]| all[..shared.len()].to_vec();
    let deploy: Vec<_> = flink_deploy::Exit::ALL
        .iter()
        .map(|e| (e.code(), e.meaning()))
        .collect();
    let savepointer: Vec<_> = flink_savepointer::exit::Exit::ALL
        .iter()
        .map(|e| (e.code(), e.meaning()))
        .collect();
    let bootstrap: Vec<_> = flink_bootstrap::exit::Exit::ALL
        .iter()
        .map(|e| (e.code(), e.meaning()))
        .collect();
    assert_eq!(first(&deploy), shared);
    assert_eq!(first(&savepointer), shared);
    assert_eq!(first(&bootstrap), shared);
    // A binary's own codes are its alone.
    let own = |all: &[(u8, &str)]| {
        all[shared.len()..]
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
    };
    for code in own(&deploy) {
        assert!(
            !own(&savepointer).contains(&code) && !own(&bootstrap).contains(&code),
            "{code}"
        );
    }
    for code in own(&savepointer) {
        assert!(!own(&bootstrap).contains(&code), "{code}");
    }
}
