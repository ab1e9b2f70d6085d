//! Any bytes, read as messages of the cell's log, decode to an event or to
//! an input error and fold into a state without a panic: nothing a client
//! publishes can stop a service or poison its restarts.
//!
//! The input is split at each `0xFF 0x00` pair into messages. A message's
//! first byte picks its encoding (odd: JSON) and its subject (one of the
//! cell's subject shapes, or the one its own fields determine); the rest is
//! the payload. A selector of 0x80 or more also reads signature headers from
//! the payload's first two lines (signer, then signature), checked as every
//! reader checks them. The messages fold, in order, into a cell that already has a
//! node, a lease and a pending job, so that decisions and reports about them
//! are reached.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rota_events::{Encoding, InputErrorKind, SignatureChecker, decode, encode};
use rota_projections::{CellState, LogEntry};

/// Subjects a message may arrive on, whatever it holds.
const SUBJECTS: [&str; 8] = [
    "rota.default.job.acme.j1.submitted",
    "rota.default.job.acme.j1.bound.n1",
    "rota.default.job.acme.j1.finished.n1",
    "rota.default.node.n1.registered",
    "rota.default.lease.placement",
    "rota.default.policy.set",
    "rota.default.tenants.set",
    "rota.default.input.rejected",
];

/// Most messages one input folds: enough for any sequence that matters.
const MESSAGES_MAX: usize = 64;

fuzz_target!(|data: &[u8]| {
    let mut state: CellState = baseline::cell();
    let mut seq = state.applied_seq;
    let mut checker = SignatureChecker::default();
    for message in data.split(|b| *b == 0xFF).take(MESSAGES_MAX) {
        let Some((&selector, payload)) = message.split_first() else {
            continue;
        };
        let (headers, payload) = match selector >= 0x80 {
            true => signature_headers(payload),
            false => ((None, None), payload),
        };
        let encoding = if selector % 2 == 1 {
            Encoding::Json
        } else {
            Encoding::MessagePack
        };
        let subject = match SUBJECTS.get(usize::from(selector / 2) % (SUBJECTS.len() + 1)) {
            Some(subject) => subject.to_string(),
            // Its own subject, so that decoding gets past the subject check.
            None => own_subject(encoding, payload),
        };
        let (event, signer) = match checker.check(&subject, payload, headers.0, headers.1) {
            Ok(signer) => (decode(&subject, encoding, payload), signer),
            Err(error) => (Err(error), None),
        };
        if let Ok(event) = &event {
            // Whatever decodes encodes again.
            let _ = encode(event);
        }
        seq += 1;
        state.apply(&LogEntry {
            seq,
            time_ms: 1_000 + seq * 100,
            subject,
            event,
            signer,
        });
    }
});

/// The signer and signature lines at the start of `payload`, and the rest.
fn signature_headers(payload: &[u8]) -> ((Option<&str>, Option<&str>), &[u8]) {
    let mut lines = payload.splitn(3, |b| *b == b'\n');
    let signer = lines.next().and_then(|l| std::str::from_utf8(l).ok());
    let signature = lines.next().and_then(|l| std::str::from_utf8(l).ok());
    let rest = lines.next().unwrap_or_default();
    ((signer, signature), rest)
}

/// The subject a payload's own fields determine, as the decoder's
/// subject-mismatch detail names it, or an empty one.
fn own_subject(encoding: Encoding, payload: &[u8]) -> String {
    match decode("?", encoding, payload) {
        Err(error) if error.kind == InputErrorKind::SubjectMismatch => error
            .detail
            .split('"')
            .nth(1)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

#[path = "../baseline.rs"]
mod baseline;
