//! Replay verification catches a core whose decisions depend on something
//! other than the log, and names the event, the service and the field.

use rota_events::{Body, Event};
use rota_placement::Placement;
use rota_projections::{CellState, JobState, ServiceCore};
use rota_shell::service::ServiceConfig;
use rota_testkit::{CELL, TestBed, job, small};
use std::sync::atomic::{AtomicU64, Ordering};

/// Placement that rotates its node choice by how often it has been asked:
/// a hidden input that replay cannot see.
struct Forgetful {
    inner: Placement,
    calls: AtomicU64,
}

impl Forgetful {
    fn new() -> Forgetful {
        Forgetful {
            inner: Placement::new(CELL),
            calls: AtomicU64::new(0),
        }
    }
}

impl ServiceCore for Forgetful {
    fn service(&self) -> &str {
        self.inner.service()
    }
    fn state(&self) -> &CellState {
        self.inner.state()
    }
    fn state_mut(&mut self) -> &mut CellState {
        self.inner.state_mut()
    }
    fn decide(&self, epoch: u64) -> Vec<Event> {
        let calls = self.calls.fetch_add(1, Ordering::Relaxed);
        let nodes: Vec<&String> = self.state().nodes.keys().collect();
        let mut round = self.inner.decide(epoch);
        for (i, event) in round.iter_mut().enumerate() {
            if let Body::JobBound(bound) = &mut event.body {
                bound.node = nodes[(calls as usize + i) % nodes.len()].clone();
            }
        }
        round
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_names_the_event_service_and_field_of_a_nondeterministic_decision() {
    let mut bed = TestBed::start().await;
    let admission = rota_replay::standard_core(CELL, "admission").unwrap();
    bed.run_core(admission, ServiceConfig::new("admission-test"));
    bed.run_core(
        Box::new(Forgetful::new()),
        ServiceConfig::new("placement-forgetful"),
    );
    let mut big = small();
    big.cpu_milli = 64;
    bed.register_nodes(
        5,
        rota_events::Resources {
            cpu_milli: 1_000_000,
            memory_bytes: 1 << 40,
            gpus: 0,
            ..Default::default()
        },
    )
    .await;
    for batch in 0..5 {
        let jobs: Vec<Event> = (0..4)
            .map(|i| job("acme", &format!("j{batch}-{i}"), big, &[]))
            .collect();
        bed.submit(&jobs).await;
        bed.wait_for("the batch to be bound", |s| {
            s.jobs.len() == (batch + 1) * 4 && s.jobs.values().all(|j| j.state == JobState::Bound)
        })
        .await;
    }
    let entries = bed.entries().await;

    let report = rota_replay::verify(&entries, &|service| match service {
        "placement" => Some(Box::new(Forgetful::new())),
        other => rota_replay::standard_core(CELL, other),
    });
    let mismatch = report
        .mismatches
        .first()
        .expect("replay must catch the hidden input");
    assert_eq!(mismatch.service, "placement");
    assert_eq!(mismatch.field, "data.node");
    let seq = mismatch.seq.expect("a recorded event");
    assert!(matches!(
        &entries.iter().find(|e| e.seq == seq).unwrap().event,
        Ok(Event {
            body: Body::JobBound(_),
            ..
        })
    ));

    // The command says the same, and fails.
    let output = bed.rota(
        env!("CARGO_BIN_EXE_rota"),
        &rota_shell::access::Identity::Auditor,
        &["replay", "verify"],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("MISMATCH event at sequence"), "{text}");
    assert!(text.contains("service placement"), "{text}");
    assert!(text.contains("field data.node"), "{text}");
}
