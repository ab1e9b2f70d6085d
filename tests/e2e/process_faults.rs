//! Faults of the service processes themselves, over a real server, under
//! load: every service (admission, placement, fair share, the clock) runs as
//! its own `rota run` process with a snapshot directory, and is killed with
//! SIGKILL at random points, again and again, and started again at once;
//! and a placement leader is paused (SIGSTOP) past its lease while a standby
//! takes over, then resumed. In both, every submission is decided and
//! bound once, nothing a stale leader writes takes effect, and the log
//! replays clean.

use rota_events::{Body, Event};
use rota_projections::{CellState, JobState, SeededRng};
use rota_shell::access::Identity;
use rota_shell::nodes::{SimRunner, run_nodes};
use rota_testkit::{RotaProcess, TestBed, assert_replay_clean, sim_fleet, small_job, summary};
use std::time::Duration;
use tokio::time::Instant;

const ROTA: &str = env!("CARGO_BIN_EXE_rota");
const SERVICES: [&str; 4] = ["admission", "placement", "fairshare", "clock"];
const NODES: usize = 20;
/// Simulated jobs of a second that run 100 times faster than real time.
const JOB_DURATION_MS: u64 = 1000;
const TIME_SCALE: f64 = 100.0;
/// A standby takes over after this much silence.
const LEASE_TIMEOUT_MS: &str = "500";

/// One service as its own process, started again after each kill on the
/// same snapshot directory under a new instance name.
struct Service {
    name: &'static str,
    dir: tempfile::TempDir,
    process: RotaProcess,
    starts: usize,
}

impl Service {
    fn start(name: &'static str, bed: &TestBed) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let process = spawn(name, bed, dir.path(), 0);
        Service {
            name,
            dir,
            process,
            starts: 1,
        }
    }

    fn kill_and_restart(&mut self, bed: &TestBed) {
        self.process.kill();
        self.process = spawn(self.name, bed, self.dir.path(), self.starts);
        self.starts += 1;
    }
}

/// Starts `rota run <name>` as that service's own identity.
fn spawn(name: &str, bed: &TestBed, dir: &std::path::Path, start: usize) -> RotaProcess {
    let instance = format!("{name}-{start}");
    bed.spawn(
        ROTA,
        &Identity::Service(name.to_string()),
        &[
            "run",
            name,
            "--state-dir",
            dir.to_str().unwrap(),
            "--instance",
            &instance,
            "--snapshot-every",
            "200",
            "--lease-timeout-ms",
            LEASE_TIMEOUT_MS,
        ],
    )
}

fn all_finished(jobs: usize) -> impl Fn(&CellState) -> bool {
    move |s: &CellState| s.tally.submitted == jobs as u64 && s.tally.ended() == jobs as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_killed_again_and_again_under_load_loses_nothing() {
    const JOBS: usize = 3000;
    const SLICES: usize = 60;
    let mut rng = SeededRng::new(rota_testkit::test_seed());
    let mut bed = TestBed::start().await;
    let fleet = tokio::spawn(run_nodes(
        bed.fleet.clone(),
        sim_fleet("faulty", NODES),
        SimRunner::new(TIME_SCALE),
        bed.shutdown.clone(),
    ));
    let mut services: Vec<Service> = SERVICES.iter().map(|s| Service::start(s, &bed)).collect();
    let jobs: Vec<Event> = (0..JOBS)
        .map(|i| small_job("acme", &format!("kill-{i:05}"), JOB_DURATION_MS))
        .collect();
    let mut kills = 0;
    let mut next_kill = Instant::now() + Duration::from_millis(200 + rng.below(400));
    for slice in jobs.chunks(JOBS / SLICES) {
        bed.submit(slice).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        if Instant::now() >= next_kill {
            let victim = rng.below(SERVICES.len() as u64) as usize;
            services[victim].kill_and_restart(&bed);
            kills += 1;
            next_kill = Instant::now() + Duration::from_millis(200 + rng.below(400));
        }
    }
    eprintln!("killed and restarted a service {kills} times");
    assert!(kills >= 5, "the schedule killed only {kills} times");
    let state = bed
        .wait_for("every job to end despite the kills", all_finished(JOBS))
        .await;
    assert_eq!(state.tally.succeeded, JOBS as u64, "{:?}", summary(&state));
    assert_eq!(state.tally.bindings, JOBS as u64, "every job bound once");
    assert!(state.nodes.values().all(|n| n.jobs.is_empty()));
    for service in &mut services {
        service.process.kill();
    }
    bed.stop_services().await;
    let _ = fleet.await;
    assert_replay_clean(&bed.entries().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leaders_decisions_never_take_effect() {
    const JOBS: usize = 1200;
    let mut bed = TestBed::start().await;
    bed.run_named(&["admission"]);
    let fleet = tokio::spawn(run_nodes(
        bed.fleet.clone(),
        sim_fleet("paused", NODES),
        SimRunner::new(TIME_SCALE),
        bed.shutdown.clone(),
    ));
    let first = Service::start("placement", &bed);
    let jobs: Vec<Event> = (0..JOBS)
        .map(|i| small_job("acme", &format!("pause-{i:05}"), JOB_DURATION_MS))
        .collect();
    let (before, after) = jobs.split_at(JOBS / 2);
    bed.submit(&before[..before.len() / 2]).await;
    bed.wait_for("the first placement to lead and bind", |s| {
        s.lease_epoch("placement") == 1 && s.tally.bindings > 0
    })
    .await;
    // Paused while jobs keep coming, so that it has work when it wakes.
    let pid = first.process.child.id().to_string();
    let signal = |which: &str| {
        let status = std::process::Command::new("kill")
            .args([which, &pid])
            .status()
            .unwrap();
        assert!(status.success());
    };
    signal("-STOP");
    bed.submit(&before[before.len() / 2..]).await;
    let standby = Service::start("placement", &bed);
    bed.wait_for("the standby to take the lease", |s| {
        s.lease_epoch("placement") == 2
    })
    .await;
    signal("-CONT");
    bed.submit(after).await;
    let state = bed
        .wait_for("every job to end after the takeover", all_finished(JOBS))
        .await;
    // Let the woken leader do whatever it still does before looking.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let entries = bed.entries().await;
    let claim = entries
        .iter()
        .find(|e| {
            matches!(&e.event, Ok(Event { body: Body::LeaseClaimed(c), .. })
                if c.service == "placement" && c.epoch == 2)
        })
        .expect("the standby's claim")
        .seq;
    let stale: usize = entries
        .iter()
        .filter(|e| e.seq > claim)
        .filter(|e| {
            matches!(&e.event, Ok(event) if event.round.as_ref().is_some_and(|r| r.service == "placement" && r.epoch == 1))
        })
        .count();
    eprintln!("{stale} decisions of the paused leader landed after the takeover");
    assert_eq!(state.tally.succeeded, JOBS as u64, "{:?}", summary(&state));
    assert_eq!(state.tally.bindings, JOBS as u64, "every job bound once");
    let mut folded = CellState::new(rota_testkit::CELL);
    for entry in &entries {
        folded.apply(entry);
    }
    assert_eq!(
        folded.tally.bindings, JOBS as u64,
        "no stale binding took effect"
    );
    assert!(folded.counters.fenced_decisions >= stale as u64);
    assert!(
        folded
            .jobs
            .values()
            .all(|job| job.state == JobState::Finished)
    );
    drop(standby);
    drop(first);
    bed.stop_services().await;
    let _ = fleet.await;
    assert_replay_clean(&entries);
}
