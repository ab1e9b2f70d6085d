//! The ready nodes during one round: what each has free, updated as the
//! round binds, and the choice of a node for a job: the feasible nodes
//! (filters, then room, searched through a segment tree of free resources),
//! at most [`SCORED_NODES_MAX`] of them from a starting point derived from
//! the job's id, ranked by score, ties to the lowest node name.

use crate::filter::refusal;
use crate::max_tree::MaxTree;
use crate::score::{scores, total};
use rota_events::{Resources, fnv1a64};
use rota_projections::{
    CellState, Job, Node, NodeState, gpu_share_milli, gpu_summary, pick_gpu_devices,
};
use std::collections::BTreeMap;

/// Most feasible nodes scored for one job. Like kube-scheduler's
/// percentage of nodes to score, it bounds a decision's work on a large
/// cluster; the starting point varies with the job so that load spreads.
pub const SCORED_NODES_MAX: usize = 100;

/// A node chosen for a job, with the GPU devices it gets there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice<'a> {
    pub node: &'a str,
    pub devices: Vec<u32>,
}

/// What each ready node has free now, and what this round has bound there.
pub struct FreeCapacity<'a> {
    state: &'a CellState,
    /// Ready nodes in name order.
    names: Vec<&'a str>,
    nodes: Vec<&'a Node>,
    free: MaxTree,
    capacity: MaxTree,
    /// Free thousandths per GPU device, for nodes this round has bound to.
    devices: BTreeMap<usize, Vec<u32>>,
    /// Extended resources this round has taken, per node.
    extended_taken: BTreeMap<usize, BTreeMap<String, u64>>,
    max_cost: u32,
    /// Per node, the (expected end in ms, request) of this round's bindings.
    pub bound_this_round: BTreeMap<&'a str, Vec<(u64, Resources)>>,
}

/// A node's whole capacity as a summary: every device free.
fn capacity_summary(node: &Node) -> Resources {
    Resources {
        cpu_milli: node.capacity.cpu_milli,
        memory_bytes: node.capacity.memory_bytes,
        gpus: node.capacity.gpus,
        gpu_milli: if node.capacity.gpus > 0 { 1000 } else { 0 },
    }
}

