//! Any bytes, read as messages of the cell's log, decode to an event or to
//! an input error and fold into a state without a panic: nothing a client
//! publishes can stop a service or poison its restarts.
//!
//! The input is split at each `0xFF 0x00` pair into messages. A message's
//! first byte picks its encoding (odd: JSON) and its subject (one of the
//! cell's subject shapes, or the one its own fields determine); the rest is
//! the payload. The messages fold, in order, into a cell that already has a
//! node, a lease and a pending job, so that decisions and reports about them
//! are reached.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rota_events::{Encoding, InputErrorKind, decode, encode};
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
    for message in data.split(|b| *b == 0xFF).take(MESSAGES_MAX) {
        let Some((&selector, payload)) = message.split_first() else {
            continue;
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
        let event = decode(&subject, encoding, payload);
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
        });
    }
});

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
