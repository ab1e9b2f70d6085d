//! Once a cell has a roster, the fold takes an event other than a tenant's
//! only when a key of the roster signed it for an identity that may write
//! it. Each forgery a client once got into the log, injected here past the
//! server's permissions (on a connection the server lets publish the
//! subject, but unsigned or signed by another identity's key), is refused
//! by every reader: it has no effect on the fold, on `rota status` or on
//! any agent. The real services and agents sign everything they write.

use rota_events::{
    Body, Event, Identity, JobCancelled, JobFinished, LeaseClaimed, Outcome, SIGNATURE_HEADER,
    SIGNER_HEADER,
};
use rota_projections::{CellState, Draft, JobState, seal_round};
use rota_shell::nodes::{SimRunner, run_nodes};
use rota_shell::signing::outgoing;
use rota_testkit::forgeries::{
    binding, running_victim, shrunk_registration, victim_succeeds, waiting_job,
};
use rota_testkit::{
    CELL, TestBed, assert_replay_clean, assert_signed_by_writers, inject, sim_fleet, small,
    small_job,
};

/// The state right after `seq` is folded, and the reason the fold gave for
/// refusing it (it must have).
async fn refused(bed: &TestBed, seq: u64) -> (CellState, String) {
    let state = bed
        .wait_for("the forgery to be folded", |s| s.applied_seq >= seq)
        .await;
    let reason = state
        .backlog
        .rejections
        .get(&seq)
        .map(|r| r.detail.clone())
        .unwrap_or_else(|| panic!("entry {seq} was taken"));
    (state, reason)
}

/// `rota status victim`, as the auditor.
fn status(bed: &TestBed) -> String {
    let binary = env!("CARGO_BIN_EXE_rota");
    let output = bed.rota(binary, &Identity::Auditor, &["status", "victim"]);
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{text}");
    text
}

