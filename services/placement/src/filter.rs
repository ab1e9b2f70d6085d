//! Filters: whether a node can ever take a job, whatever is free on it. Each
//! refusal has a short reason, counted in explanations.

use rota_events::TaintEffect;
use rota_projections::{Job, Node};

/// Why `node` can never take `job`, or None if it can (given room).
pub fn refusal(job: &Job, node: &Node) -> Option<String> {
    let constraints = &job.spec.constraints;
    if let Some((key, value)) = constraints
        .node_selector
        .iter()
        .find(|(key, value)| node.labels.get(*key) != Some(*value))
    {
        return Some(format!("node selector {key}={value} not matched"));
    }
    if let Some(requirement) = constraints
        .affinity
        .required
        .iter()
        .find(|requirement| !requirement.matches(&node.labels))
    {
        return Some(format!("node affinity on {} not matched", requirement.key));
    }
    if let Some(taint) = node.taints.iter().find(|taint| {
        taint.effect == TaintEffect::NoSchedule
            && !constraints.tolerations.iter().any(|t| t.tolerates(taint))
    }) {
        return Some(format!("untolerated taint {}={}", taint.key, taint.value));
    }
    let wants_gpus = job.spec.resources.gpus > 0 || job.spec.resources.gpu_milli > 0;
    if let Some(model) = constraints.gpu_model.as_ref().filter(|_| wants_gpus)
        && node.gpu_model.as_ref() != Some(model)
    {
        return Some(format!("gpu model is not {model}"));
    }
    if let Some((name, _)) = constraints
        .extended
        .iter()
        .find(|(name, amount)| node.extended_capacity.get(*name).copied().unwrap_or(0) < **amount)
    {
        return Some(format!("too little {name}"));
    }
    None
}

/// Untolerated soft taints on the node, which lower its score.
pub fn soft_taints(job: &Job, node: &Node) -> usize {
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
