//! The cell a fuzzed message folds into: leases for admission and
//! placement, a registered node and a pending job, so that decisions,
//! reports and cancellations about them reach the fold's deeper checks.

use rota_events::{
    Body, Event, JobAdmitted, JobSubmitted, LeaseClaimed, NodeRegistered, Resources, RoundTag,
};
use rota_projections::{CellState, LogEntry};
use std::sync::Arc;

pub fn cell() -> CellState {
    let resources = Resources {
        cpu_milli: 1_000,
        memory_bytes: 1 << 30,
        gpus: 1,
        gpu_milli: 0,
    };
    let lease = |service: &str| {
        Event::new(
            format!("lease-{service}"),
            "default",
            Body::LeaseClaimed(LeaseClaimed {
                service: service.into(),
                epoch: 1,
                holder: "baseline".into(),
            }),
        )
    };
    let mut admitted = Event::new(
        "admitted-j1",
        "default",
        Body::JobAdmitted(JobAdmitted { job: "j1".into() }),
    )
    .with_tenant("acme");
    admitted.round = Some(RoundTag {
        service: "admission".into(),
        epoch: 1,
        basis: 4,
        index: 0,
        size: 1,
    });
    let events = [
        lease("admission"),
        lease("placement"),
        Event::new(
            "node-n1",
            "default",
            Body::NodeRegistered(NodeRegistered {
                node: "n1".into(),
                capacity: Resources {
                    cpu_milli: 4_000,
                    memory_bytes: 8 << 30,
                    gpus: 2,
                    gpu_milli: 0,
                },
                ..Default::default()
            }),
        ),
        Event::new(
            "submit-j1",
            "default",
            Body::JobSubmitted(Arc::new(JobSubmitted {
                job: "j1".into(),
                resources,
                ..Default::default()
            })),
        )
        .with_tenant("acme"),
        admitted,
    ];
    let mut state = CellState::new("default");
    for (index, event) in events.into_iter().enumerate() {
        let seq = index as u64 + 1;
        state.apply(&LogEntry {
            seq,
            time_ms: seq * 100,
            subject: event.subject(),
            event: Ok(event),
            signer: None,
        });
    }
    state
}
