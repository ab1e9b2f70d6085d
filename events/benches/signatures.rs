//! What checking signatures costs a reader: `cargo bench -p rota-events
//! --bench signatures`.
//!
//! 4,096 agent reports of realistic size, each signed by one of 16 keys,
//! are checked one by one and in batches of 64 (what a reader takes when
//! messages are ready), and signed. Reported: microseconds per message, the
//! median of `ROTA_BENCH_RUNS` runs (default 5). The machine is shared:
//! compare within one invocation.

// A benchmark measures wall time and reads its settings from the
// environment: it is a shell around the core, not part of it.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use ed25519_dalek::{Signer, SigningKey};
use rota_events::{
    PublicKey, SignatureChecker, SignedMessage, check_signature, signature_text, signed_message,
};
use std::time::Instant;

const MESSAGES: usize = 4_096;
const KEYS: u8 = 16;
const BATCH: usize = 64;
const SUBJECT: &str = "rota.default.job.acme.j-000123.finished.node-00042";

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("ROTA_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let keys: Vec<SigningKey> = (1..=KEYS)
        .map(|n| SigningKey::from_bytes(&[n; 32]))
        .collect();
    let payloads: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|i| format!("{i:0>180}").into_bytes())
        .collect();
    let mut sign_us = Vec::new();
    let mut headers = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        headers = payloads
            .iter()
            .enumerate()
            .map(|(i, payload)| {
                let key = &keys[i % keys.len()];
                let signature = key.sign(&signed_message(SUBJECT, payload)).to_bytes();
                let public = PublicKey::from_ed25519(key.verifying_key().to_bytes());
                (public.to_string(), signature_text(&signature))
            })
            .collect();
        sign_us.push(started.elapsed().as_secs_f64() * 1e6 / MESSAGES as f64);
    }
    let messages: Vec<SignedMessage<'_>> = payloads
        .iter()
        .zip(&headers)
        .map(|(payload, (signer, signature))| SignedMessage {
            subject: SUBJECT,
            payload,
            signer: Some(signer),
            signature: Some(signature),
        })
        .collect();
    let (mut alone_us, mut cached_us, mut batch_us) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        for m in &messages {
            assert!(check_signature(m.subject, m.payload, m.signer, m.signature).is_ok());
        }
        alone_us.push(started.elapsed().as_secs_f64() * 1e6 / MESSAGES as f64);
        let mut checker = SignatureChecker::default();
        let started = Instant::now();
        for m in &messages {
            assert!(
                checker
                    .check(m.subject, m.payload, m.signer, m.signature)
                    .is_ok()
            );
        }
        cached_us.push(started.elapsed().as_secs_f64() * 1e6 / MESSAGES as f64);
        let mut checker = SignatureChecker::default();
        let started = Instant::now();
        for chunk in messages.chunks(BATCH) {
            assert!(checker.check_all(chunk).iter().all(Result::is_ok));
        }
        batch_us.push(started.elapsed().as_secs_f64() * 1e6 / MESSAGES as f64);
    }
    println!("signatures: {MESSAGES} messages, {KEYS} keys, median of {runs} runs");
    println!(
        "  sign (ed25519-dalek)                  {:7.1} us/message",
        median(sign_us)
    );
    println!(
        "  check alone, key decoded each time    {:7.1} us/message",
        median(alone_us)
    );
    println!(
        "  check alone, keys kept decoded        {:7.1} us/message",
        median(cached_us)
    );
    println!(
        "  check in batches of {BATCH}               {:7.1} us/message",
        median(batch_us)
    );
}
