//! What a job may ask of the node it runs on, and what a node says about
//! itself: labels and label requirements, taints and tolerations, topology,
//! GPU models, extended resources, and where a job goes relative to other
//! jobs: affinity, anti-affinity and topology spread.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a taint does to jobs that do not tolerate it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TaintEffect {
    /// The job is not placed on the node.
    #[default]
    NoSchedule,
    /// The node scores lower for the job.
    PreferNoSchedule,
}

/// A mark on a node that repels jobs which do not tolerate it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Taint {
    pub key: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub effect: TaintEffect,
}

/// A job's permission to run despite matching taints.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Toleration {
    pub key: String,
    /// The taint value tolerated; absent: any value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The effect tolerated; absent: every effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
}

impl Toleration {
    pub fn tolerates(&self, taint: &Taint) -> bool {
        self.key == taint.key
            && self.value.as_ref().is_none_or(|v| *v == taint.value)
            && self.effect.is_none_or(|e| e == taint.effect)
    }
}

/// How a label requirement compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// The label is one of `values`.
    In,
    /// The label is absent or not one of `values`.
    NotIn,
    Exists,
    DoesNotExist,
}

/// A condition on a node's labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LabelRequirement {
    pub key: String,
    pub operator: Operator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl LabelRequirement {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

/// A preference: nodes matching `requirement` score `weight` (1 to 100).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Preference {
    pub weight: u32,
    pub requirement: LabelRequirement,
}

/// Node affinity: requirements every chosen node meets, and preferences.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAffinity {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<LabelRequirement>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred: Vec<Preference>,
}

impl NodeAffinity {
    pub fn is_empty(&self) -> bool {
        self.required.is_empty() && self.preferred.is_empty()
    }
}

/// Where a node sits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<String>,
}

/// Which jobs a job-affinity term or a spread constraint counts: jobs of the
/// same tenant whose labels carry every `match_labels` pair and meet every
/// `match_expressions` requirement. An empty selector matches every job of
/// the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelRequirement>,
}

impl JobSelector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

impl fmt::Display for JobSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        parts.extend(self.match_expressions.iter().map(|r| {
            let values = r.values.join("|");
            match r.operator {
                Operator::In => format!("{} in ({values})", r.key),
                Operator::NotIn => format!("{} notin ({values})", r.key),
                Operator::Exists => r.key.clone(),
                Operator::DoesNotExist => format!("!{}", r.key),
            }
        }));
        if parts.is_empty() {
            return f.write_str("any job");
        }
        f.write_str(&parts.join(","))
    }
}

/// The topology key that names a node itself.
pub const TOPOLOGY_NODE: &str = "node";
/// The topology key that names a node's zone (`topology.zone`).
pub const TOPOLOGY_ZONE: &str = "zone";
/// The topology key that names a node's rack (`topology.rack`).
pub const TOPOLOGY_RACK: &str = "rack";

/// Jobs to run near (affinity) or away from (anti-affinity): the selected
/// jobs, in the same topology domain: `node`, `zone`, `rack`, or any node
/// label key (nodes with the same value share a domain).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobAffinityTerm {
    #[serde(default)]
    pub selector: JobSelector,
    pub topology_key: String,
}

/// A preferred term and its weight (1 to 100).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WeightedJobAffinityTerm {
    pub weight: u32,
    #[serde(default)]
    pub selector: JobSelector,
    pub topology_key: String,
}

/// Required terms every chosen node meets, and preferred ones that score.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAffinity {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<JobAffinityTerm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred: Vec<WeightedJobAffinityTerm>,
}

impl JobAffinity {
    pub fn is_empty(&self) -> bool {
        self.required.is_empty() && self.preferred.is_empty()
    }
}

/// What a spread constraint does when no node keeps the skew.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum WhenUnsatisfiable {
    /// The job waits (a filter).
    #[default]
    DoNotSchedule,
    /// The job is placed anyway, preferring the least crowded domains (a
    /// score).
    ScheduleAnyway,
}

/// Spread the selected jobs evenly over the domains of `topology_key`: the
/// count in the chosen domain, with this job, may exceed the count in the
/// emptiest eligible domain by at most `max_skew`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopologySpread {
    pub topology_key: String,
    pub max_skew: u32,
    #[serde(default)]
    pub selector: JobSelector,
    #[serde(default)]
    pub when_unsatisfiable: WhenUnsatisfiable,
}

/// Everything a job asks of its node beyond cpu, memory and GPUs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints {
    /// Labels the node must carry, with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default, skip_serializing_if = "NodeAffinity::is_empty")]
    pub affinity: NodeAffinity,
    /// The GPU model the job's GPUs must be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_model: Option<String>,
    /// Named extended resources, in the node's own units.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extended: BTreeMap<String, u64>,
    /// The zone whose data the job reads: nodes there score higher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_zone: Option<String>,
    /// Jobs of the same tenant to run near.
    #[serde(default, skip_serializing_if = "JobAffinity::is_empty")]
    pub job_affinity: JobAffinity,
    /// Jobs of the same tenant to keep away from.
    #[serde(default, skip_serializing_if = "JobAffinity::is_empty")]
    pub job_anti_affinity: JobAffinity,
    /// How to spread the job and its likes over topology domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread: Vec<TopologySpread>,
}

impl Constraints {
    pub fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }

    /// True when the job's placement depends on where other jobs are.
    pub fn has_job_terms(&self) -> bool {
        !self.job_affinity.is_empty()
            || !self.job_anti_affinity.is_empty()
            || !self.topology_spread.is_empty()
    }
}