impl<'a> FreeCapacity<'a> {
    pub fn of(state: &'a CellState) -> FreeCapacity<'a> {
        let ready: Vec<(&'a str, &'a Node)> = state
            .nodes
            .iter()
            .filter(|(_, node)| node.state == NodeState::Ready)
            .map(|(name, node)| (name.as_str(), node))
            .collect();
        let free: Vec<Resources> = ready.iter().map(|(_, node)| node.free()).collect();
        let capacity: Vec<Resources> = ready
            .iter()
            .map(|(_, node)| capacity_summary(node))
            .collect();
        FreeCapacity {
            state,
            max_cost: ready.iter().map(|(_, node)| node.cost).max().unwrap_or(0),
            names: ready.iter().map(|(name, _)| *name).collect(),
            nodes: ready.iter().map(|(_, node)| *node).collect(),
            free: MaxTree::new(&free),
            capacity: MaxTree::new(&capacity),
            devices: BTreeMap::new(),
            extended_taken: BTreeMap::new(),
            bound_this_round: BTreeMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Ready nodes in name order.
    pub fn names(&self) -> &[&'a str] {
        &self.names
    }

    fn index(&self, node: &str) -> Option<usize> {
        self.names.binary_search(&node).ok()
    }

    fn gpu_free(&self, i: usize) -> &[u32] {
        self.devices
            .get(&i)
            .map_or(&self.nodes[i].gpu_free_milli, Vec::as_slice)
    }

    /// What node `i` has free now, GPUs summed over devices: the form
    /// reservations are made in.
    pub fn aggregate_free(&self, node: &str) -> Resources {
        let Some(i) = self.index(node) else {
            return Resources::default();
        };
        let free = self.free.get(i);
        Resources {
            cpu_milli: free.cpu_milli,
            memory_bytes: free.memory_bytes,
            gpus: 0,
            gpu_milli: self.gpu_free(i).iter().sum(),
        }
    }

    fn extended_fits(&self, i: usize, job: &Job) -> bool {
        let taken = self.extended_taken.get(&i);
        job.spec.constraints.extended.iter().all(|(name, amount)| {
            let taken = taken.and_then(|t| t.get(name)).copied().unwrap_or(0);
            self.nodes[i].extended_free(name).saturating_sub(taken) >= *amount
        })
    }

    /// True when some ready node passes the job's filters and is large
    /// enough for it when empty.
    pub fn could_ever_fit(&self, job: &Job) -> bool {
        self.capacity
            .first_fit_where(&job.spec.resources, &|i| {
                refusal(job, self.nodes[i]).is_none()
            })
            .is_some()
    }

    /// True when `node` passes the job's filters and is large enough for it.
    pub fn could_ever_fit_on(&self, job: &Job, node: &str) -> bool {
        self.index(node).is_some_and(|i| {
            job.spec.resources.fits_within(&self.capacity.get(i))
                && refusal(job, self.nodes[i]).is_none()
        })
    }

    /// The best node for `job` among those with room now that `accept`
    /// takes, or None.
    pub fn choose(
        &self,
        job_id: &str,
        job: &Job,
        accept: impl Fn(&str) -> bool,
    ) -> Option<Choice<'a>> {
        if self.names.is_empty() {
            return None;
        }
        let request = &job.spec.resources;
        let feasible = |i: usize| {
            accept(self.names[i])
                && self.extended_fits(i, job)
                && refusal(job, self.nodes[i]).is_none()
        };
        let start = (fnv1a64(0, job_id.as_bytes()) % self.names.len() as u64) as usize;
        let mut candidates: Vec<usize> = Vec::new();
        let mut from = start;
        while candidates.len() < SCORED_NODES_MAX {
            match self.free.next_fit_where(request, from, &feasible) {
                Some(i) => {
                    candidates.push(i);
                    from = i + 1;
                }
                None => break,
            }
        }
        from = 0;
        while candidates.len() < SCORED_NODES_MAX {
            match self
                .free
                .next_fit_where(request, from, &feasible)
                .filter(|i| *i < start)
            {
                Some(i) => {
                    candidates.push(i);
                    from = i + 1;
                }
                None => break,
            }
        }
        let policy = &self.state.policy;
        candidates
            .into_iter()
            .map(|i| {
                let free = self.free.get(i);
                let after = Resources {
                    cpu_milli: free.cpu_milli - request.cpu_milli,
                    memory_bytes: free.memory_bytes - request.memory_bytes,
                    ..Resources::default()
                };
                let score = total(policy, &scores(job, self.nodes[i], &after, self.max_cost));
                (score, i)
            })
            .max_by(|(a, i), (b, j)| a.cmp(b).then(self.names[*j].cmp(self.names[*i])))
            .map(|(_, i)| Choice {
                node: self.names[i],
                devices: pick_gpu_devices(self.gpu_free(i), request)
                    .expect("the summary said it fits"),
            })
    }

    /// Takes `job`'s request from the chosen node, for a binding expected to
    /// end at `end_ms`.
    pub fn bind(&mut self, choice: &Choice<'a>, job: &Job, end_ms: u64) {
        let i = self.index(choice.node).expect("binding onto a ready node");
        let request = &job.spec.resources;
        let mut devices = self.gpu_free(i).to_vec();
        let share = gpu_share_milli(request);
        for device in &choice.devices {
            devices[*device as usize] -= share;
        }
        let free = self.free.get(i);
        let summary = gpu_summary(
            free.cpu_milli - request.cpu_milli,
            free.memory_bytes - request.memory_bytes,
            &devices,
        );
        self.free.set(i, summary);
        self.devices.insert(i, devices);
        for (name, amount) in &job.spec.constraints.extended {
            *self
                .extended_taken
                .entry(i)
                .or_default()
                .entry(name.clone())
                .or_default() += amount;
        }
        self.bound_this_round
            .entry(choice.node)
            .or_default()
            .push((end_ms, *request));
    }
}
