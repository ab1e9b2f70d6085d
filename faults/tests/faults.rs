//! The fault simulator over the cores as Rota builds them keeps every
//! invariant for a budget of seeds, and it finds a bug put into placement
//! (a placement that forgets memory) within that budget, with a shortened
//! run that still shows it. Runs the simulator once found failing are kept
//! here, played as they were shortened.

use rota_faults::action::Action;
use rota_faults::world::CELL;
use rota_faults::{Failure, replay, run, standard_cores};
use rota_placement::Placement;
use rota_projections::{CellState, ServiceCore};

/// Seeds and steps per seed the suite runs; `rota simulate --faults` runs
/// as many as asked.
const SEEDS: u64 = 40;
const STEPS: usize = 400;

#[test]
fn the_cores_keep_every_invariant_under_faults() {
    let mut entries = 0;
    let mut fenced = 0;
    let mut duplicates = 0;
    for seed in 1..=SEEDS {
        let run = run(seed, STEPS, &standard_cores).unwrap_or_else(|failure| panic!("{failure}"));
        entries += run.entries;
        fenced += run.fenced;
        duplicates += run.duplicates;
    }
    // The faults happened: stale leaders were fenced and retried rounds
    // deduplicated, or the test would prove nothing.
    assert!(fenced > 0, "no stale decision was ever published");
    assert!(duplicates > 0, "no round was ever published twice");
    assert!(entries > SEEDS * 100);
}

/// Placement with a bug: it decides as if every node had all the memory in
/// the world.
struct ForgetfulPlacement {
    inner: Placement,
}

impl ServiceCore for ForgetfulPlacement {
    fn service(&self) -> &str {
        self.inner.service()
    }

    fn state(&self) -> &CellState {
        self.inner.state()
    }

    fn state_mut(&mut self) -> &mut CellState {
        self.inner.state_mut()
    }

    fn decide(&self, epoch: u64) -> Vec<rota_events::Event> {
        let mut forgetful = self.inner.state().clone();
        for node in forgetful.ledger.nodes.values_mut() {
            node.capacity.memory_bytes = u64::MAX / 4;
        }
        let mut blind = Placement::new(CELL);
        *blind.state_mut() = forgetful;
        blind.decide(epoch)
    }
}

fn with_forgetful_placement(service: &str) -> Box<dyn ServiceCore> {
    match service {
        "placement" => Box::new(ForgetfulPlacement {
            inner: Placement::new(CELL),
        }),
        other => standard_cores(other),
    }
}

#[test]
fn a_placement_that_forgets_memory_is_caught() {
    let failure: Failure = (1..=SEEDS)
        .find_map(|seed| run(seed, STEPS, &with_forgetful_placement).err())
        .expect("the bug was not found within the seed budget");
    eprintln!("{failure}");
    assert!(
        failure.broken.contains("void bindings") || failure.broken.contains("over-committed"),
        "{failure}"
    );
    assert!(
        failure.actions.len() < STEPS / 4,
        "the failing run was not shortened: {} actions",
        failure.actions.len()
    );
}

#[test]
fn an_agent_that_ends_a_job_before_reading_back_its_start_reports_it_once() {
    // The agent reads one entry only, its own start, after its runner
    // finished the job: the log still shows the job running.
    let actions = [
        Action::Submit { count: 4, size: 0 },
        Action::CatchUp {
            service: 0,
            entries: 22,
        },
        Action::Decide { service: 0 },
        Action::CatchUp {
            service: 1,
            entries: 18,
        },
        Action::Decide { service: 1 },
        Action::Report {
            count: 8,
            reads: None,
        },
        Action::Advance { ms: 5_785 },
        Action::Report {
            count: 6,
            reads: Some(1),
        },
    ];
    replay(&actions, &standard_cores).unwrap_or_else(|(broken, _)| panic!("{broken}"));
}

#[test]
fn a_clock_stalled_briefly_loses_no_node_whose_heartbeat_waits() {
    // Node 2 is silent for 1.6 s, heard again, and the clock stalls for
    // 1.8 s (under the gap that resets silence) before its next check.
    let actions = [
        Action::CutNode { node: 2 },
        Action::PauseClock { ms: 1_645 },
        Action::HealNode { node: 2 },
        Action::PauseClock { ms: 1_790 },
    ];
    replay(&actions, &standard_cores).unwrap_or_else(|(broken, _)| panic!("{broken}"));
}
