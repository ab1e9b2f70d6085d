//! Signed events: who wrote an event, as the fold can check it.
//!
//! The server's permissions say who may publish on which subject, but once
//! a message is stored nothing in it says who sent it. So every writer
//! with credentials signs what it publishes with its NKey (an Ed25519 key),
//! in two headers, and every reader checks the signature when it decodes
//! the message. The fold then asks the cell's roster whether the signer
//! may write the event (see `rota-projections`' roster).
//!
//! What is signed is the subject, a newline, and the payload exactly as
//! stored: a signature cannot be moved to another subject or payload.

use crate::codec::{InputError, InputErrorKind};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The header naming the signer's NKey public key (`U...`).
pub const SIGNER_HEADER: &str = "Rota-Signer";

/// The header holding the Ed25519 signature, in unpadded URL-safe base64.
pub const SIGNATURE_HEADER: &str = "Rota-Signature";

/// The first byte of a decoded NKey user public key (`U`).
const NKEY_USER_PREFIX: u8 = 20 << 3;

/// The characters of an NKey public key: 35 bytes in base32.
const NKEY_PUBLIC_CHARS: usize = 56;

/// An NKey user public key, checked: its prefix, its checksum and that it
/// is an Ed25519 point.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct PublicKey(String);

impl PublicKey {
    /// Parses `text` as an NKey user public key.
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        decode_nkey(text).map(|_| PublicKey(text.to_string()))
    }

    /// The NKey user public key of an Ed25519 key.
    pub fn from_ed25519(key: [u8; 32]) -> PublicKey {
        let mut raw = Vec::with_capacity(35);
        raw.push(NKEY_USER_PREFIX);
        raw.extend_from_slice(&key);
        let checksum = crc16(&raw);
        raw.extend_from_slice(&checksum.to_le_bytes());
        PublicKey(data_encoding::BASE32_NOPAD.encode(&raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<PublicKey> for String {
    fn from(key: PublicKey) -> String {
        key.0
    }
}

impl TryFrom<String> for PublicKey {
    type Error = String;
    fn try_from(text: String) -> Result<PublicKey, String> {
        PublicKey::parse(&text)
    }
}

/// The bytes a writer signs for a message on `subject` with `payload`.
pub fn signed_message(subject: &str, payload: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(subject.len() + 1 + payload.len());
    message.extend_from_slice(subject.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(payload);
    message
}

/// The text of a signature for the [`SIGNATURE_HEADER`].
pub fn signature_text(signature: &[u8; 64]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(signature)
}

/// Checks the signature headers of a message, if it has any: None for a
/// message without them, the signer for one whose signature holds, and an
/// error that says what was wrong otherwise.
pub fn check_signature(
    subject: &str,
    payload: &[u8],
    signer: Option<&str>,
    signature: Option<&str>,
) -> Result<Option<PublicKey>, InputError> {
    SignatureChecker::default().check(subject, payload, signer, signature)
}

/// Most signers' keys a [`SignatureChecker`] keeps decoded: a roster's
/// worth; past it the checker starts again with none.
pub const CHECKER_KEYS_MAX: usize = 8_192;

/// Checks signatures, keeping each signer's key decoded: decoding a key
/// costs a point decompression, which every message of that signer would
/// otherwise pay again.
#[derive(Default)]
pub struct SignatureChecker {
    keys: BTreeMap<String, (PublicKey, VerifyingKey)>,
}

impl SignatureChecker {
    /// As [`check_signature`].
    pub fn check(
        &mut self,
        subject: &str,
        payload: &[u8],
        signer: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Option<PublicKey>, InputError> {
        let bad = |detail: String| InputError {
            kind: InputErrorKind::BadSignature,
            detail,
        };
        let (signer, signature) = match (signer, signature) {
            (None, None) => return Ok(None),
            (Some(signer), Some(signature)) => (signer, signature),
            (Some(_), None) => {
                return Err(bad(format!(
                    "it names a signer in {SIGNER_HEADER} but has no {SIGNATURE_HEADER}"
                )));
            }
            (None, Some(_)) => {
                return Err(bad(format!(
                    "it has a {SIGNATURE_HEADER} but names no signer in {SIGNER_HEADER}"
                )));
            }
        };
        let bytes = data_encoding::BASE64URL_NOPAD
            .decode(signature.as_bytes())
            .map_err(|e| {
                bad(format!(
                    "{SIGNATURE_HEADER} is not unpadded URL-safe base64: {e}"
                ))
            })?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            bad(format!(
                "{SIGNATURE_HEADER} holds {} bytes; an Ed25519 signature is 64",
                bytes.len()
            ))
        })?;
        let (key, verifying) = self
            .key(signer)
            .map_err(|e| bad(format!("{SIGNER_HEADER}: {e}")))?;
        verifying
            .verify_strict(
                &signed_message(subject, payload),
                &Signature::from_bytes(&bytes),
            )
            .map_err(|_| {
                bad(format!(
                    "the signature is not {signer}'s over this subject and payload"
                ))
            })?;
        Ok(Some(key))
    }

    /// `signer`'s key, decoded once.
    fn key(&mut self, signer: &str) -> Result<(PublicKey, VerifyingKey), String> {
        if let Some((key, verifying)) = self.keys.get(signer) {
            return Ok((key.clone(), *verifying));
        }
        let verifying = decode_nkey(signer)?;
        if self.keys.len() >= CHECKER_KEYS_MAX {
            self.keys.clear();
        }
        let key = PublicKey(signer.to_string());
        self.keys
            .insert(signer.to_string(), (key.clone(), verifying));
        Ok((key, verifying))
    }
}

/// Decodes an NKey user public key into its Ed25519 key.
fn decode_nkey(text: &str) -> Result<VerifyingKey, String> {
    let wrong = |problem: &str| format!("{text:?} is not an NKey user public key: {problem}");
    if text.len() != NKEY_PUBLIC_CHARS {
        return Err(wrong(&format!(
            "it has {} characters, not {NKEY_PUBLIC_CHARS}",
            text.len()
        )));
    }
    let raw = data_encoding::BASE32_NOPAD
        .decode(text.as_bytes())
        .map_err(|_| wrong("it is not base32"))?;
    let (body, checksum) = raw.split_at(raw.len() - 2);
    if u16::from_le_bytes([checksum[0], checksum[1]]) != crc16(body) {
        return Err(wrong("its checksum does not match"));
    }
    if body[0] != NKEY_USER_PREFIX {
        return Err(wrong("it does not start with U"));
    }
    let key: [u8; 32] = body[1..]
        .try_into()
        .map_err(|_| wrong("its key is not 32 bytes"))?;
    VerifyingKey::from_bytes(&key).map_err(|_| wrong("it is not an Ed25519 key"))
}

/// The CRC-16/XMODEM checksum that NKeys end with.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = match crc & 0x8000 {
                0 => crc << 1,
                _ => (crc << 1) ^ 0x1021,
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_without_signature_headers_is_unsigned() {
        assert_eq!(check_signature("s", b"p", None, None), Ok(None));
    }

    #[test]
    fn half_a_signature_or_a_bad_key_is_refused_with_its_reason() {
        let error = check_signature("s", b"p", Some("UX"), None).unwrap_err();
        assert!(error.detail.contains(SIGNATURE_HEADER), "{error}");
        let error = check_signature("s", b"p", Some("UX"), Some("AA")).unwrap_err();
        assert!(error.detail.contains("64"), "{error}");
        let zeros = signature_text(&[0; 64]);
        let error = check_signature("s", b"p", Some("UX"), Some(&zeros)).unwrap_err();
        assert!(error.detail.contains("56"), "{error}");
    }
}
