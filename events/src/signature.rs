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
//!
//! Signatures are checked with the cofactored Ed25519 equation,
//! `8·(R + k·A − s·B) = 0`, which every standard signature meets. Unlike
//! the cofactorless one it gives the same answer for a signature alone and
//! within a batch, so readers that batch differently (a batch is what was
//! ready to read) still take exactly the same messages; a batch of n costs
//! much less than n checks.

use crate::codec::{InputError, InputErrorKind};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
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

/// One message's signature headers, as read.
#[derive(Debug, Clone, Copy)]
pub struct SignedMessage<'a> {
    pub subject: &'a str,
    pub payload: &'a [u8],
    pub signer: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// A signature read and parsed, ready for the equation.
struct Parsed {
    key: PublicKey,
    a: EdwardsPoint,
    a_bytes: [u8; 32],
    r: EdwardsPoint,
    r_bytes: [u8; 32],
    s: Scalar,
    /// `H(R || A || message)`, reduced.
    k: Scalar,
}

/// Checks signatures, keeping each signer's key decoded: decoding a key
/// costs a point decompression, which every message of that signer would
/// otherwise pay again.
#[derive(Default)]
pub struct SignatureChecker {
    keys: BTreeMap<String, (PublicKey, EdwardsPoint, [u8; 32])>,
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
        let message = SignedMessage {
            subject,
            payload,
            signer,
            signature,
        };
        self.check_all(&[message]).remove(0)
    }

    /// Checks every message's signature, as [`check`](Self::check) would
    /// one by one, with one equation for all whose signatures hold.
    pub fn check_all(
        &mut self,
        messages: &[SignedMessage<'_>],
    ) -> Vec<Result<Option<PublicKey>, InputError>> {
        let parsed: Vec<Result<Option<Parsed>, InputError>> =
            messages.iter().map(|m| self.parse(m)).collect();
        let signed: Vec<&Parsed> = parsed
            .iter()
            .filter_map(|p| p.as_ref().ok().and_then(Option::as_ref))
            .collect();
        let all_hold = holds(&signed);
        parsed
            .into_iter()
            .zip(messages)
            .map(|(parsed, message)| match parsed? {
                None => Ok(None),
                Some(p) if all_hold || holds(&[&p]) => Ok(Some(p.key)),
                Some(_) => Err(bad_signature(format!(
                    "the signature is not {}'s over this subject and payload",
                    message.signer.unwrap_or_default()
                ))),
            })
            .collect()
    }

    /// Reads a message's headers into what the equation needs.
    fn parse(&mut self, message: &SignedMessage<'_>) -> Result<Option<Parsed>, InputError> {
        let (signer, signature) = match (message.signer, message.signature) {
            (None, None) => return Ok(None),
            (Some(signer), Some(signature)) => (signer, signature),
            (Some(_), None) => {
                return Err(bad_signature(format!(
                    "it names a signer in {SIGNER_HEADER} but has no {SIGNATURE_HEADER}"
                )));
            }
            (None, Some(_)) => {
                return Err(bad_signature(format!(
                    "it has a {SIGNATURE_HEADER} but names no signer in {SIGNER_HEADER}"
                )));
            }
        };
        let bytes = data_encoding::BASE64URL_NOPAD
            .decode(signature.as_bytes())
            .map_err(|e| {
                bad_signature(format!(
                    "{SIGNATURE_HEADER} is not unpadded URL-safe base64: {e}"
                ))
            })?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            bad_signature(format!(
                "{SIGNATURE_HEADER} holds {} bytes; an Ed25519 signature is 64",
                bytes.len()
            ))
        })?;
        let (key, a, a_bytes) = self
            .key(signer)
            .map_err(|e| bad_signature(format!("{SIGNER_HEADER}: {e}")))?;
        let not_a_signature =
            || bad_signature(format!("{SIGNATURE_HEADER} is not an Ed25519 signature"));
        let r_bytes: [u8; 32] = bytes[..32].try_into().expect("half of 64 bytes");
        let s_bytes: [u8; 32] = bytes[32..].try_into().expect("half of 64 bytes");
        let r = CompressedEdwardsY(r_bytes)
            .decompress()
            .ok_or_else(not_a_signature)?;
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))
            .ok_or_else(not_a_signature)?;
        let mut hash = Sha512::new();
        hash.update(r_bytes);
        hash.update(a_bytes);
        hash.update(message.subject.as_bytes());
        hash.update(b"\n");
        hash.update(message.payload);
        let k = Scalar::from_bytes_mod_order_wide(&hash.finalize().into());
        Ok(Some(Parsed {
            key,
            a,
            a_bytes,
            r,
            r_bytes,
            s,
            k,
        }))
    }

    /// `signer`'s key, decoded once.
    fn key(&mut self, signer: &str) -> Result<(PublicKey, EdwardsPoint, [u8; 32]), String> {
        if let Some(known) = self.keys.get(signer) {
            return Ok(known.clone());
        }
        let (point, bytes) = decode_nkey(signer)?;
        if self.keys.len() >= CHECKER_KEYS_MAX {
            self.keys.clear();
        }
        let known = (PublicKey(signer.to_string()), point, bytes);
        self.keys.insert(signer.to_string(), known.clone());
        Ok(known)
    }
}

