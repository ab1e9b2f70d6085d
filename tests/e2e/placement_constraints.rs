//! The placement engine over real JetStream: labels, taints, GPU models and
//! shares, extended resources, scoring, anti-affinity between jobs and
//! topology spread decide where jobs land, an unplaceable job is explained,
//! and replay re-derives every decision.

use rota_events::*;
use rota_projections::JobState;
use rota_testkit::{CELL, TestBed, assert_replay_clean};
use std::collections::BTreeMap;
use std::sync::Arc;

fn node(name: &str, registered: NodeRegistered) -> Event {
    let body = Body::NodeRegistered(NodeRegistered {
        node: name.into(),
        ..registered
    });
    Event::new(format!("reg-{name}"), CELL, body)
}

fn job(id: &str, resources: Resources, constraints: Constraints) -> Event {
    let body = Body::JobSubmitted(Arc::new(JobSubmitted {
        job: id.into(),
        resources,
        constraints,
        ..Default::default()
    }));
    Event::new(id, CELL, body).with_tenant("acme")
}

/// Jobs labelled `app=web`.
fn web_jobs() -> JobSelector {
    JobSelector {
        match_labels: BTreeMap::from([("app".into(), "web".into())]),
        ..Default::default()
    }
}

fn cpu(cpu_milli: u64) -> Resources {
    Resources {
        cpu_milli,
        memory_bytes: 1 << 30,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraints_decide_placement_over_nats_and_replay_agrees() {
    let mut bed = TestBed::start().await;
    bed.run_services(false);
    let big = Resources {
        cpu_milli: 32_000,
        memory_bytes: 64 << 30,
        gpus: 2,
        gpu_milli: 0,
    };
    bed.submit(&[
        node(
            "cpu-a",
            NodeRegistered {
                capacity: Resources { gpus: 0, ..big },
                labels: BTreeMap::from([("zone".into(), "z1".into())]),
                cost: 1,
                ..Default::default()
            },
        ),
        node(
            "gpu-t4",
            NodeRegistered {
                capacity: big,
                gpu_model: Some("T4".into()),
                labels: BTreeMap::from([("zone".into(), "z2".into())]),
                cost: 5,
                ..Default::default()
            },
        ),
        node(
            "gpu-a100",
            NodeRegistered {
                capacity: big,
                gpu_model: Some("A100".into()),
                taints: vec![Taint {
                    key: "dedicated".into(),
                    value: "ml".into(),
                    effect: TaintEffect::NoSchedule,
                }],
                extended: BTreeMap::from([("fpga".into(), 1)]),
                cost: 9,
                ..Default::default()
            },
        ),
    ])
    .await;
    let ml = vec![Toleration {
        key: "dedicated".into(),
        value: None,
        effect: None,
    }];
    let in_z2 = Constraints {
        node_selector: BTreeMap::from([("zone".into(), "z2".into())]),
        ..Default::default()
    };
    let a100 = Constraints {
        gpu_model: Some("A100".into()),
        tolerations: ml.clone(),
        ..Default::default()
    };
    let fpga = Constraints {
        extended: BTreeMap::from([("fpga".into(), 1)]),
        tolerations: ml,
        ..Default::default()
    };
    let share = Resources {
        gpu_milli: 250,
        ..cpu(500)
    };
    bed.submit(&[
        job("plain", cpu(1000), Constraints::default()),
        job("zoned", cpu(1000), in_z2),
        job(
            "trainer",
            Resources {
                gpus: 2,
                ..cpu(4000)
            },
            a100.clone(),
        ),
        job("notebook-1", share, Constraints::default()),
        job("notebook-2", share, Constraints::default()),
        job("fpga", cpu(500), fpga),
        job(
            "no-room",
            Resources {
                gpus: 1,
                ..cpu(1000)
            },
            a100,
        ),
    ])
    .await;
    let state = bed
        .wait_for("six jobs bound and one pending", |s| {
            s.jobs.len() == 7
                && s.jobs
                    .values()
                    .filter(|j| j.state == JobState::Bound)
                    .count()
                    == 6
                && s.jobs
                    .get("no-room")
                    .is_some_and(|j| j.state == JobState::Pending)
        })
        .await;
    let node_of = |id: &str| state.jobs[id].node.clone().unwrap();
    assert_eq!(node_of("plain"), "cpu-a", "the cheapest node that fits");
    assert_eq!(node_of("zoned"), "gpu-t4");
    assert_eq!(node_of("trainer"), "gpu-a100");
    assert_eq!(node_of("fpga"), "gpu-a100");
    assert_eq!(
        node_of("notebook-1"),
        "gpu-t4",
        "untolerated taint keeps shares off the A100 node"
    );
    assert_eq!(
        state.jobs["notebook-1"].gpu_devices, state.jobs["notebook-2"].gpu_devices,
        "shares pack onto one device"
    );
    let explanation = rota_placement::explain(&state, "no-room").unwrap();
    assert_eq!(
        explanation.summary(),
        "0/3 nodes fit: 2 gpu model is not A100, 1 insufficient gpus"
    );
    assert!(
        explanation.reservation.is_some(),
        "it waits for the trainer's GPUs"
    );

    // Replicas that must not share a node, and a spread over zones: each
    // replica lands on its own node, in one round or several, and the one
    // too many waits with the reason.
    let replica = |id: &str| {
        let body = Body::JobSubmitted(Arc::new(JobSubmitted {
            job: id.into(),
            resources: cpu(100),
            labels: BTreeMap::from([("app".into(), "web".into())]),
            constraints: Constraints {
                tolerations: vec![Toleration {
                    key: "dedicated".into(),
                    value: None,
                    effect: None,
                }],
                job_anti_affinity: JobAffinity {
                    required: vec![JobAffinityTerm {
                        selector: web_jobs(),
                        topology_key: TOPOLOGY_NODE.into(),
                    }],
                    preferred: vec![],
                },
                topology_spread: vec![TopologySpread {
                    topology_key: TOPOLOGY_ZONE.into(),
                    max_skew: 1,
                    selector: JobSelector::default(),
                    when_unsatisfiable: WhenUnsatisfiable::ScheduleAnyway,
                }],
                ..Default::default()
            },
            ..Default::default()
        }));
        Event::new(id, CELL, body).with_tenant("web-team")
    };
    bed.submit(&[
        replica("web-1"),
        replica("web-2"),
        replica("web-3"),
        replica("web-4"),
    ])
    .await;
    let state = bed
        .wait_for("three web replicas bound and the fourth admitted", |s| {
            let admitted = s
                .jobs
                .get("web-4")
                .is_some_and(|j| j.admitted_seq.is_some());
            admitted
                && ["web-1", "web-2", "web-3"]
                    .iter()
                    .all(|id| s.jobs.get(*id).is_some_and(|j| j.state == JobState::Bound))
        })
        .await;
    let mut nodes: Vec<String> = ["web-1", "web-2", "web-3"]
        .iter()
        .map(|id| state.jobs[*id].node.clone().unwrap())
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["cpu-a", "gpu-a100", "gpu-t4"]);
    assert_eq!(state.jobs["web-4"].state, JobState::Pending);
    assert_eq!(
        rota_placement::explain(&state, "web-4").unwrap().summary(),
        "0/3 nodes fit: 3 job anti-affinity app=web per node"
    );

    // A sidecar must share a node with a web replica; the web replicas'
    // anti-affinity selects only web jobs, so it does not repel it.
    let sidecar = Body::JobSubmitted(Arc::new(JobSubmitted {
        job: "sidecar".into(),
        resources: cpu(100),
        labels: BTreeMap::from([("app".into(), "sidecar".into())]),
        constraints: Constraints {
            node_selector: BTreeMap::from([("zone".into(), "z2".into())]),
            job_affinity: JobAffinity {
                required: vec![JobAffinityTerm {
                    selector: web_jobs(),
                    topology_key: TOPOLOGY_NODE.into(),
                }],
                preferred: vec![],
            },
            ..Default::default()
        },
        ..Default::default()
    }));
    bed.submit(&[Event::new("sidecar", CELL, sidecar).with_tenant("web-team")])
        .await;
    let state = bed
        .wait_for("the sidecar bound", |s| {
            s.jobs
                .get("sidecar")
                .is_some_and(|j| j.state == JobState::Bound)
        })
        .await;
    assert_eq!(state.jobs["sidecar"].node.as_deref(), Some("gpu-t4"));
    assert_replay_clean(&bed.entries().await);
}
