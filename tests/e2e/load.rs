//! Load through the real services over a real nats-server: admission,
//! placement, fair share and the clock in this process, 200 simulated
//! nodes, and an open-loop submitter publishing 4,000 jobs at about
//! 4,000 per second through a publish window whose acknowledgements it
//! polls in its own loop. Within a bound on the whole test: every job
//! finishes, no submission is lost, no job is bound twice, and the log
//! replays clean.

use rota_events::{Body, Event, Outcome};
use rota_projections::{CellState, LogEntry};
use rota_shell::PublishWindow;
use rota_shell::nodes::{SimRunner, run_nodes};
use rota_shell::publish::PUBLISH_WINDOW_MAX;
use rota_testkit::{CELL, TestBed, assert_replay_clean, bound_events, summary};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

/// How many jobs the submitter publishes.
const JOBS: usize = 4000;
/// The submitter's schedule, in submissions per second.
const RATE_PER_S: u64 = 4000;
/// The schedule's step: every step, the submissions due by then go out.
const SLICE: Duration = Duration::from_millis(10);
/// The simulated fleet.
const NODES: usize = 200;
/// A job's declared run time, and how much faster than real time the fleet
/// runs it: 1 s of simulated time is 10 ms.
const JOB_DURATION_MS: u64 = 1000;
const TIME_SCALE: f64 = 100.0;
/// The bound on the whole test, from the start of the server to the end of
/// replay verification.
const TEST_BOUND: Duration = Duration::from_secs(60);
/// The bound on the wait for every job to finish, from the start of the
/// test; it leaves the rest of [`TEST_BOUND`] for reading the log back and
/// verifying it.
const FINISH_BOUND: Duration = Duration::from_secs(45);
/// The bound on the fleet's registration, from the start of the test.
const REGISTER_BOUND: Duration = Duration::from_secs(15);

const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

fn job_id(i: usize) -> String {
    format!("load-{i:05}")
}

/// A small, short job: half a core and 256 MiB for a simulated second.
fn submission(i: usize) -> Event {
    rota_testkit::small_job(TENANTS[i % TENANTS.len()], &job_id(i), JOB_DURATION_MS)
}

/// What the submitter did.
struct Submitted {
    /// From the first publish to the last.
    sending: Duration,
    /// From the first publish to the last acknowledgement.
    elapsed: Duration,
    /// How many submissions were acknowledged.
    acked: usize,
}

/// Publishes `jobs` on an open-loop schedule of [`RATE_PER_S`]: each
/// [`SLICE`], every submission due by then is sent, whether or not earlier
/// ones have been acknowledged, as long as the window has room. The
/// acknowledgements are one arm of the loop. Panics if a submission is
/// refused or the whole batch is not acknowledged by `deadline`.
async fn submit_open_loop(bed: &TestBed, jobs: &[Event], deadline: Instant) -> Submitted {
    let mut window: PublishWindow<usize> =
        PublishWindow::new(&bed.gateway.client, PUBLISH_WINDOW_MAX);
    let mut slices = tokio::time::interval(SLICE);
    slices.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let started = Instant::now();
    let mut sent = 0usize;
    let mut sending = Duration::ZERO;
    let mut acked = 0usize;
    while acked < jobs.len() {
        let due = ((started.elapsed().as_micros() as u64 * RATE_PER_S / 1_000_000) as usize + 1)
            .min(jobs.len());
        while sent < due && window.has_room() {
            match tokio::time::timeout_at(deadline, window.send(&jobs[sent], sent)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => panic!("submission {sent} was not sent: {error}"),
                Err(_) => panic!("sending submission {sent} was still blocked at the deadline"),
            }
            sent += 1;
            if sent == jobs.len() {
                sending = started.elapsed();
            }
        }
        tokio::select! {
            _ = slices.tick(), if sent < jobs.len() => {}
            done = window.next_acked() => {
                if let Err(error) = done.result {
                    panic!("submission {} was not stored: {error}", done.tag);
                }
                acked += 1;
            }
            _ = tokio::time::sleep_until(deadline) => panic!(
                "the submitter had {sent} of {} submissions sent and {acked} acknowledged at its deadline",
                jobs.len()
            ),
        }
    }
    Submitted {
        sending,
        elapsed: started.elapsed(),
        acked,
    }
}

/// Folds the log until `done` says so for an entry and the state after it,
/// or panics at `deadline` naming `what` with a count of jobs by state.
async fn fold_until(
    bed: &TestBed,
    what: &str,
    deadline: Instant,
    mut done: impl FnMut(&LogEntry, &CellState) -> bool,
) -> CellState {
    let mut state = CellState::new(CELL);
    let mut entries = bed.log.entries(1, Vec::new()).await.expect("reader");
    loop {
        match tokio::time::timeout_at(deadline, entries.next()).await {
            Ok(Some(item)) => {
                let entry = item.expect("readable log").0;
                state.apply(&entry);
                if done(&entry, &state) {
                    return state;
                }
            }
            Ok(None) => panic!("the log ended while waiting for {what}"),
            Err(_) => panic!(
                "timed out waiting for {what}; jobs by state: {:?}, nodes: {}",
                summary(&state),
                state.nodes.len()
            ),
        }
    }
}

/// Folds the log until every one of `ids` has finished, or panics at
/// `deadline`.
async fn wait_until_finished(
    bed: &TestBed,
    ids: &BTreeSet<String>,
    deadline: Instant,
) -> CellState {
    let mut finished = BTreeSet::new();
    let what = format!(
        "all {} jobs to finish within {FINISH_BOUND:?} of the start",
        ids.len()
    );
    fold_until(bed, &what, deadline, |entry, _| {
        if let Ok(Event {
            body: Body::JobFinished(f),
            ..
        }) = &entry.event
            && ids.contains(&f.job)
        {
            finished.insert(f.job.clone());
        }
        finished.len() == ids.len()
    })
    .await
}