fn bad_signature(detail: String) -> InputError {
    InputError {
        kind: InputErrorKind::BadSignature,
        detail,
    }
}

/// Whether every signature meets the cofactored equation, checked as one
/// random linear combination of them. The coefficients are derived from a
/// hash of all the signatures, so no signer can choose them, and the answer
/// is that of each equation alone but with negligible probability.
fn holds(signatures: &[&Parsed]) -> bool {
    match signatures {
        [] => return true,
        // One alone: the double-base multiplication is the quicker way.
        [one] => {
            let ka_minus_sb =
                EdwardsPoint::vartime_double_scalar_mul_basepoint(&one.k, &one.a, &-one.s);
            return (ka_minus_sb + one.r).mul_by_cofactor().is_identity();
        }
        _ => {}
    }
    let coefficients = coefficients(signatures);
    let mut scalars = Vec::with_capacity(2 * signatures.len() + 1);
    let mut points = Vec::with_capacity(2 * signatures.len() + 1);
    let mut s_sum = Scalar::ZERO;
    for (p, z) in signatures.iter().zip(&coefficients) {
        scalars.push(*z);
        points.push(p.r);
        scalars.push(z * p.k);
        points.push(p.a);
        s_sum += z * p.s;
    }
    scalars.push(-s_sum);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

/// The coefficient of each signature in [`holds`]: 128 bits of a hash of
/// every signature and its position.
fn coefficients(signatures: &[&Parsed]) -> Vec<Scalar> {
    let mut transcript = Sha512::new();
    transcript.update(b"rota signature batch v1");
    for p in signatures {
        transcript.update(p.r_bytes);
        transcript.update(p.a_bytes);
        transcript.update(p.k.as_bytes());
        transcript.update(p.s.as_bytes());
    }
    let seed = transcript.finalize();
    (0..signatures.len() as u64)
        .map(|index| {
            let mut hash = Sha512::new();
            hash.update(seed);
            hash.update(index.to_le_bytes());
            let digest = hash.finalize();
            let low: [u8; 16] = digest[..16].try_into().expect("a digest is 64 bytes");
            Scalar::from(u128::from_le_bytes(low))
        })
        .collect()
}

/// Decodes an NKey user public key into its Ed25519 key.
fn decode_nkey(text: &str) -> Result<(EdwardsPoint, [u8; 32]), String> {
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
    let point = CompressedEdwardsY(key)
        .decompress()
        .ok_or_else(|| wrong("it is not an Ed25519 key"))?;
    // A key of small order would meet the cofactored equation for any
    // message: it could sign nothing.
    if point.is_small_order() {
        return Err(wrong("it is a weak key of small order"));
    }
    Ok((point, key))
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

    use ed25519_dalek::{Signer, SigningKey};

    /// A key and the text of its signature over `subject` and `payload`.
    fn signed(n: u8, subject: &str, payload: &[u8]) -> (String, String) {
        let key = SigningKey::from_bytes(&[n; 32]);
        let public = PublicKey::from_ed25519(key.verifying_key().to_bytes());
        let signature = key.sign(&signed_message(subject, payload)).to_bytes();
        (public.to_string(), signature_text(&signature))
    }

    #[test]
    fn signatures_hold_alone_and_in_a_batch_and_a_bad_one_is_found_in_it() {
        let payloads: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 40]).collect();
        let mut headers: Vec<(String, String)> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| signed(i as u8 % 3 + 1, "rota.c.node.n1.registered", p))
            .collect();
        // The fourth carries the fifth's signature.
        headers[3].1 = headers[4].1.clone();
        let messages: Vec<SignedMessage<'_>> = payloads
            .iter()
            .zip(&headers)
            .map(|(payload, (signer, signature))| SignedMessage {
                subject: "rota.c.node.n1.registered",
                payload,
                signer: Some(signer),
                signature: Some(signature),
            })
            .collect();
        let together = SignatureChecker::default().check_all(&messages);
        let alone: Vec<_> = messages
            .iter()
            .map(|m| check_signature(m.subject, m.payload, m.signer, m.signature))
            .collect();
        assert_eq!(together, alone, "a batch decides as its messages alone do");
        for (i, result) in together.iter().enumerate() {
            assert_eq!(result.is_ok(), i != 3, "message {i}: {result:?}");
        }
    }

    #[test]
    fn a_key_of_small_order_is_refused() {
        // The identity point, whose encoding is 1 followed by zeros.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = PublicKey::from_ed25519(identity);
        let error = PublicKey::parse(weak.as_str()).unwrap_err();
        assert!(error.contains("small order"), "{error}");
    }

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
