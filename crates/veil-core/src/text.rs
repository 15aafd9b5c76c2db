//! Text from files and peers, made safe to print on a terminal.

use std::borrow::Cow;

/// `text` with every control character (ESC, CR, BEL, … and newlines) written as a Rust
/// escape (`\u{1b}`), so that text from a file or a peer cannot move the cursor, recolour or
/// rewrite what a terminal shows around it. Text without control characters is returned as
/// it is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
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
    }
}