fn marked_refused(text: &str, type_name: &str) -> bool {
    text.lines()
        .any(|line| line.contains(type_name) && line.contains("[refused: "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_finish_on_the_jobs_own_node_is_refused() {
    let mut bed = TestBed::start().await;
    let (state, fleet) = running_victim(&mut bed).await;
    let node = state.jobs["victim"].node.clone().expect("on a node");
    let finished = |id: &str| {
        Event::new(
            id,
            CELL,
            Body::JobFinished(JobFinished {
                job: "victim".into(),
                node: node.clone(),
                outcome: Outcome::Succeeded,
                exit_code: Some(0),
                message: None,
                signal: None,
                checkpointed: false,
            }),
        )
        .with_tenant("acme")
    };
    let unsigned = inject(&bed.fleet, &finished("forged-finish"), None).await;
    let (after, reason) = refused(&bed, unsigned).await;
    assert!(reason.contains("not signed"), "{reason}");
    assert_eq!(after.jobs["victim"].state, JobState::Running);
    assert!(
        after.nodes[&node].jobs.contains("victim"),
        "the node holds it"
    );
    // Signed, but by the agent of another node.
    let other = bed.signer(&Identity::Agent("worker-2".into()));
    let wrong = inject(&bed.fleet, &finished("forged-finish-2"), Some(&other)).await;
    let (after, reason) = refused(&bed, wrong).await;
    assert!(
        reason.contains("agent-worker-2, which may not write it"),
        "{reason}"
    );
    assert_eq!(after.jobs["victim"].state, JobState::Running);
    victim_succeeds(&bed).await;
    let text = status(&bed);
    assert!(
        text.starts_with("job victim: finished: succeeded"),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.contains("[refused: ")).count(),
        2,
        "both forged finishes are marked refused: {text}"
    );
    bed.stop_services().await;
    let _ = fleet.await;
    let entries = bed.entries().await;
    assert_replay_clean(&entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_cancellation_with_admissions_epoch_is_refused() {
    let mut bed = TestBed::start().await;
    let (state, fleet) = running_victim(&mut bed).await;
    let forged = seal_round(
        &state,
        "admission",
        state.lease_epoch("admission"),
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
    let seq = inject(&bed.services, &forged[0], None).await;
    let (after, reason) = refused(&bed, seq).await;
    assert!(reason.contains("not signed"), "{reason}");
    assert_eq!(after.jobs["victim"].state, JobState::Running);
    victim_succeeds(&bed).await;
    assert!(marked_refused(&status(&bed), "job.cancelled"));
    bed.stop_services().await;
    let _ = fleet.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_binding_with_placements_epoch_is_refused() {
    let mut bed = TestBed::start().await;
    bed.run_named(&["admission", "placement"]);
    bed.register_nodes(1, small()).await;
    let state = waiting_job(&bed, "acme", "victim").await;
    let forged = seal_round(
        &state,
        "placement",
        state.lease_epoch("placement"),
        vec![binding("acme", "victim", "node-00000")],
    );
    // Signed by the clock: a service, but not the one that binds.
    let clock = bed.signer(&Identity::Service("clock".into()));
    let seq = inject(&bed.services, &forged[0], Some(&clock)).await;
    let (after, reason) = refused(&bed, seq).await;
    assert!(
        reason.contains("service-clock, which may not write it"),
        "{reason}"
    );
    assert_eq!(after.jobs["victim"].state, JobState::Pending);
    assert_eq!(
        after.counters.void_bindings, 0,
        "refused before it is weighed"
    );
    assert!(after.nodes.values().all(|n| n.jobs.is_empty()));
    let text = status(&bed);
    assert!(text.starts_with("job victim: pending"), "{text}");
    assert!(marked_refused(&text, "job.bound"), "{text}");
    bed.stop_services().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_registration_of_a_served_node_is_refused() {
    let mut bed = TestBed::start().await;
    let (state, fleet) = running_victim(&mut bed).await;
    let node = state.jobs["victim"].node.clone().expect("on a node");
    let before = state.nodes[&node].clone();
    let seq = inject(
        &bed.fleet,
        &shrunk_registration("forged-registration", &node),
        None,
    )
    .await;
    let (after, reason) = refused(&bed, seq).await;
    assert!(reason.contains("not signed"), "{reason}");
    // Not even for a moment: the node is as its agent registered it.
    assert_eq!(after.nodes[&node], before);
    victim_succeeds(&bed).await;
    bed.stop_services().await;
    let _ = fleet.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phantom_node_is_refused() {
    let mut bed = TestBed::start().await;
    bed.run_named(&["admission", "placement"]);
    let seq = inject(&bed.fleet, &shrunk_registration("phantom", "phantom"), None).await;
    let (after, reason) = refused(&bed, seq).await;
    assert!(reason.contains("not signed"), "{reason}");
    assert!(!after.nodes.contains_key("phantom"));
    bed.submit(&[small_job("acme", "victim", 10)]).await;
    bed.wait_for("the job to be admitted", |s| {
        s.jobs
            .get("victim")
            .is_some_and(|j| j.state == JobState::Pending)
    })
    .await;
    // Placement had a round to bind it in; with no node, it stays pending.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let head = bed.log.last_seq().await.unwrap();
    let state = bed
        .wait_for("the log to be read", |s| s.applied_seq >= head)
        .await;
    assert_eq!(state.jobs["victim"].state, JobState::Pending);
    assert!(state.nodes.is_empty());
    bed.stop_services().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_lease_claim_is_refused() {
    let mut bed = TestBed::start().await;
    bed.run_named(&["placement"]);
    let state = bed
        .wait_for("placement's lease", |s| s.lease_epoch("placement") >= 1)
        .await;
    let epoch = state.lease_epoch("placement");
    let claim = Event::new(
        "forged-claim",
        CELL,
        Body::LeaseClaimed(LeaseClaimed {
            service: "placement".into(),
            epoch: epoch + 1,
            holder: "mallory".into(),
        }),
    );
    let admission = bed.signer(&Identity::Service("admission".into()));
    let seq = inject(&bed.services, &claim, Some(&admission)).await;
    let (after, reason) = refused(&bed, seq).await;
    assert!(
        reason.contains("service-admission, which may not write it"),
        "{reason}"
    );
    assert_eq!(after.lease_epoch("placement"), epoch);
    assert_ne!(after.leases["placement"].holder, "mallory");
    bed.stop_services().await;
}

/// A real signature moved onto other bytes does not hold: the message is
/// unreadable, and nothing is taken from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_moved_to_another_message_is_refused() {
    let mut bed = TestBed::start().await;
    let (state, fleet) = running_victim(&mut bed).await;
    let node = state.jobs["victim"].node.clone().expect("on a node");
    let fleet_key = bed.signer(&Identity::Fleet);
    let honest = outgoing(&shrunk_registration("honest", &node), Some(&fleet_key));
    let forged = outgoing(&shrunk_registration("forged", &node), None);
    let mut headers = forged.headers;
    for name in [SIGNER_HEADER, SIGNATURE_HEADER] {
        headers.insert(name, honest.headers.get(name).expect("signed").as_str());
    }
    let seq = bed
        .fleet
        .publish_raw(&forged.subject, headers, forged.payload)
        .await
        .unwrap();
    let (after, reason) = refused(&bed, seq).await;
    assert!(reason.contains("the signature is not"), "{reason}");
    assert_eq!(after.nodes[&node], state.nodes[&node]);
    victim_succeeds(&bed).await;
    bed.stop_services().await;
    let _ = fleet.await;
}

/// What the real services and agents write is signed by their own keys,
/// each for events its identity may write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_but_a_tenants_is_signed_by_its_writer() {
    let mut bed = TestBed::start().await;
    bed.run_services(true);
    let fleet = tokio::spawn({
        let (log, shutdown) = (bed.fleet.clone(), bed.shutdown.clone());
        async move {
            run_nodes(
                log,
                sim_fleet("signed-node", 2),
                SimRunner::new(100.0),
                shutdown,
            )
            .await
            .expect("the fleet runs");
        }
    });
    let jobs: Vec<Event> = (0..20)
        .map(|i| small_job("acme", &format!("j{i}"), 1_000))
        .collect();
    bed.submit(&jobs).await;
    let state = bed
        .wait_for("every job to end", |s| s.tally.ended() == 20)
        .await;
    assert!(state.backlog.rejections.is_empty());
    bed.stop_services().await;
    let _ = fleet.await;
    let entries = bed.entries().await;
    assert_signed_by_writers(&entries);
    assert_replay_clean(&entries);
}
