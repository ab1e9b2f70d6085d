//! The placement service's decision core.
//!
//! Placement is the only writer that consumes capacity. Each round it stops
//! jobs that ran past their wall-clock limit ([`walltime`]) and binds pending
//! jobs in queue order (a multifactor priority: [`queue`]) under
//! the backfill policy the log says is in force ([`schedule`]): strict FCFS,
//! EASY, or conservative. A job goes to the first ready node, in name order,
//! whose free cpu, memory and GPUs cover its request ([`capacity`]); runtime
//! estimates and per-node availability over time ([`timeline`]) decide what
//! may start ahead of a waiting job.

pub mod capacity;
pub mod explain;
pub mod filter;
pub mod filter_memory;
pub mod max_tree;
pub mod neighbours;
pub mod node_trees;
pub mod queue;
pub mod schedule;
pub mod score;
pub mod tenancy;
pub mod timeline;
pub mod walltime;

use capacity::RoundMemory;
use rota_projections::{CellState, Decider, Draft, Folded};
use std::sync::Mutex;

pub use explain::{Explanation, NeverFits, explain};
pub use schedule::{Reservation, head_reservation, reservations};

/// The service's name in leases and round tags.
pub const SERVICE: &str = "placement";

/// Most pending jobs one round looks at, so that a deep queue of jobs that fit
/// nowhere cannot make a round unbounded.
pub const ROUND_JOBS_SCANNED_MAX: usize = 20_000;

/// Most jobs EASY backfill tries to give the head's reservation in one
/// round: a job that cannot be reserved anywhere (other jobs keep it off
/// every node that could take it) passes the head to the next, and each
/// try looks at every node.
pub const EASY_RESERVATION_ATTEMPTS_MAX: usize = 16;

/// Most jobs conservative backfill gives a reservation in one round. Like
/// Slurm's `bf_max_job_test`, it bounds a round's work on a deep queue; jobs
/// deeper in the queue neither start nor hold a reservation until they come
/// within reach.
pub const CONSERVATIVE_RESERVATIONS_MAX: usize = 100;

/// Placement's decision rule: walltime enforcement, then scheduling under
/// the policy in force.
///
/// It keeps what it learnt about node filters ([`filter_memory`]) and its
/// trees of the nodes' resources ([`node_trees`]) from round to round;
/// those are caches, which change no decision: a fresh `Scheduler` decides
/// every round the same.
#[derive(Debug, Default)]
pub struct Scheduler {
    memory: Mutex<RoundMemory>,
}

impl Clone for Scheduler {
    /// A clone starts with nothing remembered.
    fn clone(&self) -> Scheduler {
        Scheduler::default()
    }
}

impl Decider for Scheduler {
    const SERVICE: &'static str = SERVICE;

    fn drafts(&self, state: &CellState) -> Vec<Draft> {
        let mut drafts = walltime::timeouts(state);
        let room = rota_events::ROUND_EVENTS_MAX - drafts.len();
        // A poisoned lock only means a round panicked: the memory is a
        // cache, so start it afresh.
        let mut memory = self.memory.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            *guard = RoundMemory::default();
            guard
        });
        let (bindings, learnt) = schedule::bindings(state, room, std::mem::take(&mut *memory));
        *memory = learnt;
        drafts.extend(bindings);
        drafts
    }

    fn next_wake_ms(&self, state: &CellState) -> Option<u64> {
        walltime::next_deadline_ms(state)
    }
}

/// The placement core: the shared fold and the [`Scheduler`].
pub type Placement = Folded<Scheduler>;
