//! The placement policy: how placement fills the machine (backfill), how it
//! chooses among nodes (strategy and scorer weights), how it orders the
//! queue (a multifactor priority with priority classes) and how many jobs
//! admission lets wait in that queue. It is an event, `policy.set`, so live
//! services, replay and the simulator use the same one.

use crate::names::check_name;
use crate::preemption::PreemptionPolicy;
use crate::retention::Retention;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest weight of one scorer under the weighted strategy.
pub const SCORER_WEIGHT_MAX: u32 = 100;

/// Largest weight of one factor of the queue's multifactor priority.
pub const QUEUE_WEIGHT_MAX: u32 = 1000;

/// Longest default runtime estimate and age horizon, in seconds (30 days).
pub const POLICY_DURATION_S_MAX: u64 = 30 * 24 * 3600;

/// Most priority classes a policy defines.
pub const PRIORITY_CLASSES_MAX: usize = 32;

/// Largest value of a priority class: class values are the class factor of
/// the multifactor priority, 0 to 1000.
pub const PRIORITY_CLASS_VALUE_MAX: u32 = 1000;

/// How many jobs may wait for placement in a cell unless the policy says
/// otherwise: enough for any burst a real cell sees, few enough that the
/// fold's pending queue stays small in memory.
pub const PENDING_JOBS_MAX_DEFAULT: u64 = 100_000;

/// The largest `pending_jobs_max` a policy may set, so that no policy can
/// leave admission's backlog effectively unbounded.
pub const PENDING_JOBS_MAX_LIMIT: u64 = 1_000_000;

/// How many jobs of one tenant may wait for placement at once unless the
/// policy says otherwise: a quarter of the cell's default queue, so that one
/// tenant's flood cannot fill the queue and starve the others.
pub const PENDING_JOBS_PER_TENANT_MAX_DEFAULT: u64 = 25_000;

/// How placement fills the machine around the queue's head.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Backfill {
    /// Strict queue order: nothing starts ahead of a job that is waiting.
    Fcfs,
    /// EASY: the first waiting job gets a reservation; a later job starts
    /// early only if it does not delay that reservation.
    #[default]
    Easy,
    /// Every waiting job (up to a bounded depth) gets a reservation; a job
    /// starts early only if it delays none of them.
    Conservative,
}

impl Backfill {
    pub fn as_str(&self) -> &'static str {
        match self {
            Backfill::Fcfs => "fcfs",
            Backfill::Easy => "easy",
            Backfill::Conservative => "conservative",
        }
    }
}

/// How placement chooses among the nodes a job fits on.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Fill the fullest nodes first, keeping whole nodes free.
    Binpack,
    /// Fill the emptiest nodes first, spreading load.
    Spread,
    /// The weighted sum of every scorer.
    #[default]
    Weighted,
}

impl Strategy {
    pub fn as_str(&self) -> &'static str {
        match self {
            Strategy::Binpack => "binpack",
            Strategy::Spread => "spread",
            Strategy::Weighted => "weighted",
        }
    }
}

/// The weights of the scorers under the weighted strategy, each 0 to
/// [`SCORER_WEIGHT_MAX`]; a weight of 0 turns a scorer off. Fields left
/// out take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Weights {
    /// How full the node would be (fuller scores higher).
    pub resource_fit: u32,
    /// The job's stated preferences: preferred node affinity, preferred
    /// affinity and anti-affinity to other jobs, soft topology spread, and
    /// no untolerated soft taints.
    pub affinity: u32,
    /// How evenly the node's cpu and memory would be used.
    pub load_balance: u32,
    /// The node is in the zone of the job's data.
    pub data_locality: u32,
    /// Cheaper nodes score higher.
    pub cost: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            resource_fit: 30,
            affinity: 20,
            load_balance: 20,
            data_locality: 20,
            cost: 10,
        }
    }
}

/// How the pending queue is ordered: a Slurm-style multifactor priority,
/// the weighted sum of factors each from 0 to 1000. Fields left out take
/// their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueWeights {
    /// The job's own priority (-1000 to 1000, mapped to 0 to 1000).
    pub priority: u32,
    /// The value of the job's priority class (0 to 1000).
    pub class: u32,
    /// Time waited since submission, growing to 1000 at `age_max_s`.
    pub age: u32,
    /// The tenant's fair-share factor; 500 (neutral) for every tenant until
    /// fair-share accounting publishes factors.
    pub fair_share: u32,
    /// The wait at which the age factor is full, in seconds.
    pub age_max_s: u64,
}

impl Default for QueueWeights {
    fn default() -> Self {
        QueueWeights {
            priority: 1000,
            class: 1000,
            age: 100,
            fair_share: 1000,
            age_max_s: 7 * 24 * 3600,
        }
    }
}

/// The placement policy in force. It is an event, so replay and the
/// simulator use exactly the policy the live service used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementPolicy {
    #[serde(default)]
    pub backfill: Backfill,
    /// The runtime estimate of a job that declares neither a wall-clock limit
    /// nor a duration, in seconds.
    #[serde(default = "default_estimate_s")]
    pub default_estimate_s: u64,
    #[serde(default)]
    pub strategy: Strategy,
    #[serde(default)]
    pub weights: Weights,
    #[serde(default)]
    pub queue: QueueWeights,
    /// Priority classes by name, each with its value (0 to 1000): the class
    /// factor of the jobs that name it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub priority_classes: BTreeMap<String, u32>,
    /// The class of jobs that name none; without it their class factor is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_priority_class: Option<String>,
    /// Most jobs that may wait for placement in the cell at once: admission
    /// refuses further submissions, asking the client to retry, until some
    /// leave the queue. Logs written before the field existed read as the
    /// default.
    #[serde(default = "default_pending_jobs_max")]
    pub pending_jobs_max: u64,
    /// Most jobs of any one tenant that may wait for placement at once, so
    /// that one tenant cannot fill the cell's queue: past it, that tenant's
    /// submissions are refused with a reason that asks it to retry, while
    /// other tenants' are still admitted. A tenant's own `max_pending_jobs`
    /// in the tenant tree may be lower. Logs written before the field
    /// existed read as the default.
    #[serde(default = "default_pending_jobs_per_tenant_max")]
    pub pending_jobs_per_tenant_max: u64,
    /// Which ended jobs the fold keeps. Logs written before the field
    /// existed read as the default.
    #[serde(default)]
    pub retention: Retention,
    /// When a waiting job may take room from running ones. Logs written
    /// before the field existed read as the default, which preempts
    /// nothing.
    #[serde(default, skip_serializing_if = "PreemptionPolicy::is_default")]
    pub preemption: PreemptionPolicy,
}

