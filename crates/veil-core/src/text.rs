//! Text from files and peers, made safe to print on a terminal.

use std::borrow::Cow;

/// `text` with every control character (ESC, CR, BEL, … and newlines) and every invisible
/// formatting character (bidirectional overrides and isolates, zero-width characters, the
/// byte-order mark) written as a Rust escape (`\u{1b}`), so that text from a file or a peer
/// cannot move the cursor, recolour, reorder or hide what a terminal shows around it. Text
/// without them is returned as it is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if hidden(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// A control character, or a format character that changes how text around it is shown
/// ("Trojan Source", Boucher and Anderson 2021).
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}' | '\u{061c}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert!(matches!(printable("model v1 — ünïcode"), Cow::Borrowed(_)));
        assert_eq!(
            printable("ok\x1b[2K\rforged\n"),
            "ok\\u{1b}[2K\\u{d}forged\\u{a}"
        );
        assert_eq!(printable("abc\u{202e}fed"), "abc\\u{202e}fed");
    }
}
