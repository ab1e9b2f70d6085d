//! The scheduling policies' defining properties, checked in the simulator
//! with the real admission and placement cores: FCFS starts jobs in arrival
//! order; EASY never starts the waiting head later than it was first
//! promised; no policy over-commits a node or proposes a binding the fold
//! has to void. Random workloads are seeded; a failure prints its seed.

use rota_events::{Backfill, PlacementPolicy, Resources};
use rota_projections::SeededRng;
use rota_simulator::{Machine, SimJob, SimOptions, measure, simulate, swf};

fn cpus(n: u64) -> Resources {
    Resources {
        cpu_milli: n * 1000,
        memory_bytes: n << 30,
        gpus: 0,
        ..Default::default()
    }
}

/// A machine of one to three nodes, and jobs with arrivals, run times and
/// estimates (some shorter than the run time, so limits are enforced too).
fn random_workload(seed: u64) -> (Machine, Vec<SimJob>) {
    let mut rng = SeededRng::new(seed);
    let capacities: Vec<Resources> = (0..1 + rng.below(3))
        .map(|_| cpus(4 + rng.below(29)))
        .collect();
    let largest = capacities.iter().map(|r| r.cpu_milli / 1000).max().unwrap();
    random_jobs(rng, capacities, |rng| cpus(1 + rng.below(largest)))
}

/// GPU nodes of two to four devices, and jobs that ask for whole GPUs or
/// for a share of one, so that reservations must find room per device.
fn random_gpu_workload(seed: u64) -> (Machine, Vec<SimJob>) {
    let mut rng = SeededRng::new(seed);
    let capacities: Vec<Resources> = (0..1 + rng.below(3))
        .map(|_| Resources {
            gpus: 2 + rng.below(3) as u32,
            ..cpus(64)
        })
        .collect();
    random_jobs(rng, capacities, |rng| {
        if rng.below(2) == 0 {
            Resources {
                gpus: 1 + rng.below(2) as u32,
                ..cpus(1)
            }
        } else {
            Resources {
                gpu_milli: 100 * (1 + rng.below(9) as u32),
                ..cpus(1)
            }
        }
    })
}

/// 120 jobs for `capacities`, each asking for `request(rng)`.
fn random_jobs(
    mut rng: SeededRng,
    capacities: Vec<Resources>,
    request: impl Fn(&mut SeededRng) -> Resources,
) -> (Machine, Vec<SimJob>) {
    let mut submit_s = 0;
    let jobs = (0..120)
        .map(|i| {
            submit_s += rng.below(40);
            let run_s = 1 + rng.below(600);
            let estimate_s = match rng.below(4) {
                0 => (run_s / 2).max(1),
                1 => run_s,
                _ => run_s + rng.below(900),
            };
            SimJob {
                id: format!("j{i:03}"),
                tenant: format!("t{}", rng.below(3)),
                submit_ms: submit_s * 1000,
                run_ms: run_s * 1000,
                request: request(&mut rng),
                walltime_s: Some(estimate_s),
                class: None,
            }
        })
        .collect();
    (Machine::of(&capacities), jobs)
}

fn policy(backfill: Backfill) -> PlacementPolicy {
    PlacementPolicy {
        backfill,
        ..PlacementPolicy::default()
    }
}

