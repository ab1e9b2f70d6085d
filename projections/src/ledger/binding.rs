//! Whether a binding holds when it lands: the job's request, on a ready
//! node with room for it, that its own constraints and its terms about
//! other jobs allow. Whoever wrote the binding, one that fails any of these
//! is void.

use super::Ledger;
use crate::job::Job;
use crate::node::{Node, NodeState, gpu_share_milli};
use rota_events::{JobBound, Resources};
use std::collections::BTreeSet;

/// True when `bound` may take effect for `job` on `node`.
pub fn holds(ledger: &Ledger, job: &Job, bound: &JobBound, node: &Node) -> bool {
    let free = node.free();
    node.state == NodeState::Ready
        && bound.resources == job.spec.resources
        && bound.resources.cpu_milli <= free.cpu_milli
        && bound.resources.memory_bytes <= free.memory_bytes
        && devices_fit(node, &bound.resources, &bound.gpu_devices)
        && job
            .spec
            .constraints
            .extended
            .iter()
            .all(|(name, amount)| *amount <= node.extended_free(name))
        // A node the job's own constraints forbid is no more valid than one
        // without room, whoever wrote the binding.
        && crate::node_filters::refusal(job, node).is_none()
        // Nor is one that breaks its terms about other jobs.
        && crate::neighbour_terms::refusal(ledger, job, &bound.node, node).is_none()
}

/// True when `devices` are a valid choice of GPU devices on `node` for
/// `request`: as many as it needs, distinct, existing, each with room.
fn devices_fit(node: &Node, request: &Resources, devices: &[u32]) -> bool {
    let wanted = if request.gpus > 0 {
        request.gpus as usize
    } else {
        usize::from(request.gpu_milli > 0)
    };
    let share = gpu_share_milli(request);
    let distinct: BTreeSet<u32> = devices.iter().copied().collect();
    devices.len() == wanted
        && distinct.len() == wanted
        && devices.iter().all(|d| {
            node.gpu_free_milli
                .get(*d as usize)
                .is_some_and(|free| *free >= share)
        })
}
