//! `#[each_version]`: one test per full-suite Flink version from one scenario,
//! `#[each_smoke_version]`: one per other version of the matrix, and the lists
//! of those versions. Re-exported by `flink-testkit`; use it from there.
//!
//! Written against `proc_macro` alone: it only needs the scenario's name, so
//! it takes no parser crate.
#![deny(missing_docs)]

use proc_macro::{Delimiter, TokenStream, TokenTree};

/// The Flink versions the full suites run against: the 1.x LTS and the newest.
/// `flink_testkit::SUPPORTED_VERSIONS` and the tests `#[each_version]`
/// generates both come from here, so they cannot disagree.
const VERSIONS: [&str; 2] = ["1.20.5", "2.3.0"];

/// Every Flink version CI tests (and the README names): the newest patch release of each minor
/// from 1.19 to 2.3 on PyPI. Those not in [`VERSIONS`] get the smoke scenarios
/// (`#[each_smoke_version]`). Not 1.17: it does not start on Java 17 (its JobManager fails with
/// `IllegalAccessError: ... sun.net.util.IPAddressUtil`; Java 17 support came with 1.18). Not
/// 1.18 for now: the example job's rate-file source needs `DataGeneratorSource`, which 1.18's
/// flink-dist lacks, and its 1.18 variant is not rebuilt yet.
const MATRIX: [&str; 6] = ["1.19.3", "1.20.5", "2.0.2", "2.1.3", "2.2.1", "2.3.0"];

/// The versions of [`MATRIX`] that the full suites do not cover.
fn smoke_versions() -> impl Iterator<Item = &'static str> {
    MATRIX.into_iter().filter(|v| !VERSIONS.contains(v))
}

/// The supported versions as an array literal, for `SUPPORTED_VERSIONS`.
#[proc_macro]
pub fn supported_versions(input: TokenStream) -> TokenStream {
    if !input.is_empty() {
        return compile_error("supported_versions!() takes no arguments");
    }
    array_literal(VERSIONS.into_iter())
}

/// Every version of the matrix as an array literal, for `MATRIX_VERSIONS`.
#[proc_macro]
pub fn matrix_versions(input: TokenStream) -> TokenStream {
    if !input.is_empty() {
        return compile_error("matrix_versions!() takes no arguments");
    }
    array_literal(MATRIX.into_iter())
}

/// The versions of the matrix that only get the smoke scenarios, as an array literal, for
/// `SMOKE_VERSIONS`.
#[proc_macro]
pub fn smoke_versions_list(input: TokenStream) -> TokenStream {
    if !input.is_empty() {
        return compile_error("smoke_versions_list!() takes no arguments");
    }
    array_literal(smoke_versions())
}

fn array_literal(versions: impl Iterator<Item = &'static str>) -> TokenStream {
    let items: Vec<String> = versions.map(|v| format!("{v:?}")).collect();
    format!("[{}]", items.join(", "))
        .parse()
        .expect("an array literal")
}

/// Runs the async scenario `fn NAME(version: &str)` once per supported Flink
/// version, as `#[tokio::test]`s named `NAME_on_flink_1_20`,
/// `NAME_on_flink_2_3`, ... (major and minor of each version).
///
/// Arguments are passed on to `#[tokio::test]`, e.g.
/// `#[each_version(flavor = "multi_thread")]`. The scenario itself stays an
/// ordinary function, which rustfmt formats and other code may call.
///
/// ```text
/// #[flink_testkit::each_version]
/// async fn lifecycle(version: &str) {
///     let cluster = flink_testkit::ClusterBuilder::new(version).start().await;
///     // ...
/// }
/// // expands to the function and:
/// // #[tokio::test] async fn lifecycle_on_flink_1_20() { lifecycle("1.20.5").await }
/// // #[tokio::test] async fn lifecycle_on_flink_2_3() { lifecycle("2.3.0").await }
/// ```
#[proc_macro_attribute]
pub fn each_version(args: TokenStream, scenario: TokenStream) -> TokenStream {
    per_version(args, scenario, VERSIONS.into_iter(), "each_version")
}

/// Like [`macro@each_version`], for the versions of the matrix that the full suites do not run
/// on (1.18, 1.19, 2.0, 2.1, 2.2): `NAME_on_flink_1_18`, ...
#[proc_macro_attribute]
pub fn each_smoke_version(args: TokenStream, scenario: TokenStream) -> TokenStream {
    per_version(args, scenario, smoke_versions(), "each_smoke_version")
}

fn per_version(
    args: TokenStream,
    scenario: TokenStream,
    versions: impl Iterator<Item = &'static str>,
    attr: &str,
) -> TokenStream {
    let Some(name) = async_fn_name(scenario.clone()) else {
        return compile_error(&format!(
            "#[{attr}] goes on an `async fn NAME(version: &str)`"
        ));
    };
    let attribute = if args.is_empty() {
        "#[::tokio::test]".to_string()
    } else {
        format!("#[::tokio::test({args})]")
    };
    let mut out = scenario;
    for version in versions {
        let test = format!(
            "{attribute} async fn {name}_on_flink_{suffix}() {{ {name}({version:?}).await }}",
            suffix = test_suffix(version),
        );
        out.extend(test.parse::<TokenStream>().expect("a test function"));
    }
    out
}

/// The name of the `async fn` in `item`, if it is one.
fn async_fn_name(item: TokenStream) -> Option<String> {
    let mut seen_async = false;
    let mut tokens = item.into_iter();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Ident(word) if word.to_string() == "async" => seen_async = true,
            TokenTree::Ident(word) if word.to_string() == "fn" => {
                return match tokens.next() {
                    Some(TokenTree::Ident(name)) if seen_async => Some(name.to_string()),
                    _ => None,
                };
            }
            // The body or anything else braced before `fn`: not a function.
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => return None,
            _ => {}
        }
    }
    None
}

/// `1.20.3` -> `1_20`: what a test's name ends with after `_on_flink_`.
fn test_suffix(version: &str) -> String {
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    format!("{major}_{minor}")
}

fn compile_error(message: &str) -> TokenStream {
    format!("::core::compile_error!({message:?});")
        .parse()
        .expect("a compile_error! invocation")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_is_major_and_minor() {
        assert_eq!(test_suffix("1.20.5"), "1_20");
        assert_eq!(test_suffix("2.3.0"), "2_3");
    }

    #[test]
    fn suffixes_of_the_supported_versions_are_distinct_identifiers() {
        let mut suffixes: Vec<String> = MATRIX.iter().map(|v| test_suffix(v)).collect();
        for s in &suffixes {
            assert!(
                s.chars().all(|c| c.is_ascii_digit() || c == '_') && s.contains('_'),
                "{s}"
            );
        }
        suffixes.sort();
        suffixes.dedup();
        assert_eq!(suffixes.len(), MATRIX.len(), "two versions share a name");
    }

    #[test]
    fn the_matrix_holds_the_full_suite_versions_and_is_ordered() {
        assert!(VERSIONS.iter().all(|v| MATRIX.contains(v)));
        assert_eq!(smoke_versions().count(), MATRIX.len() - VERSIONS.len());
        let parts = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap()).collect() };
        assert!(MATRIX.windows(2).all(|w| parts(w[0]) < parts(w[1])));
    }
}
