//! Text from the JobManager made safe to print on one line.

use std::borrow::Cow;
use std::fmt::Write as _;

/// A job name (or any text from the JobManager) that is safe to print on
/// one line of a log or a tab-separated output: `\` becomes `\\`, newlines,
/// carriage returns and tabs become `\n`, `\r`, `\t`, and other control
/// characters, line and paragraph separators and bidirectional overrides
/// (which can make a line read differently than it is) become `\u{…}`.
/// Everything else, including non-ASCII letters and emoji, is kept.
///
/// The escape is reversible, so two names never print the same.
pub fn printable_name(name: &str) -> Cow<'_, str> {
    if !name.chars().any(needs_escape) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(
            c,
            // Line and paragraph separators end a line in some viewers.
            '\u{2028}' | '\u{2029}'
            // Bidirectional marks, embeddings, overrides and isolates.
            | '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_unicode_names_are_kept() {
        for name in [
            "orders",
            "my job",
            "Bestellungen für Köln",
            "注文",
            "🚀 orders-v2",
        ] {
            assert!(matches!(printable_name(name), Cow::Borrowed(n) if n == name));
        }
    }

    #[test]
    fn control_characters_are_escaped_onto_one_line() {
        let forged = "orders\n2026-11-23T18:15:00Z INFO deploy succeeded\tjob=x\r\u{1b}[31m";
        let shown = printable_name(forged);
        assert_eq!(
            shown,
            "orders\\n2026-11-23T18:15:00Z INFO deploy succeeded\\tjob=x\\r\\u{1b}[31m"
        );
        assert!(!shown.chars().any(char::is_control));
        assert_eq!(
            printable_name("a\u{2028}b\u{202e}c\0"),
            "a\\u{2028}b\\u{202e}c\\u{0}"
        );
        assert_eq!(printable_name("a\u{85}b"), "a\\u{85}b");
    }

    #[test]
    fn the_escape_is_unambiguous() {
        // A literal backslash-n and a newline print differently.
        assert_eq!(printable_name("a\\nb"), "a\\\\nb");
        assert_ne!(printable_name("a\\nb"), printable_name("a\nb"));
    }
}
