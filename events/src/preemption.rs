//! Preemption: the policy that says when a waiting job may take room from
//! running ones, what a job declares about being stopped early, and the
//! events the preemption service writes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The longest grace period a class or a job may ask for, in seconds: how
/// long a preempted job may go on running while it checkpoints.
pub const PREEMPTION_GRACE_S_MAX: u64 = 3600;

/// The most victims one preemption round may name, whatever the policy.
pub const ROUND_PREEMPTIONS_LIMIT: u32 = 1000;

/// The longest a policy may hold room for a preemptor, in seconds.
pub const NOMINATION_S_MAX: u64 = 24 * 3600;

/// The longest a policy may protect a job after it started or after it was
/// last preempted, in seconds (a week).
pub const PREEMPTION_PROTECTION_S_MAX: u64 = 7 * 24 * 3600;

/// The most times a policy may let one job be preempted.
pub const PREEMPTIONS_PER_JOB_LIMIT: u32 = 100;

/// The lowest fair-share threshold, in thousandths: a tenant must be at
/// most this far below its fair share for fair-share preemption.
pub const FAIR_SHARE_THRESHOLD_MILLI_MAX: u32 = 1000;

/// Whether the jobs of a class may preempt others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preempts {
    /// Its jobs wait for room; they never take it.
    #[default]
    Never,
    /// Its jobs may preempt running jobs of strictly lower priority.
    LowerPriority,
}

/// What happens to a victim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreemptionMode {
    /// The victim is stopped and ends, cancelled.
    Cancel,
    /// The victim is stopped and waits again, keeping its place in the
    /// queue (its original submission time).
    #[default]
    Requeue,
    /// The victim is asked to checkpoint (its declared signal or command),
    /// given its grace period, then stopped and requeued; it resumes from
    /// the checkpoint when it declares that it can.
    Checkpoint,
}

impl PreemptionMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            PreemptionMode::Cancel => "cancel",
            PreemptionMode::Requeue => "requeue",
            PreemptionMode::Checkpoint => "checkpoint",
        }
    }
}

/// Why a job was preempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreemptionRule {
    /// A tenant below its guaranteed quota took back capacity another
    /// tenant held by borrowing.
    Reclaim,
    /// A job of a class that may preempt took room from jobs of strictly
    /// lower priority.
    Priority,
    /// A tenant far below its fair share took room from the most
    /// over-served tenant's newest jobs.
    FairShare,
}

impl PreemptionRule {
    pub fn as_str(&self) -> &'static str {
        match self {
            PreemptionRule::Reclaim => "reclaim",
            PreemptionRule::Priority => "priority",
            PreemptionRule::FairShare => "fair_share",
        }
    }
}

/// What a priority class says about preemption. Fields left out take their
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClassPreemption {
    /// Whether its jobs may preempt others.
    pub preempts: Preempts,
    /// Whether its jobs may be preempted at all.
    pub preemptible: bool,
    /// What happens to its jobs when they are preempted.
    pub mode: PreemptionMode,
    /// How long its jobs may run on after being asked to checkpoint, in
    /// seconds (a job may ask for its own, up to
    /// [`PREEMPTION_GRACE_S_MAX`]).
    pub grace_s: u64,
    /// How long its jobs are protected after they start, in seconds
    /// (Slurm's PreemptExemptTime).
    pub min_run_s: u64,
    /// How many times one of its jobs may be preempted; after that it is
    /// protected.
    pub max_preemptions: u32,
}

impl Default for ClassPreemption {
    fn default() -> Self {
        ClassPreemption {
            preempts: Preempts::Never,
            preemptible: true,
            mode: PreemptionMode::Requeue,
            grace_s: 30,
            min_run_s: 0,
            max_preemptions: 3,
        }
    }
}

impl ClassPreemption {
    /// A class whose jobs preempt lower priorities and are never preempted
    /// themselves.
    pub fn preempting() -> ClassPreemption {
        ClassPreemption {
            preempts: Preempts::LowerPriority,
            preemptible: false,
            ..ClassPreemption::default()
        }
    }
}

/// Fair-share preemption: off unless the policy has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FairSharePreemption {
    /// A tenant whose fair-share factor is at least this far (thousandths
    /// of the factor's range) above the most over-served tenant's may
    /// preempt that tenant's newest jobs. The gap keeps two tenants near
    /// their shares from taking room back and forth.
    pub threshold_milli: u32,
}

/// The cell's preemption policy, part of the placement policy. Fields left
/// out take their defaults; by default no class preempts and reclaim is
/// off, so nothing is ever preempted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PreemptionPolicy {
    /// By priority class name; a class not listed, and jobs of no class,
    /// take `ClassPreemption::default()`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub classes: BTreeMap<String, ClassPreemption>,
    /// Whether a tenant below its guaranteed quota with waiting jobs takes
    /// back capacity others hold by borrowing, before any priority
    /// preemption.
    pub reclaim: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fair_share: Option<FairSharePreemption>,
    /// The most victims one round may name.
    pub round_preemptions_max: u32,
    /// The least time between two preemptions of one job, in seconds.
    pub min_interval_s: u64,
    /// How long the room freed for a preemptor is held for it, in seconds;
    /// then the nomination lapses.
    pub nomination_s: u64,
}

