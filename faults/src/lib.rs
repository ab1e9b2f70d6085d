//! A deterministic fault simulator over Rota's cores, in the manner of
//! TigerBeetle's VOPR: one seed drives a simulated cell (an in-memory log
//! with the stream's deduplication, admission, placement and fair share,
//! two agents running the real agent core, and a clock) through a workload
//! and its faults: leaders crashing and starting again from a snapshot or
//! from scratch, paused leaders waking under a stale epoch, rounds
//! published twice, nodes lost (and registered again by their agent),
//! agents crashing with every job they run, time jumping. After every step
//! it checks the invariants (no node over-committed, a leader's round at
//! the head never void, a stale leader's decisions all fenced, a retried
//! round stored once, no agent report refused, no job run by two agents,
//! every leader and agent at the head holding exactly the fold of the log),
//! and at the end that
//! every submission was decided and every job ran to its end. A failure
//! names the seed and the shortest run of actions that still fails.
//!
//! It is pure: no clock, no IO, no threads, so a seed is a reproduction.

pub mod action;
pub mod memory_log;
pub mod sim_agent;
pub mod sim_clock;
pub mod world;

use action::Action;
use rota_projections::SeededRng;
use world::{CoreFactory, World};

/// Nodes of the simulated cell: few enough that jobs queue.
pub const NODES: usize = 6;

/// Most reruns one shrink makes.
pub const SHRINK_RUNS_MAX: usize = 400;

/// How one seed's run went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub seed: u64,
    pub steps: usize,
    pub entries: u64,
    pub jobs: u64,
    pub fenced: u64,
    pub duplicates: u64,
    /// Preemptions that took effect.
    pub preempted: u64,
}

/// A broken invariant: the seed, what broke, the shortest list of actions
/// found that still breaks it, and the log that list writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub seed: u64,
    pub broken: String,
    pub actions: Vec<Action>,
    pub story: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "seed {}: {}", self.seed, self.broken)?;
        writeln!(f, "shortest failing run, {} actions:", self.actions.len())?;
        for action in &self.actions {
            writeln!(f, "  {action:?}")?;
        }
        writeln!(f, "the log it writes:")?;
        for line in &self.story {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// The cores as Rota builds them.
pub fn standard_cores(service: &str) -> Box<dyn rota_projections::ServiceCore> {
    rota_replay::standard_core(world::CELL, service).expect("a known service")
}

/// The actions seed `seed` takes over `steps` steps.
pub fn actions(seed: u64, steps: usize) -> Vec<Action> {
    let mut rng = SeededRng::new(seed);
    (0..steps)
        .map(|_| Action::random(&mut rng, NODES))
        .collect()
}

/// Runs `actions` against cores from `make_core`, checking the invariants
/// after each and settling at the end. The error is the broken invariant
/// and the log's story.
pub fn replay(actions: &[Action], make_core: &CoreFactory) -> Result<Run, (String, Vec<String>)> {
    let mut world = World::new(NODES, make_core);
    let mut checked = || -> Result<(), String> {
        for action in actions {
            world.act(*action)?;
            world.check()?;
        }
        world.settle()
    };
    match checked() {
        Ok(()) => Ok(Run {
            seed: 0,
            steps: actions.len(),
            entries: world.log.head(),
            jobs: world.reference.tally.submitted,
            fenced: world.reference.counters.fenced_decisions,
            duplicates: world.log.duplicates,
            preempted: world.reference.tally.preempted,
        }),
        Err(broken) => Err((broken, world.story())),
    }
}

/// Runs seed `seed` for `steps` steps; on a broken invariant, shrinks the
/// actions to the shortest list found that still breaks one.
pub fn run(seed: u64, steps: usize, make_core: &CoreFactory) -> Result<Run, Failure> {
    let all = actions(seed, steps);
    match replay(&all, make_core) {
        Ok(run) => Ok(Run { seed, ..run }),
        Err((broken, story)) => {
            let (actions, broken, story) = shrink(all, broken, story, make_core);
            Err(Failure {
                seed,
                broken,
                actions,
                story,
            })
        }
    }
}

/// Removes chunks of actions, halving the chunk size down to one action,
/// as long as the rest still breaks an invariant.
fn shrink(
    mut actions: Vec<Action>,
    mut broken: String,
    mut story: Vec<String>,
    make_core: &CoreFactory,
) -> (Vec<Action>, String, Vec<String>) {
    let mut runs = 0;
    let mut chunk = actions.len().div_ceil(2).max(1);
    while chunk >= 1 && runs < SHRINK_RUNS_MAX {
        let mut start = 0;
        while start < actions.len() && runs < SHRINK_RUNS_MAX {
            let mut fewer = actions.clone();
            fewer.drain(start..(start + chunk).min(actions.len()));
            runs += 1;
            match replay(&fewer, make_core) {
                Err((still, its_story)) => {
                    actions = fewer;
                    broken = still;
                    story = its_story;
                }
                Ok(_) => start += chunk,
            }
        }
        if chunk == 1 {
            break;
        }
        chunk /= 2;
    }
    (actions, broken, story)
}
