//! Which running jobs no preemption may take: the rule the preemption
//! service chooses victims by and the ledger checks every preemption
//! against, so that a protected job is never a victim whoever wrote the
//! decision.

use crate::job::{Job, JobState};
use rota_events::{ClassPreemption, PlacementPolicy};
use std::fmt;

/// Why a job may not be preempted now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protected {
    /// It is not on a node, running or about to.
    NotRunning(JobState),
    /// Its class is not preemptible.
    NotPreemptible { class: Option<String> },
    /// It has run less than its class's minimum run time.
    MinRunTime { ran_ms: u64, min_ms: u64 },
    /// It has been preempted as often as its class allows.
    MaxPreemptions { count: u32, max: u32 },
    /// It was preempted less than the policy's minimum interval ago.
    TooSoon { since_ms: u64, interval_ms: u64 },
}

impl fmt::Display for Protected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protected::NotRunning(state) => write!(f, "it is {}, not running", state.as_str()),
            Protected::NotPreemptible { class } => match class {
                Some(class) => write!(f, "its class {class} is not preemptible"),
                None => write!(f, "jobs of no class are not preemptible"),
            },
            Protected::MinRunTime { ran_ms, min_ms } => write!(
                f,
                "it has run {} s of its class's minimum run time of {} s",
                ran_ms / 1000,
                min_ms / 1000
            ),
            Protected::MaxPreemptions { count, max } => write!(
                f,
                "it has been preempted {count} times, its class's most ({max})"
            ),
            Protected::TooSoon {
                since_ms,
                interval_ms,
            } => write!(
                f,
                "it was preempted {} s ago, within the minimum interval of {} s",
                since_ms / 1000,
                interval_ms / 1000
            ),
        }
    }
}

/// The class a job's preemption settings come from: the one it names, else
/// the policy's default class.
pub fn class_of<'a>(policy: &'a PlacementPolicy, job: &'a Job) -> Option<&'a str> {
    job.spec
        .priority_class
        .as_deref()
        .or(policy.default_priority_class.as_deref())
}

/// What the job's class says about preemption.
pub fn class_preemption(policy: &PlacementPolicy, job: &Job) -> ClassPreemption {
    policy.preemption.class(class_of(policy, job))
}

/// The priority preemption compares: the job's class value.
pub fn preemption_priority(policy: &PlacementPolicy, job: &Job) -> u32 {
    policy.class_value(job.spec.priority_class.as_deref())
}

/// What protection is judged on: a running job's class, how long it has run
/// and how often and how lately it was preempted.
#[derive(Debug, Clone, Copy)]
pub struct Exposure<'a> {
    pub class_name: Option<&'a str>,
    pub class: ClassPreemption,
    /// How long its current run has lasted, in milliseconds.
    pub ran_ms: u64,
    pub preemptions: u32,
    /// How long ago it was last preempted, in milliseconds, if ever.
    pub since_preempted_ms: Option<u64>,
}

impl<'a> Exposure<'a> {
    /// The exposure of `job`, on a node, at `now_ms`.
    pub fn of(policy: &'a PlacementPolicy, job: &'a Job, now_ms: u64) -> Exposure<'a> {
        Exposure {
            class_name: class_of(policy, job),
            class: class_preemption(policy, job),
            ran_ms: now_ms.saturating_sub(job.bound_ms.unwrap_or(now_ms)),
            preemptions: job.preemptions,
            since_preempted_ms: job
                .preempted
                .as_ref()
                .map(|p| now_ms.saturating_sub(p.at_ms)),
        }
    }
}

/// Why `job` may not be preempted at `now_ms`, or None when it may.
pub fn protection(policy: &PlacementPolicy, job: &Job, now_ms: u64) -> Option<Protected> {
    if !matches!(job.state, JobState::Bound | JobState::Running) {
        return Some(Protected::NotRunning(job.state));
    }
    protection_of(&Exposure::of(policy, job, now_ms), policy)
}

/// Why a running job so exposed may not be preempted, or None when it may.
pub fn protection_of(exposure: &Exposure<'_>, policy: &PlacementPolicy) -> Option<Protected> {
    let class = &exposure.class;
    if !class.preemptible {
        let class = exposure.class_name.map(str::to_string);
        return Some(Protected::NotPreemptible { class });
    }
    let min_ms = class.min_run_s.saturating_mul(1000);
    if exposure.ran_ms < min_ms {
        return Some(Protected::MinRunTime {
            ran_ms: exposure.ran_ms,
            min_ms,
        });
    }
    if exposure.preemptions >= class.max_preemptions {
        return Some(Protected::MaxPreemptions {
            count: exposure.preemptions,
            max: class.max_preemptions,
        });
    }
    let interval_ms = policy.preemption.min_interval_s.saturating_mul(1000);
    match exposure.since_preempted_ms {
        Some(since_ms) if since_ms < interval_ms => Some(Protected::TooSoon {
            since_ms,
            interval_ms,
        }),
        _ => None,
    }
}
