//! Forged events that a client writes into the log have no effect on the
//! fold, and `rota status` says so: through the real services, a job that
//! selects a zone no node is in waits; a client then writes a binding for it
//! onto a node it forbids (with placement's current epoch copied, so it is
//! not fenced), a binding from a stale epoch, and a start report from a node
//! it is not bound to. The job stays pending, no node holds anything, and
//! its story marks each forged event void, fenced or refused; replay
//! verification flags the forged round. A forged cancellation kills
//! nothing, and a forged registration of a served node is undone by its
//! agent.

use rota_events::{
    Body, Event, JobCancelled, JobStarted, NodeRegistered, Outcome, Resources, Taint, TaintEffect,
};
use rota_projections::{Draft, JobState, seal_round};
use rota_shell::nodes::{SimRunner, run_nodes};
use rota_testkit::forgeries::{binding, running_victim, victim_succeeds, waiting_job};
use rota_testkit::{CELL, TestBed, job, run_rota, sim_fleet, small, small_job};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_decisions_and_reports_have_no_effect_and_status_says_why() {
    let binary = env!("CARGO_BIN_EXE_rota");
    // Injected past the server: permissions would refuse every one of these.
    let mut bed = TestBed::start_without_authorization().await;
    bed.run_named(&["admission", "placement"]);
    bed.register_nodes(2, small()).await;
    let state = waiting_job(&bed, "acme", "j1").await;
    let epoch = state.lease_epoch("placement");
    let binding = |node: &str| binding("acme", "j1", node);
    let onto_forbidden = seal_round(&state, "placement", epoch, vec![binding("node-00000")]);
    let forged_seq = bed.log.publish_round(&onto_forbidden).await.unwrap();
    let stale = seal_round(&state, "placement", epoch - 1, vec![binding("node-00001")]);
    let stale_seq = bed.log.publish_round(&stale).await.unwrap();
    let report = Event::new(
        "forged-start",
        CELL,
        Body::JobStarted(JobStarted {
            job: "j1".into(),
            node: "node-00001".into(),
            pid: None,
        }),
    )
    .with_tenant("acme");
    let report_seq = bed.log.publish(&report).await.unwrap();

    let after = bed
        .wait_for("the forged report to be refused", |s| {
            s.applied_seq > report_seq && !s.backlog.rejections.contains_key(&report_seq)
        })
        .await;
    assert_eq!(after.jobs["j1"].state, JobState::Pending);
    assert_eq!(after.counters.void_bindings, 1);
    assert_eq!(after.counters.fenced_decisions, 1);
    assert!(after.nodes.values().all(|n| n.jobs.is_empty()));

    let status = run_rota(binary, bed.url(), &["status", "j1"]);
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.status.success(), "{text}");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("job j1: pending: admitted, waiting for a node"),
        "{text}"
    );
    let marked = |event: &str, note: &str| {
        text.lines()
            .any(|line| line.contains(event) && line.contains(note))
    };
    assert!(marked("job.bound", "[void: "), "{text}");
    assert!(marked("job.bound", "[fenced: "), "{text}");
    assert!(marked("job.started", "[refused: "), "{text}");
    let noted = text
        .lines()
        .filter(|line| {
            ["  [void: ", "  [fenced: ", "  [refused: "]
                .iter()
                .any(|n| line.contains(n))
        })
        .count();
    assert_eq!(noted, 3, "only the forged events are marked: {text}");

    let json = run_rota(binary, bed.url(), &["status", "j1", "--json"]);
    let notes: Vec<Option<String>> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            value["fold"].as_str().map(str::to_string)
        })
        .collect();
    assert_eq!(notes.len(), 5, "submitted, admitted, two bindings, a start");
    assert_eq!(notes.iter().filter(|n| n.is_some()).count(), 3, "{notes:?}");

    bed.stop_services().await;
    // Replay verification re-derives placement's rounds at the forged
    // basis and finds that placement would have bound nothing: both forged
    // rounds are flagged, and nothing else is.
    let report = rota_replay::verify(&bed.entries().await, &|service| {
        rota_replay::standard_core(CELL, service)
    });
    let mut flagged: Vec<(&str, u64, u64, Option<u64>)> = report
        .mismatches
        .iter()
        .map(|m| (m.service.as_str(), m.epoch, m.basis, m.seq))
        .collect();
    flagged.sort();
    let basis = state.applied_seq;
    assert_eq!(
        flagged,
        vec![
            ("placement", epoch - 1, basis, Some(stale_seq)),
            ("placement", epoch, basis, Some(forged_seq)),
        ],
        "{:#?}",
        report.mismatches
    );
}

