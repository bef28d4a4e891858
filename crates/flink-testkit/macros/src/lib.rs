//! `#[each_version]`: one test per supported Flink version from one scenario,
//! and the list of those versions. Re-exported by `flink-testkit`; use it
//! from there.
//!
//! Written against `proc_macro` alone: it only needs the scenario's name, so
//! it takes no parser crate.
#![deny(missing_docs)]

use proc_macro::{Delimiter, TokenStream, TokenTree};

/// The Flink versions the suite runs against: the 1.x LTS and the newest.
/// `flink_testkit::SUPPORTED_VERSIONS` and the tests `#[each_version]`
/// generates both come from here, so they cannot disagree.
const VERSIONS: [&str; 2] = ["1.20.3", "2.3.0"];

/// The supported versions as an array literal, for `SUPPORTED_VERSIONS`.
#[proc_macro]
pub fn supported_versions(input: TokenStream) -> TokenStream {
    if !input.is_empty() {
        return compile_error("supported_versions!() takes no arguments");
    }
    let items: Vec<String> = VERSIONS.iter().map(|v| format!("{v:?}")).collect();
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
/// // #[tokio::test] async fn lifecycle_on_flink_1_20() { lifecycle("1.20.3").await }
/// // #[tokio::test] async fn lifecycle_on_flink_2_3() { lifecycle("2.3.0").await }
/// ```
#[proc_macro_attribute]
pub fn each_version(args: TokenStream, scenario: TokenStream) -> TokenStream {
    let Some(name) = async_fn_name(scenario.clone()) else {
        return compile_error("#[each_version] goes on an `async fn NAME(version: &str)`");
    };
    let attribute = if args.is_empty() {
        "#[::tokio::test]".to_string()
    } else {
        format!("#[::tokio::test({args})]")
    };
    let mut out = scenario;
    for version in VERSIONS {
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
        assert_eq!(test_suffix("1.20.3"), "1_20");
        assert_eq!(test_suffix("2.3.0"), "2_3");
    }

    #[test]
    fn suffixes_of_the_supported_versions_are_distinct_identifiers() {
        let mut suffixes: Vec<String> = VERSIONS.iter().map(|v| test_suffix(v)).collect();
        for s in &suffixes {
            assert!(
                s.chars().all(|c| c.is_ascii_digit() || c == '_') && s.contains('_'),
                "{s}"
            );
        }
        suffixes.sort();
        suffixes.dedup();
        assert_eq!(suffixes.len(), VERSIONS.len(), "two versions share a name");
    }
}
