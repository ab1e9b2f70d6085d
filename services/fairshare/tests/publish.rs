//! When the fair-share service publishes, as given/when/then: at once for
//! a significant change, otherwise once the interval has passed, and never
//! twice for the same factors.

use rota_events::*;
use rota_fairshare::FairShare;
use rota_projections::{Decider, LogEntry, ServiceCore};
use std::sync::Arc;

struct Cell {
    core: FairShare,
    seq: u64,
}

impl Cell {
    fn new() -> Cell {
        let mut cell = Cell {
            core: FairShare::new("default"),
            seq: 0,
        };
        for service in ["admission", "placement", "fairshare"] {
            cell.push_at(
                Event::new(
                    format!("l-{service}"),
                    "default",
                    Body::LeaseClaimed(LeaseClaimed {
                        service: service.into(),
                        epoch: 1,
                        holder: "t".into(),
                    }),
                ),
                0,
            );
        }
        cell
    }

    fn push_at(&mut self, event: Event, time_ms: u64) {
        self.seq += 1;
        let entry = LogEntry {
            seq: self.seq,
            time_ms,
            subject: event.subject(),
            event: Ok(event),
            signer: None,
        };
        self.core.apply(&entry);
    }

    fn decision(&mut self, service: &str, body: Body, tenant: &str, time_ms: u64) {
        let mut event = Event::new(format!("d{}", self.seq), "default", body).with_tenant(tenant);
        event.round = Some(RoundTag {
            service: service.into(),
            epoch: 1,
            basis: self.seq,
            index: 0,
            size: 1,
        });
        self.push_at(event, time_ms);
    }

    /// Decides a round and applies it back; returns the factors published.
    fn round(&mut self, time_ms: u64) -> Vec<(String, u32)> {
        let round = self.core.decide(1);
        let mut published = Vec::new();
        for event in round {
            if let Body::FairShareUpdated(update) = &event.body {
                published.extend(update.factors.clone());
            }
            self.push_at(event, time_ms);
        }
        published
    }
}

#[test]
fn publishes_significant_changes_at_once_and_the_rest_on_its_cadence() {
    let mut cell = Cell::new();
    let config = TenantConfig {
        fair_share: FairSharePolicy {
            half_life_s: 3600,
            update_interval_s: 60,
            significant_change: 100,
            ..Default::default()
        },
        tenants: vec![TenantNode::leaf("a", 1), TenantNode::leaf("b", 1)],
        ..Default::default()
    };
    cell.push_at(
        Event::new("t", "default", Body::TenantsSet(TenantsSet { config })),
        0,
    );
    // Nothing used yet: both at 1000, which differs from the neutral 500
    // by more than the significant change.
    assert_eq!(
        cell.round(0),
        [("a".to_string(), 1000), ("b".to_string(), 1000)]
    );
    assert!(
        cell.round(0).is_empty(),
        "the same factors are not published twice"
    );
    // Tenant a runs a job: its factor falls as its usage grows.
    cell.push_at(
        Event::new(
            "n",
            "default",
            Body::NodeRegistered(NodeRegistered {
                node: "n".into(),
                capacity: Resources {
                    cpu_milli: 64_000,
                    memory_bytes: 1 << 40,
                    ..Default::default()
                },
                ..Default::default()
            }),
        ),
        0,
    );
    cell.push_at(
        Event::new(
            "j",
            "default",
            Body::JobSubmitted(Arc::new(JobSubmitted {
                job: "j".into(),
                resources: Resources {
                    cpu_milli: 64_000,
                    memory_bytes: 1,
                    ..Default::default()
                },
                ..Default::default()
            })),
        )
        .with_tenant("a"),
        0,
    );
    cell.decision(
        "admission",
        Body::JobAdmitted(JobAdmitted { job: "j".into() }),
        "a",
        0,
    );
    cell.decision(
        "placement",
        Body::JobBound(JobBound {
            job: "j".into(),
            node: "n".into(),
            resources: Resources {
                cpu_milli: 64_000,
                memory_bytes: 1,
                ..Default::default()
            },
            ..Default::default()
        }),
        "a",
        0,
    );
    // Ten seconds on, a is the only user: its classic factor is
    // 2^(-1/0.5) = 250, a significant change, published at once; b's is
    // unchanged and not repeated.
    cell.push_at(
        Event::new(
            "tick1",
            "default",
            Body::ClockTick(ClockTick { after_seq: 1 }),
        ),
        10_000,
    );
    assert_eq!(cell.round(10_000), [("a".to_string(), 250)]);
    // A quiet spell shorter than the interval publishes nothing.
    cell.push_at(
        Event::new(
            "tick2",
            "default",
            Body::ClockTick(ClockTick { after_seq: 2 }),
        ),
        40_000,
    );
    assert!(cell.round(40_000).is_empty());
    assert_eq!(
        rota_fairshare::FairShareRules.next_wake_ms(cell.core.state()),
        Some(70_000)
    );
}