/// A client cannot make the stream drop a decision as a duplicate by
/// publishing under the message id the decision will have: a decision's id
/// carries a salt of the deciding process that no client can guess. Here a
/// submission is published under the id admission's answer to it would have
/// had without the salt; with nothing else in the log to wake admission
/// again, the answer still lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_take_a_decisions_message_id() {
    let mut bed = TestBed::start().await;
    bed.run_named(&["admission"]);
    let epoch = bed
        .wait_for("admission's lease", |s| s.lease_epoch("admission") >= 1)
        .await
        .lease_epoch("admission");
    let next = bed.log.last_seq().await.unwrap() + 1;
    let submission = job("acme", "hijack", small(), &[]);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "Nats-Msg-Id",
        rota_events::decision_msg_id("admission", epoch, next, 0).as_str(),
    );
    let seq = bed
        .gateway
        .publish_raw(
            &submission.subject(),
            headers,
            rota_events::encode(&submission),
        )
        .await
        .unwrap();
    assert_eq!(seq, next, "the submission landed where it was aimed");
    let admitted = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        bed.wait_for("the hijacked submission to be admitted", |s| {
            s.jobs
                .get("hijack")
                .is_some_and(|j| j.state == JobState::Pending)
        }),
    )
    .await;
    assert!(
        admitted.is_ok(),
        "admission's answer was dropped as a duplicate"
    );
    bed.stop_services().await;
}

/// A cancellation that a client writes as admission's (with its current
/// epoch copied, so it is not fenced), for another tenant's running job and
/// answering no request, is void in the fold: the job stays running, its
/// agent does not kill it, and it finishes as it would have; `rota status`
/// marks the forged event void.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_cancellation_kills_nothing() {
    let binary = env!("CARGO_BIN_EXE_rota");
    // Injected past the server: permissions would refuse it.
    let mut bed = TestBed::start_without_authorization().await;
    let (state, fleet) = running_victim(&mut bed).await;
    let epoch = state.lease_epoch("admission");
    let forged = seal_round(
        &state,
        "admission",
        epoch,
        vec![Draft {
            tenant: Some("acme".into()),
            causation_id: None,
            body: Body::JobCancelled(JobCancelled {
                job: "victim".into(),
                reason: "cancelled on request".into(),
                node: state.jobs["victim"].node.clone(),
            }),
        }],
    );
    let forged_seq = bed.log.publish_round(&forged).await.unwrap();
    let after = bed
        .wait_for("the forged cancellation to be folded", |s| {
            s.applied_seq >= forged_seq
        })
        .await;
    assert_eq!(after.jobs["victim"].state, JobState::Running);
    assert_eq!(after.counters.fenced_decisions, 0, "not fenced: void");
    victim_succeeds(&bed).await;
    let status = run_rota(binary, bed.url(), &["status", "victim"]);
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(
        text.starts_with("job victim: finished: succeeded"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|line| line.contains("job.cancelled") && line.contains("[void: ")),
        "{text}"
    );
    bed.stop_services().await;
    let _ = fleet.await;
}

/// A registration of a node an agent serves, written by someone else with
/// another capacity, label and taint (as the server would refuse from a
/// tenant), is undone: the agent registers its node again as it serves it,
/// and jobs are placed on it as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_registration_of_a_served_node_is_undone_by_its_agent() {
    // Injected past the server: permissions would refuse it.
    let mut bed = TestBed::start_without_authorization().await;
    bed.run_named(&["admission", "placement"]);
    let served = sim_fleet("served-node", 1);
    let name = served[0].name.clone();
    let capacity = served[0].capacity;
    let fleet = tokio::spawn(run_nodes(
        bed.fleet.clone(),
        served,
        SimRunner::new(1.0),
        bed.shutdown.clone(),
    ));
    bed.wait_for("the node to be registered", |s| s.nodes.contains_key(&name))
        .await;
    let forged = Event::new(
        "forged-registration",
        CELL,
        Body::NodeRegistered(NodeRegistered {
            node: name.clone(),
            capacity: Resources {
                cpu_milli: 1,
                memory_bytes: 1,
                ..Default::default()
            },
            labels: [("owned-by".to_string(), "mallory".to_string())].into(),
            taints: vec![Taint {
                key: "dedicated".into(),
                value: "mallory".into(),
                effect: TaintEffect::NoSchedule,
            }],
            ..Default::default()
        }),
    );
    let forged_seq = bed.log.publish(&forged).await.unwrap();
    let state = bed
        .wait_for("the agent to register its node again", |s| {
            s.applied_seq > forged_seq && s.nodes[&name].registered_seq > forged_seq
        })
        .await;
    let node = &state.nodes[&name];
    assert_eq!(node.capacity, capacity);
    assert!(node.labels.is_empty(), "{:?}", node.labels);
    assert!(node.taints.is_empty(), "{:?}", node.taints);
    bed.submit(&[small_job("acme", "after-forgery", 100)]).await;
    let ended = bed
        .wait_for("a job to run on the node again", |s| {
            s.jobs
                .get("after-forgery")
                .is_some_and(|j| j.state.is_terminal())
        })
        .await;
    assert_eq!(
        ended.jobs["after-forgery"].outcome,
        Some(Outcome::Succeeded)
    );
    bed.stop_services().await;
    let _ = fleet.await;
}
