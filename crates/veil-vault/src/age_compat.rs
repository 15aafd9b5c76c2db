//! Compatibility with age (age-encryption.org/v1), through the `age` crate.
//!
//! Existing age users can switch to Veil without re-encrypting anything: `veil vault open`
//! recognises an age file by its first line and an age identity file by its
//! `AGE-SECRET-KEY-1` keys, and `veil vault seal --format age` writes files the `age` tool
//! opens. age files have no key commitment, signature or random access; those need `.veil`.

use std::io::{BufReader, Read, Write};
use std::str::FromStr;

use crate::error::{Error, Result};

/// The first bytes of a binary age file.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// True when `head` (the first bytes of a file) starts like an age file.
pub fn is_age_file(head: &[u8]) -> bool {
    head.starts_with(AGE_MAGIC)
}

/// True when the text of a key file holds age identities.
pub fn is_age_identity(text: &str) -> bool {
    text.lines()
        .any(|l| l.trim_start().starts_with("AGE-SECRET-KEY-1"))
}

/// Parses `age1...` recipients.
pub fn parse_recipients(recipients: &[String]) -> Result<Vec<age::x25519::Recipient>> {
    recipients
        .iter()
        .map(|r| {
            age::x25519::Recipient::from_str(r.trim())
                .map_err(|e| Error::invalid("age recipient", format!("\"{r}\": {e}")))
        })
        .collect()
}

/// Age recipients from `--to` values: an `age1…` key, or a recipients file (one `age1…` per
/// line; other lines, such as `#` comments, are skipped).
pub fn recipients_from(specs: &[String]) -> Result<Vec<String>> {
    let mut recipients = Vec::new();
    for r in specs {
        if r.starts_with("age1") {
            recipients.push(r.clone());
        } else {
            let text = std::fs::read_to_string(r).map_err(|e| Error::io(r, e))?;
            recipients.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| l.starts_with("age1"))
                    .map(str::to_string),
            );
        }
    }
    Ok(recipients)
}

/// Encrypts `input` to age `recipients` (`age1...` strings).
pub fn seal<R: Read, W: Write>(mut input: R, output: W, recipients: &[String]) -> Result<u64> {
    let parsed = parse_recipients(recipients)?;
    if parsed.is_empty() {
        return Err(Error::invalid(
            "recipients",
            "give at least one age1... recipient",
        ));
    }
    let encryptor =
        age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
            .map_err(Error::AgeEncrypt)?;
    let mut writer = encryptor
        .wrap_output(output)
        .map_err(|e| Error::io("output", e))?;
    let n = std::io::copy(&mut input, &mut writer).map_err(|e| Error::io("input", e))?;
    writer
        .finish()
        .map_err(|e| Error::io("output", e))?
        .flush()
        .map_err(|e| Error::io("output", e))?;
    Ok(n)
}

/// Decrypts an age file with the identities in `identity_text` (an age identity file).
pub fn open<R: Read, W: Write>(input: R, mut output: W, identity_text: &str) -> Result<u64> {
    let identities = age::IdentityFile::from_buffer(BufReader::new(identity_text.as_bytes()))
        .map_err(Error::AgeIdentity)?
        .into_identities()
        .map_err(Error::AgeDecrypt)?;
    let decryptor = age::Decryptor::new(input).map_err(Error::AgeDecrypt)?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(Error::AgeDecrypt)?;
    let n = std::io::copy(&mut reader, &mut output).map_err(|e| match e.kind() {
        // The age reader reports a payload chunk that does not authenticate this way.
        std::io::ErrorKind::InvalidData => Error::AgeDecrypt(age::DecryptError::DecryptionFailed),
        _ => Error::io("age input", e),
    })?;
    output.flush().map_err(|e| Error::io("output", e))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn round_trip_through_the_age_crate() {
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        let mut sealed = Vec::new();
        seal(&b"hello age"[..], &mut sealed, &[recipient]).unwrap();
        assert!(is_age_file(&sealed));
        let text = id.to_string().expose_secret().to_string();
        assert!(is_age_identity(&text));
        let mut plain = Vec::new();
        open(&sealed[..], &mut plain, &text).unwrap();
        assert_eq!(plain, b"hello age");
        // Tampering is detected.
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(open(&sealed[..], &mut Vec::new(), &text).is_err());
    }

    #[test]
    fn bad_recipient_is_a_clear_error() {
        let err = parse_recipients(&["age1nope".into()]).unwrap_err();
        assert!(err.to_string().contains("age1nope"), "{err}");
    }
}
