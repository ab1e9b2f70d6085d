//! The preemption service's decision core.
//!
//! When a waiting job fits on no node, and a rule of the logged policy lets
//! it (a tenant reclaiming its guarantee, a class that preempts lower
//! priorities, or optionally fair share), the service chooses the node and
//! the victims whose going makes room at the least cost, and writes the
//! decision as a round: one `job.nominated` holding that room for the job,
//! and one `job.preempted` per victim. Protected jobs are never victims,
//! and every victim set is minimal. Nominations that outlive their time
//! are written off as `job.nomination_lapsed`.

mod bounds;
pub mod invariants;
mod room;
mod round;
mod rules;
mod search;
mod victims;
mod view;

pub use room::Room;
pub use round::{PENDING_LOOKED_AT_MAX, PREEMPTORS_PER_ROUND_MAX};
pub use rules::{Allowed, rules_for};
pub use search::{Nobody, Outlook, PROTECTED_NAMED_MAX, Plan, outlook};
pub use victims::{Cost, Victim, minimal_set};
pub use view::RoundView;

use rota_projections::{CellState, Decider, Draft, Folded};

/// The service's name in leases and round tags.
pub const SERVICE: &str = "preemption";

/// The preemption service's decision rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct PreemptionRules;

impl Decider for PreemptionRules {
    const SERVICE: &'static str = SERVICE;

    fn drafts(&self, state: &CellState) -> Vec<Draft> {
        round::drafts(state)
    }

    /// The next nomination to lapse.
    fn next_wake_ms(&self, state: &CellState) -> Option<u64> {
        state
            .nominations
            .iter()
            .map(|(_, nomination)| nomination.until_ms)
            .filter(|until| *until > state.now_ms)
            .min()
    }
}

/// The preemption core: the shared fold and [`PreemptionRules`].
pub type Preemption = Folded<PreemptionRules>;

/// What preemption would do for the waiting job `id` now, as a round
/// would see it with nothing else decided.
pub fn outlook_now<'a>(state: &'a CellState, id: &'a str) -> Option<Outlook<'a>> {
    let job = state.jobs.get(id)?;
    let mut view = RoundView::of(state);
    view.use_summaries = false;
    Some(outlook(&view, id, job))
}
