//! A paused leader wakes up after a new instance claimed the lease: the old
//! leader's round still lands in the log, and none of it takes effect.

use rota_placement::Placement;
use rota_projections::{CellState, JobState, ServiceCore};
use rota_shell::service::{ServiceConfig, lease_claim};
use rota_testkit::{CELL, TestBed, assert_replay_clean, job, small};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_leaders_decisions_are_fenced_off() {
    let mut bed = TestBed::start().await;
    let admission = rota_replay::standard_core(CELL, "admission").unwrap();
    bed.run_core(admission, ServiceConfig::new("admission-test"));
    let one_job = small();
    bed.register_nodes(1, one_job).await;

    // Instance A takes the lease at epoch 1 and decides a round...
    let claimed = bed
        .services
        .publish_if_subject_at(&lease_claim(CELL, "placement", 1, "placement-a"), 0)
        .await
        .unwrap();
    assert!(claimed);
    bed.submit(&[job("acme", "j1", one_job, &[])]).await;
    let at_decision = bed
        .wait_for("j1 admitted", |s| {
            s.jobs
                .get("j1")
                .is_some_and(|j| j.state == JobState::Pending)
        })
        .await;
    let mut a = Placement::new(CELL);
    for entry in bed
        .entries()
        .await
        .iter()
        .take_while(|e| e.seq <= at_decision.applied_seq)
    {
        a.apply(entry);
    }
    let stale_round = a.decide(1);
    assert_eq!(stale_round.len(), 1, "A binds j1");

    // ... and is paused before publishing it. B takes over after the lease
    // timeout and binds j1 itself.
    let mut config = ServiceConfig::new("placement-b");
    config.lease_timeout = Duration::from_millis(500);
    bed.run_core(Box::new(Placement::new(CELL)), config);
    let before_wake = bed
        .wait_for("B to hold the lease and bind j1", |s| {
            s.lease_epoch("placement") == 2
                && s.jobs.get("j1").is_some_and(|j| j.state == JobState::Bound)
        })
        .await;
    assert_eq!(before_wake.counters.fenced_decisions, 0);

    // A wakes up and publishes its round: it lands, and is ignored.
    let landed_at = bed.services.publish_round(&stale_round).await.unwrap();
    let after = bed
        .wait_for("A's stale round to be applied", |s: &CellState| {
            s.applied_seq >= landed_at
        })
        .await;
    assert_eq!(
        after.counters.fenced_decisions, 1,
        "the stale binding was fenced by its epoch"
    );
    assert_eq!(
        after.counters.void_bindings, 0,
        "it was fenced, not merely found invalid"
    );
    assert_eq!(after.jobs["j1"].bindings, 1);
    assert_eq!(
        after.nodes["node-00000"].allocated, one_job,
        "the node is booked once"
    );
    let entries = bed.entries().await;
    assert_replay_clean(&entries);
}
