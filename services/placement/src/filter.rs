//! Which constraint classes placement's node filters see: jobs with equal
//! keys pass and fail the same nodes, so a round remembers filter results
//! per class (`FilterKey`). The filters themselves are the fold's
//! ([`rota_projections::node_filters`]), so that placement and the fold's
//! check of every binding agree; filters that depend on other jobs are in
//! `neighbours`.

use rota_events::{LabelRequirement, Toleration};
use rota_projections::Job;
use std::collections::BTreeMap;

pub use rota_projections::node_filters::{NODE_FILTERS, NodeFilter, Refusal, refusal, soft_taints};

/// The parts of a job's constraints that filters read; jobs with equal keys
/// pass and fail the same nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterKey<'a> {
    pub node_selector: &'a BTreeMap<String, String>,
    pub required: &'a [LabelRequirement],
    pub tolerations: &'a [Toleration],
    pub gpu_model: Option<&'a str>,
    pub extended: &'a BTreeMap<String, u64>,
}

/// The job's filter key, or None when no filter but refusing taints can
/// turn a node down for it.
pub fn filter_key(job: &Job) -> Option<FilterKey<'_>> {
    let constraints = &job.spec.constraints;
    let wants_gpus = job.spec.resources.gpus > 0 || job.spec.resources.gpu_milli > 0;
    let key = FilterKey {
        node_selector: &constraints.node_selector,
        required: &constraints.affinity.required,
        tolerations: &constraints.tolerations,
        gpu_model: constraints.gpu_model.as_deref().filter(|_| wants_gpus),
        extended: &constraints.extended,
    };
    let empty = key.node_selector.is_empty()
        && key.required.is_empty()
        && key.tolerations.is_empty()
        && key.gpu_model.is_none()
        && key.extended.is_empty();
    (!empty).then_some(key)
}
