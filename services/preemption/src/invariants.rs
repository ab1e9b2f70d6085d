//! What every preemption round must keep, checked against the state it was
//! decided on: the property tests and the fault simulator ask it of every
//! round, and of every state, that no job was preempted past its most.

use crate::room::Room;
use rota_events::{Body, Event};
use rota_projections::CellState;
use rota_projections::protection::{class_preemption, protection};

/// Whether `preemptor` fits on `node` of `state` once `gone` have left.
pub fn fits_without(state: &CellState, preemptor: &str, node: &str, gone: &[&str]) -> bool {
    let (Some(job), Some(on)) = (state.jobs.get(preemptor), state.nodes.get(node)) else {
        return false;
    };
    let extended = &job.spec.constraints.extended;
    let mut room = Room::free_on(on, extended);
    for occupant in state.occupants.on_node(node) {
        if gone.contains(&occupant.job.as_str()) {
            room.release(occupant);
        }
    }
    room.fits(&job.spec.resources, extended)
}

/// The first broken rule of a round decided on `state`: a protected
/// victim, or a nomination whose victims do not make room or are not
/// minimal (one of them could be spared).
pub fn check_round(state: &CellState, round: &[Event]) -> Result<(), String> {
    for event in round {
        match &event.body {
            Body::JobPreempted(p) => {
                let Some(victim) = state.jobs.get(&p.job) else {
                    return Err(format!("{} was preempted but is not in the state", p.job));
                };
                if let Some(why) = protection(&state.policy, victim, state.now_ms) {
                    return Err(format!("{} was preempted though protected: {why}", p.job));
                }
            }
            Body::JobNominated(n) => {
                let gone: Vec<&str> = n.victims.iter().map(String::as_str).collect();
                if !fits_without(state, &n.job, &n.node, &gone) {
                    return Err(format!(
                        "{} does not fit on {} even without {gone:?}",
                        n.job, n.node
                    ));
                }
                for spared in &gone {
                    let rest: Vec<&str> = gone.iter().copied().filter(|v| v != spared).collect();
                    if fits_without(state, &n.job, &n.node, &rest) {
                        return Err(format!(
                            "the victims of {} on {} are not minimal: {spared} could be spared",
                            n.job, n.node
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The first job of `state` preempted more often than its class allows.
pub fn check_preemption_counts(state: &CellState) -> Result<(), String> {
    for (id, job) in &state.jobs {
        let max = class_preemption(&state.policy, job).max_preemptions;
        if job.preemptions > max {
            return Err(format!(
                "{id} was preempted {} times, past its class's most of {max}",
                job.preemptions
            ));
        }
    }
    Ok(())
}
