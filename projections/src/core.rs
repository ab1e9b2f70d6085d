//! The contract between a service's pure core and the shells that drive it
//! (live over NATS, in the simulator, in replay).

use crate::cell::CellState;
use crate::entry::LogEntry;
use rota_events::{Body, Event, ROUND_EVENTS_MAX, RoundTag, decision_event_id, traceparent_for};

/// A service's decision core: a fold and a decision function over it.
///
/// Invariant: `decide` reads only the folded state, so that a round decided
/// live after the event at sequence S is exactly the round replay derives
/// from `fold(log[..=S])`.
pub trait ServiceCore: Send + Sync {
    /// The service's name, as in its lease and round tags.
    fn service(&self) -> &str;

    fn state(&self) -> &CellState;

    fn state_mut(&mut self) -> &mut CellState;

    /// Folds one log entry.
    fn apply(&mut self, entry: &LogEntry) {
        self.state_mut().apply(entry);
    }

    /// The decisions that follow from the state, as a sealed round whose
    /// basis is the last applied sequence. Empty when there is nothing to do.
    fn decide(&self, epoch: u64) -> Vec<Event>;
}

/// One decision before it is sealed into a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub tenant: Option<String>,
    /// The id of the event this decision answers.
    pub causation_id: Option<String>,
    pub body: Body,
}

/// Turns drafts into a round: each event gets the round tag, a deterministic
/// id, the job as correlation id and a trace context continuing the job's.
pub fn seal_round(state: &CellState, service: &str, epoch: u64, drafts: Vec<Draft>) -> Vec<Event> {
    assert!(
        drafts.len() <= ROUND_EVENTS_MAX,
        "{service} drafted {} decisions; a round holds at most {ROUND_EVENTS_MAX}",
        drafts.len()
    );
    let basis = state.applied_seq;
    let size = u32::try_from(drafts.len()).expect("bounded above");
    drafts
        .into_iter()
        .enumerate()
        .map(|(index, draft)| {
            let index = u32::try_from(index).expect("bounded above");
            let id = decision_event_id(&state.cell, service, epoch, basis, index, state.now_ms);
            let job = draft.body.job().map(str::to_string);
            let parent = job
                .as_deref()
                .and_then(|j| state.jobs.get(j))
                .and_then(|j| j.traceparent.as_deref());
            let trace_seed = job.as_deref().unwrap_or(&id);
            let traceparent = traceparent_for(parent, trace_seed, &id);
            Event {
                id,
                cell: state.cell.clone(),
                tenant: draft.tenant,
                correlation_id: job,
                causation_id: draft.causation_id,
                traceparent: Some(traceparent),
                tracestate: None,
                round: Some(RoundTag {
                    service: service.to_string(),
                    epoch,
                    basis,
                    index,
                    size,
                }),
                body: draft.body,
            }
        })
        .collect()
}

/// A service's decision rule: what to decide from the folded state. The
/// fold itself is shared; see [`Folded`].
pub trait Decider: Send + Sync + Default {
    /// The service's name, as in its lease and round tags.
    const SERVICE: &'static str;

    /// The round's decisions before sealing, at most a round's worth.
    fn drafts(&self, state: &CellState) -> Vec<Draft>;

    /// The next log time, in milliseconds, at which the decider will have
    /// something to decide even if no other event arrives (a wall-clock limit
    /// running out). A driver with virtual time advances to it.
    fn next_wake_ms(&self, _state: &CellState) -> Option<u64> {
        None
    }
}

/// A service core made of the shared fold and a [`Decider`].
#[derive(Debug, Clone)]
pub struct Folded<D> {
    state: CellState,
    decider: D,
}

impl<D: Decider> Folded<D> {
    pub fn new(cell: &str) -> Folded<D> {
        Folded {
            state: CellState::new(cell),
            decider: D::default(),
        }
    }
}

impl<D: Decider> ServiceCore for Folded<D> {
    fn service(&self) -> &str {
        D::SERVICE
    }

    fn state(&self) -> &CellState {
        &self.state
    }

    fn state_mut(&mut self) -> &mut CellState {
        &mut self.state
    }

    fn decide(&self, epoch: u64) -> Vec<Event> {
        seal_round(
            &self.state,
            D::SERVICE,
            epoch,
            self.decider.drafts(&self.state),
        )
    }
}
