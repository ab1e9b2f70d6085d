//! Node filters: whether a node can ever take a job, whatever is free on it.
//! Each is a small named check ([`NODE_FILTERS`]); each refusal has a
//! reason. Placement applies them to choose nodes and explain waits, and the
//! fold applies them to every binding, so that a binding onto a node the
//! job's own constraints forbid is void whoever wrote it. Their results
//! depend only on the job's constraints and the node's registration.

use crate::{Job, Node};
use rota_events::TaintEffect;
use std::fmt;

/// Why a node can never take a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal<'a> {
    Selector { key: &'a str, value: &'a str },
    Affinity { key: &'a str },
    Taint { key: &'a str, value: &'a str },
    GpuModel { model: &'a str },
    Extended { name: &'a str },
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Selector { key, value } => {
                write!(f, "node selector {key}={value} not matched")
            }
            Refusal::Affinity { key } => write!(f, "node affinity on {key} not matched"),
            Refusal::Taint { key, value } => write!(f, "untolerated taint {key}={value}"),
            Refusal::GpuModel { model } => write!(f, "gpu model is not {model}"),
            Refusal::Extended { name } => write!(f, "too little {name}"),
        }
    }
}

/// One node filter: a name (as in explanations and documentation) and the
/// check, which says why the node can never take the job, or None.
pub struct NodeFilter {
    pub name: &'static str,
    pub check: for<'a> fn(&'a Job, &'a Node) -> Option<Refusal<'a>>,
}

/// The node filters, in the order they are applied; the first refusal is
/// the one an explanation counts.
pub const NODE_FILTERS: [NodeFilter; 5] = [
    NodeFilter {
        name: "node_selector",
        check: node_selector,
    },
    NodeFilter {
        name: "node_affinity",
        check: node_affinity,
    },
    NodeFilter {
        name: "taints",
        check: taints,
    },
    NodeFilter {
        name: "gpu_model",
        check: gpu_model,
    },
    NodeFilter {
        name: "extended_resources",
        check: extended_resources,
    },
];

/// Why `node` can never take `job`, or None if it can (given room).
pub fn refusal<'a>(job: &'a Job, node: &'a Node) -> Option<Refusal<'a>> {
    NODE_FILTERS
        .iter()
        .find_map(|filter| (filter.check)(job, node))
}

/// Every label the job selects, with the value it selects.
fn node_selector<'a>(job: &'a Job, node: &'a Node) -> Option<Refusal<'a>> {
    job.spec
        .constraints
        .node_selector
        .iter()
        .find(|(key, value)| node.labels.get(*key) != Some(*value))
        .map(|(key, value)| Refusal::Selector { key, value })
}

/// Every required node affinity requirement.
fn node_affinity<'a>(job: &'a Job, node: &'a Node) -> Option<Refusal<'a>> {
    job.spec
        .constraints
        .affinity
        .required
        .iter()
        .find(|requirement| !requirement.matches(&node.labels))
        .map(|requirement| Refusal::Affinity {
            key: &requirement.key,
        })
}

/// No `no_schedule` taint the job does not tolerate.
fn taints<'a>(job: &'a Job, node: &'a Node) -> Option<Refusal<'a>> {
    let tolerations = &job.spec.constraints.tolerations;
    node.taints
        .iter()
        .find(|taint| {
            taint.effect == TaintEffect::NoSchedule
                && !tolerations.iter().any(|t| t.tolerates(taint))
        })
        .map(|taint| Refusal::Taint {
            key: &taint.key,
            value: &taint.value,
        })
}

/// The GPU model the job asks for, when it asks for GPUs.
fn gpu_model<'a>(job: &'a Job, node: &'a Node) -> Option<Refusal<'a>> {
    let wants_gpus = job.spec.resources.gpus > 0 || job.spec.resources.gpu_milli > 0;
    job.spec
        .constraints
        .gpu_model
        .as_ref()
        .filter(|model| wants_gpus && node.gpu_model.as_ref() != Some(*model))
        .map(|model| Refusal::GpuModel { model })
}

/// Enough of each extended resource in the node's whole capacity.
fn extended_resources<'a>(job: &'a Job, node: &'a Node) -> Option<Refusal<'a>> {
    job.spec
        .constraints
        .extended
        .iter()
        .find(|(name, amount)| node.extended_capacity.get(*name).copied().unwrap_or(0) < **amount)
        .map(|(name, _)| Refusal::Extended { name })
}

/// Untolerated soft taints on the node, which lower its score.
pub fn soft_taints(job: &Job, node: &Node) -> usize {
    if node.taints.is_empty() {
        return 0;
    }
    node.taints
        .iter()
        .filter(|taint| {
            taint.effect == TaintEffect::PreferNoSchedule
                && !job
                    .spec
                    .constraints
                    .tolerations
                    .iter()
                    .any(|t| t.tolerates(taint))
        })
        .count()
}
