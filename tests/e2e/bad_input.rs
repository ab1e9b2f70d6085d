//! Malformed, oversized, unknown-version and otherwise unusable inputs each
//! produce an `input.rejected` event saying what was wrong, and the services
//! keep working.

use async_nats::HeaderMap;
use rota_events::{Body, EVENT_BYTES_MAX, Event};
use rota_projections::JobState;
use rota_testkit::{TestBed, assert_replay_clean, job, small};
use std::collections::BTreeMap;

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("Content-Type", "application/json");
    headers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_answered_with_a_rejection_and_nothing_crashes() {
    let mut bed = TestBed::start().await;
    bed.run_services(false);
    let submitted = "rota.default.job.acme.bad.submitted";
    let huge = format!(
        r#"{{"id":"big","type":"job.submitted","v":2,"cell":"default","tenant":"acme","data":{{"job":"bad","name":"{}","resources":{{"cpu_milli":1}}}}}}"#,
        "x".repeat(EVENT_BYTES_MAX)
    );
    let cases: Vec<(&str, HeaderMap, Vec<u8>, &str)> = vec![
        (submitted, HeaderMap::new(), vec![0xc1, 0xff, 0x00], "malformed"),
        (submitted, json_headers(), huge.into_bytes(), "oversized"),
        (
            submitted,
            json_headers(),
            br#"{"id":"v9","type":"job.submitted","v":9,"cell":"default","tenant":"acme","data":{}}"#.to_vec(),
            "unknown_version",
        ),
        (
            submitted,
            json_headers(),
            br#"{"id":"t1","type":"job.teleported","v":1,"cell":"default","tenant":"acme","data":{}}"#.to_vec(),
            "unknown_type",
        ),
        (
            submitted,
            json_headers(),
            br#"{"id":"m1","type":"job.submitted","v":2,"cell":"default","tenant":"acme","data":{"job":"other","resources":{"cpu_milli":1}}}"#.to_vec(),
            "subject_mismatch",
        ),
        ("rota.default.node.n1.registered", HeaderMap::new(), b"hello".to_vec(), "malformed"),
        (
            "rota.default.job.acme.forged.bound.n1",
            json_headers(),
            br#"{"id":"f1","type":"job.bound","v":1,"cell":"default","tenant":"acme","data":{"job":"forged","node":"n1","resources":{}}}"#.to_vec(),
            "invalid_request",
        ),
        (
            "rota.default.job.acme.ghost.cancel_requested",
            json_headers(),
            br#"{"id":"c1","type":"job.cancel_requested","v":1,"cell":"default","tenant":"acme","data":{"job":"ghost"}}"#.to_vec(),
            "invalid_request",
        ),
    ];
    let mut expected: BTreeMap<u64, &str> = BTreeMap::new();
    for (subject, headers, payload, kind) in cases {
        // Each through the part whose permissions allow its subject: a bad
        // input is what a writer may write and still get wrong.
        let writer = if subject.contains(".bound.") {
            &bed.services
        } else if subject.contains(".node.") {
            &bed.fleet
        } else {
            &bed.gateway
        };
        let seq = writer
            .publish_raw(subject, headers, payload)
            .await
            .expect("stored");
        expected.insert(seq, kind);
    }
    // A job that breaks a limit is rejected with a reason; a good one is admitted.
    let mut zero = small();
    zero.cpu_milli = 0;
    bed.submit(&[
        job("acme", "no-cpu", zero, &[]),
        job("acme", "fine", small(), &[]),
    ])
    .await;

    let state = bed
        .wait_for("every rejection and both admission decisions", |s| {
            s.backlog.is_empty()
                && s.cancel_requests.is_empty()
                && s.jobs
                    .get("fine")
                    .is_some_and(|j| j.state == JobState::Pending)
                && s.jobs
                    .get("no-cpu")
                    .is_some_and(|j| j.state == JobState::Rejected)
        })
        .await;
    let reason = state.jobs["no-cpu"].reason.clone().unwrap();
    assert!(reason.contains("resources.cpu_milli is 0"), "{reason}");
    assert!(reason.contains("1 to 1024000"), "{reason}");

    let entries = bed.entries().await;
    let mut rejected: BTreeMap<u64, String> = BTreeMap::new();
    for entry in &entries {
        if let Ok(Event {
            body: Body::InputRejected(r),
            ..
        }) = &entry.event
        {
            assert!(!r.detail.is_empty());
            rejected.insert(r.seq, r.kind.clone());
        }
    }
    let expected: BTreeMap<u64, String> = expected
        .into_iter()
        .map(|(s, k)| (s, k.to_string()))
        .collect();
    assert_eq!(
        rejected, expected,
        "one rejection per bad input, of the right kind"
    );
    assert_replay_clean(&entries);
}
