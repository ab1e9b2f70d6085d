//! A job's life as one table: for each state and each thing that can
//! happen to a job, the state it moves to or why the ledger refuses it.
//! Every handler of the ledger asks this table, so the whole state machine
//! is read here and nowhere else.

use crate::job::JobState;

/// What can happen to a job, as the ledger sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobInput {
    /// Admission took the submission.
    Admitted,
    /// Admission refused the submission.
    Rejected,
    /// Admission took a cancellation request of the job's tenant.
    Cancelled,
    /// Placement bound the job to a node (whose room is checked apart).
    Bound,
    /// The job's agent reported it started on the job's node.
    Started,
    /// The job's agent reported it ended on the job's node.
    Finished,
    /// Placement stopped the job at its wall-clock limit.
    TimedOut,
    /// The clock declared the job's node lost.
    NodeLost,
    /// The preemption service stopped the job to make room for another.
    Preempted,
}

impl JobInput {
    /// Every input, for tables and their tests.
    pub const ALL: [JobInput; 9] = [
        JobInput::Admitted,
        JobInput::Rejected,
        JobInput::Cancelled,
        JobInput::Bound,
        JobInput::Started,
        JobInput::Finished,
        JobInput::TimedOut,
        JobInput::NodeLost,
        JobInput::Preempted,
    ];
}

/// Where an input takes a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    To(JobState),
    /// The job ends as its stop asked: cancelled when its tenant cancelled
    /// it, finished when placement stopped it at its limit; when it was
    /// preempted, cancelled or waiting again, as its preemption's mode says.
    EndAsStopped,
    /// Nothing changes, and nothing is wrong: a start reported again.
    Stay,
}

/// Why the ledger takes no step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A decision that no longer applies when it lands (the job moved on
    /// since its basis): counted, not answered.
    Void,
    /// A report about a job that holds no node: refused, and answered with
    /// the job's state.
    HoldsNoNode,
}

/// The table: the step `input` takes from `state`.
pub fn next(state: JobState, input: JobInput) -> Result<Move, Refusal> {
    use JobInput as I;
    use JobState as S;
    use Move::{EndAsStopped, Stay, To};
    use Refusal::{HoldsNoNode, Void};
    match (state, input) {
        (S::Submitted, I::Admitted) => Ok(To(S::Pending)),
        (S::Submitted, I::Rejected) => Ok(To(S::Rejected)),
        (S::Submitted | S::Pending, I::Cancelled) => Ok(To(S::Cancelled)),
        (S::Pending, I::Bound) => Ok(To(S::Bound)),
        (S::Bound | S::Running, I::Cancelled | I::TimedOut) => Ok(To(S::Cancelling)),
        // A tenant's cancellation outranks a preemption: the job ends
        // cancelled rather than waiting again.
        (S::Preempting, I::Cancelled) => Ok(To(S::Cancelling)),
        (S::Bound | S::Running, I::Preempted) => Ok(To(S::Preempting)),
        (S::Bound, I::Started) => Ok(To(S::Running)),
        (S::Running | S::Cancelling | S::Preempting, I::Started) => Ok(Stay),
        (S::Bound | S::Running, I::Finished) => Ok(To(S::Finished)),
        (S::Cancelling | S::Preempting, I::Finished) => Ok(EndAsStopped),
        // A job whose node is lost waits again, unless it was being stopped
        // anyway: then it has ended.
        (S::Bound | S::Running, I::NodeLost) => Ok(To(S::Pending)),
        (S::Cancelling, I::NodeLost) => Ok(To(S::Cancelled)),
        (S::Preempting, I::NodeLost) => Ok(EndAsStopped),
        (state, I::Started | I::Finished) if !state.holds_node() => Err(HoldsNoNode),
        _ => Err(Void),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [JobState; 9] = [
        JobState::Submitted,
        JobState::Pending,
        JobState::Bound,
        JobState::Running,
        JobState::Cancelling,
        JobState::Preempting,
        JobState::Finished,
        JobState::Rejected,
        JobState::Cancelled,
    ];

    #[test]
    fn nothing_moves_a_job_that_has_ended() {
        for state in STATES.into_iter().filter(JobState::is_terminal) {
            for input in JobInput::ALL {
                assert!(next(state, input).is_err(), "{state:?} x {input:?}");
            }
        }
    }

    #[test]
    fn a_job_holds_a_node_exactly_between_its_binding_and_its_end() {
        for state in STATES {
            for input in JobInput::ALL {
                let Ok(Move::To(to)) = next(state, input) else {
                    continue;
                };
                let takes_node = !state.holds_node() && to.holds_node();
                assert_eq!(
                    takes_node,
                    input == JobInput::Bound,
                    "{state:?} x {input:?}"
                );
            }
        }
    }

    #[test]
    fn reports_about_a_job_off_every_node_are_refused_not_void() {
        for state in STATES.into_iter().filter(|s| !s.holds_node()) {
            for input in [JobInput::Started, JobInput::Finished] {
                assert_eq!(next(state, input), Err(Refusal::HoldsNoNode));
            }
        }
    }

    #[test]
    fn a_job_is_preempted_at_most_once_a_run() {
        for state in STATES {
            let preempted = next(state, JobInput::Preempted);
            let running = matches!(state, JobState::Bound | JobState::Running);
            assert_eq!(preempted.is_ok(), running, "{state:?}");
        }
    }

    #[test]
    fn only_admission_moves_a_submitted_job() {
        for input in JobInput::ALL {
            let moved = next(JobState::Submitted, input).is_ok();
            let by_admission = matches!(
                input,
                JobInput::Admitted | JobInput::Rejected | JobInput::Cancelled
            );
            assert_eq!(moved, by_admission, "{input:?}");
        }
    }
}
