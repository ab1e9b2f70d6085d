//! Ended jobs leave the fold once the policy's retention says so: by age in
//! log time and past a count, earliest ended first. Live jobs never leave,
//! the tally keeps counting every job, and the result is the same whichever
//! point the fold was resumed from.

mod common;

use common::*;
use rota_events::*;
use rota_projections::{CellState, JobState};

fn retention(ended_job_age_s: u64, ended_jobs_max: u64) -> Event {
    Event::new(
        format!("retention-{ended_job_age_s}-{ended_jobs_max}"),
        "default",
        Body::PolicySet(PolicySet {
            placement: PlacementPolicy {
                retention: Retention {
                    ended_job_age_s,
                    ended_jobs_max,
                },
                ..Default::default()
            },
        }),
    )
}

fn tick(id: &str) -> Event {
    Event::new(id, "default", Body::ClockTick(ClockTick { after_seq: 0 }))
}

fn rejected(job: &str) -> Body {
    Body::JobRejected(JobRejected {
        job: job.into(),
        field: None,
        reason: "too big".into(),
    })
}

/// Given retention of `age_s` and `max`, leases, a node, a job j1 that runs
/// and finishes, and a job `live` admitted and left waiting.
fn given_an_ended_and_a_live_job(age_s: u64, max: u64) -> Log {
    let mut log = Log::new();
    log.push(retention(age_s, max))
        .push(lease("admission", 1))
        .push(lease("placement", 1))
        .push(node("n1", 1000))
        .push(submit("j1", 600))
        .decision("admission", 1, admitted("j1"), Some("acme"))
        .decision("placement", 1, bound("j1", "n1", 600), Some("acme"))
        .push(finished("j1", "n1"))
        .push(submit("live", 2000))
        .decision("admission", 1, admitted("live"), Some("acme"));
    log
}

#[test]
fn an_ended_job_leaves_once_older_than_the_age_and_a_live_one_stays() {
    let mut log = given_an_ended_and_a_live_job(5, 100);
    let state = log.fold();
    assert_eq!(
        state.jobs["j1"].state,
        JobState::Finished,
        "2 s after it ended"
    );
    // Each event of the test log is a second after the one before.
    for i in 0..4 {
        log.push(tick(&format!("tick{i}")));
    }
    let state = log.fold();
    assert!(!state.jobs.contains_key("j1"), "6 s after it ended");
    assert_eq!(state.jobs["live"].state, JobState::Pending);
    assert_eq!(state.ended.retired, 1);
    assert!(state.ended.is_empty());
    assert_eq!(state.tally.submitted, 2);
    assert_eq!(state.tally.finished, 1);
    assert_eq!(state.tally.succeeded, 1);
    assert_eq!(state.tally.bindings, 1);
}

#[test]
fn past_the_most_kept_the_earliest_ended_leave_first() {
    let mut log = given_an_ended_and_a_live_job(3600, 2);
    for job in ["r1", "r2", "r3"] {
        log.push(submit(job, 100))
            .decision("admission", 1, rejected(job), Some("acme"));
    }
    let state = log.fold();
    let ended: Vec<&str> = state
        .jobs
        .iter()
        .filter(|(_, job)| job.state.is_terminal())
        .map(|(id, _)| id.as_str())
        .collect();
    // Jobs leave as the next entry is folded: r3's end was the last entry,
    // so three ended jobs are held until one more arrives.
    assert_eq!(ended, ["r1", "r2", "r3"]);
    assert!(
        !state.jobs.contains_key("j1"),
        "the earliest ended left first"
    );
    assert_eq!(state.tally.rejected, 3);
    assert_eq!(state.tally.ended(), 4);
    log.push(tick("tick"));
    let state = log.fold();
    assert!(!state.jobs.contains_key("r1"));
    assert_eq!(state.ended.len(), 2);
    assert_eq!(state.ended.retired, 2);
}

#[test]
fn a_retired_job_id_may_be_submitted_again() {
    let mut log = given_an_ended_and_a_live_job(0, 0);
    log.push(submit("j1", 600));
    let state = log.fold();
    assert_eq!(state.jobs["j1"].state, JobState::Submitted);
    assert!(
        state.backlog.rejections.is_empty(),
        "{:?}",
        state.backlog.rejections
    );
    assert_eq!(state.tally.submitted, 3);
}

#[test]
fn resuming_from_any_point_gives_the_same_state_byte_for_byte() {
    let mut log = given_an_ended_and_a_live_job(2, 1);
    for job in ["r1", "r2"] {
        log.push(submit(job, 100))
            .decision("admission", 1, rejected(job), Some("acme"));
    }
    let whole = encode_state(&log.fold());
    for split in 1..log.entries.len() {
        let mut state = CellState::new("default");
        for entry in &log.entries[..split] {
            state.apply(entry);
        }
        let mut resumed: CellState = decode_state(&encode_state(&state)).unwrap();
        for entry in &log.entries[split..] {
            resumed.apply(entry);
        }
        assert_eq!(encode_state(&resumed), whole, "resumed after entry {split}");
    }
}