/// Runs EASY on `workload(seed)` for 150 seeds and checks that no job
/// with a reservation starts later than it was first promised; returns how
/// many reservations were checked.
fn easy_keeps_its_promises(workload: fn(u64) -> (Machine, Vec<SimJob>)) -> usize {
    let mut checked = 0;
    for seed in 1..=150 {
        let (machine, jobs) = workload(seed);
        let outcome = simulate(
            &machine,
            &jobs,
            &SimOptions {
                track_reservations: true,
                ..SimOptions::new(policy(Backfill::Easy))
            },
        );
        assert_eq!(outcome.state.counters.void_bindings, 0, "seed {seed}");
        for (job, promised) in &outcome.first_reservation_ms {
            let started = outcome.state.jobs[job]
                .first_bound_ms
                .expect("every job starts");
            assert!(
                started <= *promised,
                "seed {seed}: {job} was promised {promised} and started {started}"
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn easy_never_starts_the_reserved_job_later_than_promised() {
    let checked = easy_keeps_its_promises(random_workload);
    assert!(checked > 1000, "too few reservations exercised ({checked})");
}

#[test]
fn easy_keeps_its_promises_with_whole_gpus_and_gpu_shares() {
    let checked = easy_keeps_its_promises(random_gpu_workload);
    assert!(checked > 1000, "too few reservations exercised ({checked})");
}

#[test]
fn fcfs_starts_jobs_in_arrival_order_and_easy_is_no_worse() {
    let text = include_str!("data/lublin_first_2000.swf");
    let trace = swf::parse(text);
    let machine = Machine::processors(trace.max_procs.unwrap());
    let fcfs = simulate(
        &machine,
        &trace.jobs,
        &SimOptions::new(policy(Backfill::Fcfs)),
    );
    let mut starts: Vec<(u64, u64, &str)> = trace
        .jobs
        .iter()
        .enumerate()
        .map(|(i, job)| (job.submit_ms, i as u64, job.id.as_str()))
        .collect();
    starts.sort();
    let mut previous = 0;
    for (_, _, id) in &starts {
        let start = fcfs.state.jobs[*id].first_bound_ms.unwrap();
        assert!(
            start >= previous,
            "{id} started at {start}, before an earlier arrival ({previous})"
        );
        previous = start;
    }
    let capacity = trace.max_procs.unwrap() * 1000;
    let fcfs_metrics = measure(&fcfs.state, capacity);
    let easy = measure(
        &simulate(
            &machine,
            &trace.jobs,
            &SimOptions::new(policy(Backfill::Easy)),
        )
        .state,
        capacity,
    );
    assert_eq!(fcfs_metrics.jobs_finished, 2000);
    assert_eq!(easy.jobs_finished, 2000);
    assert!(
        easy.mean_wait_s < fcfs_metrics.mean_wait_s,
        "{easy:?} vs {fcfs_metrics:?}"
    );
    assert!(easy.utilization > 0.0 && easy.utilization <= 1.0);
}

#[test]
fn no_policy_over_commits_or_proposes_a_void_binding() {
    for backfill in [Backfill::Fcfs, Backfill::Easy, Backfill::Conservative] {
        for seed in 1..=60 {
            let (machine, jobs) = random_workload(seed);
            let outcome = simulate(&machine, &jobs, &SimOptions::new(policy(backfill)));
            let state = &outcome.state;
            assert_eq!(state.counters.void_bindings, 0, "{backfill:?} seed {seed}");
            let metrics = measure(state, 1);
            assert_eq!(
                metrics.jobs_finished,
                jobs.len(),
                "{backfill:?} seed {seed}: not every job ran"
            );
            // The fold voids any binding that does not fit its node's free
            // capacity, so no void binding means no node was over-committed.
            // Independently: replaying starts and ends, never more in use
            // than the machine has.
            let total: u64 = machine.total().cpu_milli;
            let mut edges: Vec<(u64, i64)> = Vec::new();
            for job in state.jobs.values() {
                let cpu = job.spec.resources.cpu_milli as i64;
                edges.push((job.first_bound_ms.unwrap(), cpu));
                edges.push((job.finished_ms.unwrap(), -cpu));
            }
            edges.sort_by_key(|(t, delta)| (*t, *delta));
            let mut in_use = 0i64;
            for (_, delta) in edges {
                in_use += delta;
                assert!(
                    in_use <= total as i64,
                    "{backfill:?} seed {seed}: {in_use} in use of {total}"
                );
            }
        }
    }
}

#[test]
fn conservative_and_easy_beat_fcfs_on_a_real_trace_slice() {
    let trace = swf::parse(include_str!("data/lublin_first_2000.swf"));
    let capacity = trace.max_procs.unwrap() * 1000;
    let machine = Machine::processors(trace.max_procs.unwrap());
    let wait = |backfill| {
        measure(
            &simulate(&machine, &trace.jobs, &SimOptions::new(policy(backfill))).state,
            capacity,
        )
        .mean_wait_s
    };
    let fcfs = wait(Backfill::Fcfs);
    assert!(wait(Backfill::Conservative) < fcfs);
    assert!(wait(Backfill::Easy) < fcfs);
}

#[test]
fn the_fold_keeps_no_deadline_of_a_job_that_ended() {
    let (machine, jobs) = random_workload(7);
    let outcome = simulate(&machine, &jobs, &SimOptions::new(policy(Backfill::Easy)));
    assert!(
        outcome.state.jobs.values().any(|j| j.timed_out),
        "the workload exercises limits"
    );
    assert!(
        outcome.state.placement.deadlines.is_empty(),
        "{:?}",
        outcome.state.placement.deadlines
    );
}
