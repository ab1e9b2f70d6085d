//! Ended jobs leave the services' state under the logged retention, while
//! their story stays in the log: through the real services, a policy that
//! keeps at most 20 ended jobs, 300 jobs run to the end; the fold then holds
//! only the last 20 of them (and its tally counts all 300), `rota status`
//! still tells an early job's whole life from the log, `rota explain` says
//! the job has left the state and where to look, and the log replays clean.

use rota_shell::access::Identity;
use rota_shell::nodes::{SimRunner, run_nodes};
use rota_testkit::{TestBed, assert_replay_clean, assert_whole_story, sim_fleet, small_job};
use std::time::Duration;

const JOBS: usize = 300;
const ENDED_JOBS_MAX: u64 = 20;
const NODES: usize = 10;
/// Simulated jobs of a second that run 100 times faster than real time.
const JOB_DURATION_MS: u64 = 1000;
const TIME_SCALE: f64 = 100.0;

fn job_id(i: usize) -> String {
    format!("kept-{i:04}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_jobs_leave_the_state_and_their_story_stays_in_the_log() {
    let binary = env!("CARGO_BIN_EXE_rota");
    let mut bed = TestBed::start().await;
    let max = ENDED_JOBS_MAX.to_string();
    let policy = bed.rota(
        binary,
        &Identity::Operator,
        &["policy", "set", "--ended-jobs-max", &max],
    );
    assert!(
        policy.status.success(),
        "{}",
        String::from_utf8_lossy(&policy.stderr)
    );
    bed.run_services(true);
    let fleet = tokio::spawn(run_nodes(
        bed.fleet.clone(),
        sim_fleet("retention-node", NODES),
        SimRunner::new(TIME_SCALE),
        bed.shutdown.clone(),
    ));
    bed.wait_for("the fleet to register", |s| s.nodes.len() == NODES)
        .await;
    let jobs: Vec<_> = (0..JOBS)
        .map(|i| small_job("acme", &job_id(i), JOB_DURATION_MS))
        .collect();
    bed.submit(&jobs).await;
    let state = bed
        .wait_for("every job to end and the earliest to leave", |s| {
            s.tally.ended() == JOBS as u64 && s.ended.len() as u64 <= ENDED_JOBS_MAX
        })
        .await;
    assert_eq!(state.tally.finished, JOBS as u64);
    assert_eq!(state.tally.succeeded, JOBS as u64);
    assert_eq!(state.ended.retired, JOBS as u64 - ENDED_JOBS_MAX);
    let ended_held = state
        .jobs
        .values()
        .filter(|job| job.state.is_terminal())
        .count();
    assert_eq!(
        ended_held as u64, ENDED_JOBS_MAX,
        "only the last ended are kept"
    );
    let early = job_id(0);
    assert!(!state.jobs.contains_key(&early), "{early} ended first");

    let status = bed.rota(binary, &Identity::Auditor, &["status", &early]);
    assert_whole_story(&status, "finished: succeeded");
    let explain = bed.rota(binary, &Identity::Auditor, &["explain", &early]);
    let why = String::from_utf8_lossy(&explain.stderr);
    assert!(!explain.status.success());
    assert!(
        why.contains("the last 20 that ended") && why.contains(&format!("rota status {early}")),
        "{why}"
    );

    bed.stop_services().await;
    tokio::time::timeout(Duration::from_secs(10), fleet)
        .await
        .expect("the fleet stopped within 10 s")
        .expect("the fleet task did not panic")
        .expect("the fleet ran without an error");
    assert_replay_clean(&bed.entries().await);
}