impl Default for PreemptionPolicy {
    fn default() -> Self {
        PreemptionPolicy {
            classes: BTreeMap::new(),
            reclaim: false,
            fair_share: None,
            round_preemptions_max: 64,
            min_interval_s: 300,
            nomination_s: 300,
        }
    }
}

impl PreemptionPolicy {
    pub fn is_default(&self) -> bool {
        *self == PreemptionPolicy::default()
    }

    /// What the class `class` (or the default class, for None) says.
    pub fn class(&self, class: Option<&str>) -> ClassPreemption {
        class
            .and_then(|name| self.classes.get(name))
            .copied()
            .unwrap_or_default()
    }

    /// True when some rule could ever preempt a job.
    pub fn can_preempt(&self) -> bool {
        self.reclaim
            || self.fair_share.is_some()
            || self
                .classes
                .values()
                .any(|c| c.preempts == Preempts::LowerPriority)
    }

    /// Checks every value against the priority classes `classes`; the
    /// error says which field, its value and what would be accepted.
    pub fn validate(&self, classes: &BTreeMap<String, u32>) -> Result<(), String> {
        for (name, class) in &self.classes {
            if !classes.contains_key(name) {
                let known: Vec<&str> = classes.keys().map(String::as_str).collect();
                return Err(format!(
                    "preemption.classes names {name:?}, which is not a priority class; the classes are: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
            let field = |f: &str| format!("preemption.classes.{name}.{f}");
            check_at_most(
                &field("grace_s"),
                class.grace_s,
                PREEMPTION_GRACE_S_MAX,
                "seconds",
            )?;
            check_at_most(
                &field("min_run_s"),
                class.min_run_s,
                PREEMPTION_PROTECTION_S_MAX,
                "seconds",
            )?;
            check_at_most(
                &field("max_preemptions"),
                u64::from(class.max_preemptions),
                u64::from(PREEMPTIONS_PER_JOB_LIMIT),
                "preemptions",
            )?;
        }
        if !(1..=ROUND_PREEMPTIONS_LIMIT).contains(&self.round_preemptions_max) {
            return Err(format!(
                "preemption.round_preemptions_max is {}; it must be 1 to {ROUND_PREEMPTIONS_LIMIT} victims",
                self.round_preemptions_max
            ));
        }
        check_at_most(
            "preemption.min_interval_s",
            self.min_interval_s,
            PREEMPTION_PROTECTION_S_MAX,
            "seconds",
        )?;
        if !(1..=NOMINATION_S_MAX).contains(&self.nomination_s) {
            return Err(format!(
                "preemption.nomination_s is {}; it must be 1 to {NOMINATION_S_MAX} seconds",
                self.nomination_s
            ));
        }
        if let Some(fair) = &self.fair_share
            && !(1..=FAIR_SHARE_THRESHOLD_MILLI_MAX).contains(&fair.threshold_milli)
        {
            return Err(format!(
                "preemption.fair_share.threshold_milli is {}; it must be 1 to {FAIR_SHARE_THRESHOLD_MILLI_MAX}",
                fair.threshold_milli
            ));
        }
        Ok(())
    }
}

fn check_at_most(field: &str, value: u64, max: u64, unit: &str) -> Result<(), String> {
    match value <= max {
        true => Ok(()),
        false => Err(format!("{field} is {value}; it must be 0 to {max} {unit}")),
    }
}

/// How a job asks to be checkpointed when it is preempted in checkpoint
/// mode: a signal its process handles, or a command the agent runs beside
/// it. With neither, the agent sends SIGTERM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The signal's name (`SIGTERM`, `SIGUSR1`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// A program and its arguments, run without a shell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// The job can resume from a checkpoint: when it runs again after one,
    /// the agent sets `ROTA_RESUME=1` in its environment.
    #[serde(default)]
    pub resumable: bool,
    /// The job's own grace period, in seconds, in place of its class's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_s: Option<u64>,
}

/// The signals a checkpoint may name.
pub const CHECKPOINT_SIGNALS: [&str; 5] = ["SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2", "SIGHUP"];

/// The preemption service stopped a running job to make room for another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPreempted {
    /// The victim.
    pub job: String,
    pub node: String,
    /// The job the room is for.
    pub preemptor: String,
    pub rule: PreemptionRule,
    pub mode: PreemptionMode,
    /// How long the victim may run on to checkpoint, in seconds (0 unless
    /// the mode is checkpoint).
    #[serde(default)]
    pub grace_s: u64,
    /// The run time the victim loses, in milliseconds: since its current
    /// run began.
    pub lost_ms: u64,
}

/// The preemption service holds room on `node` for `job`: placement gives
/// it to no other job while the victims drain, until `until_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobNominated {
    pub job: String,
    pub node: String,
    /// The victims being stopped for it, in the order preempted.
    pub victims: Vec<String>,
    /// When the nomination lapses unless the job was bound, in log
    /// milliseconds.
    pub until_ms: u64,
}

/// The room held for `job` on `node` is no longer held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NominationLapsed {
    pub job: String,
    pub node: String,
    pub reason: String,
}