/// The log's time of the first and the last entry matching `wanted`.
fn time_span(entries: &[LogEntry], wanted: impl Fn(&Body) -> bool) -> (u64, u64) {
    let times: Vec<u64> = entries
        .iter()
        .filter(|e| e.event.as_ref().is_ok_and(|ev| wanted(&ev.body)))
        .map(|e| e.time_ms)
        .collect();
    (
        times.first().copied().unwrap_or_default(),
        times.last().copied().unwrap_or_default(),
    )
}

fn per_s(count: usize, span_ms: u64) -> f64 {
    count as f64 * 1000.0 / span_ms.max(1) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_thousand_submissions_a_second_all_finish_once_and_replay_clean() {
    let test = tokio::time::timeout(TEST_BOUND, load_test());
    if test.await.is_err() {
        panic!("the load test did not end within {TEST_BOUND:?}");
    }
}

async fn load_test() {
    let started = Instant::now();
    let mut bed = TestBed::start().await;
    bed.run_services(true);
    let fleet = tokio::spawn(run_nodes(
        bed.fleet.clone(),
        // Room for every job at once, so the test measures the path through
        // the services, not queueing for capacity.
        rota_testkit::sim_fleet("load-node", NODES),
        SimRunner::new(TIME_SCALE),
        bed.shutdown.clone(),
    ));
    let registered = started + REGISTER_BOUND;
    fold_until(&bed, "every node to be registered", registered, |_, s| {
        s.nodes.len() == NODES
    })
    .await;

    let jobs: Vec<Event> = (0..JOBS).map(submission).collect();
    let ids: BTreeSet<String> = (0..JOBS).map(job_id).collect();
    let finish_deadline = started + FINISH_BOUND;
    let (submitted, state) = tokio::join!(
        submit_open_loop(&bed, &jobs, finish_deadline),
        wait_until_finished(&bed, &ids, finish_deadline),
    );
    let all_finished = started.elapsed();
    assert_eq!(submitted.acked, JOBS, "every submission was acknowledged");
    let send_rate = JOBS as f64 / submitted.sending.as_secs_f64();
    assert!(
        send_rate >= RATE_PER_S as f64 / 2.0,
        "the submitter sent at {send_rate:.0}/s only, under half its schedule of {RATE_PER_S}/s: \
         either publishing blocked or this machine cannot produce the load this test is about"
    );

    bed.stop_services().await;
    let fleet = tokio::time::timeout(Duration::from_secs(10), fleet)
        .await
        .expect("the fleet stopped within 10 s of the shutdown")
        .expect("the fleet task did not panic")
        .expect("the fleet ran without an error");
    let entries = bed.entries().await;

    // Every submitted id reached the end of its life, and succeeded; nothing
    // else appeared.
    let lost: Vec<&String> = ids
        .iter()
        .filter(|id| !state.jobs.get(*id).is_some_and(|j| j.state.is_terminal()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} submissions never reached a terminal state, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    let known: BTreeSet<String> = state.jobs.keys().cloned().collect();
    assert_eq!(known, ids, "the log holds exactly the submitted jobs");
    let failed: Vec<(&String, Option<Outcome>)> = state
        .jobs
        .iter()
        .filter(|(_, j)| j.outcome != Some(Outcome::Succeeded))
        .map(|(id, j)| (id, j.outcome))
        .collect();
    assert!(failed.is_empty(), "jobs that did not succeed: {failed:?}");
    assert_eq!(fleet.finished, JOBS as u64, "the fleet ran every job once");

    // Exactly one binding per job, and it took effect.
    let bound = bound_events(&entries);
    let twice: Vec<_> = bound.iter().filter(|(_, b)| b.len() != 1).collect();
    assert!(
        twice.is_empty(),
        "{} jobs were not bound exactly once, e.g. (job, [(sequence, node)]): {:?}",
        twice.len(),
        &twice[..twice.len().min(5)]
    );
    assert_eq!(bound.len(), JOBS, "every job was bound");
    assert_eq!(state.counters.void_bindings, 0, "no binding was void");
    assert_eq!(state.counters.requeued_jobs, 0, "no job was requeued");
    assert!(
        state.jobs.values().all(|j| j.bindings == 1),
        "every job's one binding took effect"
    );

    let report = assert_replay_clean(&entries);

    let is_submission = |b: &Body| matches!(b, Body::JobSubmitted(_));
    let (first_submitted, last_submitted) = time_span(&entries, is_submission);
    let (_, last_bound) = time_span(&entries, |b| matches!(b, Body::JobBound(_)));
    let (_, last_finished) = time_span(&entries, |b| matches!(b, Body::JobFinished(_)));
    eprintln!(
        "load: {JOBS} jobs on {NODES} nodes; sent at {send_rate:.0}/s, acknowledged at {:.0}/s (target {RATE_PER_S}/s; {:.0}/s by the log's clock), \
         placed at {:.0}/s, finished at {:.0}/s (first submission to last binding, last end); \
         all finished {:.1} s after the start, whole test {:.1} s; replay verified {} rounds, {} decisions",
        JOBS as f64 / submitted.elapsed.as_secs_f64(),
        per_s(JOBS, last_submitted - first_submitted),
        per_s(JOBS, last_bound - first_submitted),
        per_s(JOBS, last_finished - first_submitted),
        all_finished.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        report.rounds,
        report.decisions,
    );
}