fn default_estimate_s() -> u64 {
    3600
}

fn default_pending_jobs_max() -> u64 {
    PENDING_JOBS_MAX_DEFAULT
}

fn default_pending_jobs_per_tenant_max() -> u64 {
    PENDING_JOBS_PER_TENANT_MAX_DEFAULT
}

impl Default for PlacementPolicy {
    fn default() -> Self {
        PlacementPolicy {
            backfill: Backfill::default(),
            default_estimate_s: default_estimate_s(),
            strategy: Strategy::default(),
            weights: Weights::default(),
            queue: QueueWeights::default(),
            priority_classes: BTreeMap::new(),
            default_priority_class: None,
            pending_jobs_max: default_pending_jobs_max(),
            pending_jobs_per_tenant_max: default_pending_jobs_per_tenant_max(),
            retention: Retention::default(),
            preemption: PreemptionPolicy::default(),
        }
    }
}

impl PlacementPolicy {
    /// Checks every value; the error says which field, its value and what
    /// would be accepted.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=POLICY_DURATION_S_MAX).contains(&self.default_estimate_s) {
            return Err(format!(
                "default_estimate_s is {}; it must be 1 to {POLICY_DURATION_S_MAX} seconds",
                self.default_estimate_s
            ));
        }
        let w = &self.weights;
        for (name, weight) in [
            ("resource_fit", w.resource_fit),
            ("affinity", w.affinity),
            ("load_balance", w.load_balance),
            ("data_locality", w.data_locality),
            ("cost", w.cost),
        ] {
            if weight > SCORER_WEIGHT_MAX {
                return Err(format!(
                    "weights.{name} is {weight}; a scorer weight must be 0 to {SCORER_WEIGHT_MAX}"
                ));
            }
        }
        let q = &self.queue;
        for (name, weight) in [
            ("priority", q.priority),
            ("class", q.class),
            ("age", q.age),
            ("fair_share", q.fair_share),
        ] {
            if weight > QUEUE_WEIGHT_MAX {
                return Err(format!(
                    "queue.{name} is {weight}; a queue weight must be 0 to {QUEUE_WEIGHT_MAX}"
                ));
            }
        }
        if !(1..=POLICY_DURATION_S_MAX).contains(&q.age_max_s) {
            return Err(format!(
                "queue.age_max_s is {}; it must be 1 to {POLICY_DURATION_S_MAX} seconds",
                q.age_max_s
            ));
        }
        self.validate_pending_jobs_max()?;
        self.retention.validate()?;
        self.validate_classes()?;
        self.preemption.validate(&self.priority_classes)
    }

    fn validate_pending_jobs_max(&self) -> Result<(), String> {
        for (name, value) in [
            ("pending_jobs_max", self.pending_jobs_max),
            (
                "pending_jobs_per_tenant_max",
                self.pending_jobs_per_tenant_max,
            ),
        ] {
            if !(1..=PENDING_JOBS_MAX_LIMIT).contains(&value) {
                return Err(format!(
                    "{name} is {value}; it must be 1 to {PENDING_JOBS_MAX_LIMIT} jobs"
                ));
            }
        }
        Ok(())
    }

    fn validate_classes(&self) -> Result<(), String> {
        if self.priority_classes.len() > PRIORITY_CLASSES_MAX {
            return Err(format!(
                "there are {} priority classes; a policy may define at most {PRIORITY_CLASSES_MAX}",
                self.priority_classes.len()
            ));
        }
        for (name, value) in &self.priority_classes {
            check_name("priority class", name).map_err(|e| e.to_string())?;
            if *value > PRIORITY_CLASS_VALUE_MAX {
                return Err(format!(
                    "priority class {name:?} has value {value}; a class value must be 0 to {PRIORITY_CLASS_VALUE_MAX}"
                ));
            }
        }
        match &self.default_priority_class {
            Some(name) if !self.priority_classes.contains_key(name) => Err(format!(
                "default_priority_class is {name:?}, which is not a class; the classes are: {}",
                self.class_names()
            )),
            _ => Ok(()),
        }
    }

    /// The classes' names, comma-separated, for messages.
    pub fn class_names(&self) -> String {
        if self.priority_classes.is_empty() {
            return "none (the policy defines no priority classes)".to_string();
        }
        let names: Vec<&str> = self.priority_classes.keys().map(String::as_str).collect();
        names.join(", ")
    }

    /// The class factor of a job naming `class` (or none): its class's value,
    /// else the default class's, else 0.
    pub fn class_value(&self, class: Option<&str>) -> u32 {
        class
            .or(self.default_priority_class.as_deref())
            .and_then(|name| self.priority_classes.get(name))
            .copied()
            .unwrap_or(0)
    }
}

/// An operator set the cell's placement policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySet {
    pub placement: PlacementPolicy,
}
