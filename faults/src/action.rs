//! What can happen in one step of a simulated cell. An action is data, so
//! that a failing run can be replayed with actions taken out (shrinking);
//! one that no longer makes sense where it is replayed does nothing.

use rota_projections::SeededRng;

/// The services whose cores the simulation runs, each with its own
/// leader, snapshots and lease.
pub const SERVICES: [&str; 4] = ["admission", "placement", "fairshare", "preemption"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A client submits `count` jobs of size class `size`.
    Submit { count: u8, size: u8 },
    /// A service's leader folds up to `entries` more entries.
    CatchUp { service: usize, entries: u16 },
    /// A service's leader, if it is at the head, decides a round and
    /// publishes it.
    Decide { service: usize },
    /// The agents read the log, start and stop what their cores say, and
    /// each reports up to `count` jobs whose time is up. With `reads`, an
    /// agent reads at most that many entries first, as a live agent whose
    /// runner reports before its reader has caught up.
    Report { count: u8, reads: Option<u8> },
    /// A service's leader crashes; its successor starts from its last
    /// snapshot or from scratch and claims the next epoch. With
    /// `keep_stale`, the crashed one was only paused and may wake later.
    Crash {
        service: usize,
        from_snapshot: bool,
        keep_stale: bool,
    },
    /// A paused leader wakes and publishes what it decides.
    WakeStale,
    /// The last round is published again (a retry after a lost ack).
    Duplicate,
    /// A node's heartbeats stop reaching the clock (its agent lives on).
    CutNode { node: u16 },
    /// A cut-off node's heartbeats reach the clock again.
    HealNode { node: u16 },
    /// The clock stops for `ms` of log time, then wakes.
    PauseClock { ms: u16 },
    /// An agent's process crashes with every job it runs and starts
    /// again: it registers its nodes anew and reports what it finds.
    CrashAgent { agent: u8 },
    /// A service's leader writes a snapshot.
    Snapshot { service: usize },
    /// Log time passes, the clock running.
    Advance { ms: u16 },
}

impl Action {
    /// One action, chosen by `rng` with weights that keep the cell busy
    /// and faulty.
    pub fn random(rng: &mut SeededRng, nodes: usize) -> Action {
        let service = rng.below(SERVICES.len() as u64) as usize;
        let node = rng.below(nodes as u64) as u16;
        match rng.below(100) {
            0..=19 => Action::Submit {
                count: 1 + rng.below(5) as u8,
                size: rng.below(4) as u8,
            },
            20..=44 => Action::CatchUp {
                service,
                entries: 1 + rng.below(40) as u16,
            },
            45..=69 => Action::Decide { service },
            70..=81 => Action::Report {
                count: 1 + rng.below(10) as u8,
                reads: (rng.below(2) == 0).then(|| rng.below(8) as u8),
            },
            82..=84 => Action::Crash {
                service,
                from_snapshot: rng.below(2) == 0,
                keep_stale: rng.below(2) == 0,
            },
            85..=87 => Action::WakeStale,
            88..=90 => Action::Duplicate,
            91 => Action::CutNode { node },
            92 => Action::HealNode { node },
            93..=95 => Action::CrashAgent {
                agent: rng.below(8) as u8,
            },
            96 => Action::Snapshot { service },
            97..=98 => Action::Advance {
                ms: rng.below(2_000) as u16,
            },
            _ => Action::PauseClock {
                ms: rng.below(10_000) as u16,
            },
        }
    }
}
