//! What a job may ask of the node it runs on, and what a node says about
//! itself: labels and label requirements, taints and tolerations, topology,
//! GPU models, extended resources.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
}

impl Constraints {
    pub fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }
}
