//! A node as the fold knows it.

use rota_events::{NodeRegistered, Resources, Taint, Topology};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Thousandths in one GPU device.
pub const GPU_MILLI_PER_DEVICE: u32 = 1000;

/// Whether a node takes work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    Ready,
    /// Runs what it has, takes nothing new.
    Draining,
    /// Stopped answering; holds nothing.
    Lost,
}

/// One node: what it offers, what is bound to it, and which jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// `gpus` is the number of GPU devices.
    pub capacity: Resources,
    /// What bound jobs hold: cpu and memory exactly; GPUs as the sum of
    /// whole devices and shares, for reporting (fits are decided per device).
    pub allocated: Resources,
    /// Free thousandths of each GPU device.
    pub gpu_free_milli: Vec<u32>,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub topology: Topology,
    pub cost: u32,
    pub gpu_model: Option<String>,
    pub extended_capacity: BTreeMap<String, u64>,
    pub extended_allocated: BTreeMap<String, u64>,
    pub state: NodeState,
    pub jobs: BTreeSet<String>,
    pub registered_seq: u64,
    /// The sequence of the last entry that changed what the node holds
    /// (its registration, a binding, a release): a node with the same value
    /// as when last looked at holds the same, which lets placement keep its
    /// view of free capacity from round to round.
    pub allocation_seq: u64,
}

/// The domain of `node` (named `name`) under topology key `key`, if it has
/// one: the node itself, its zone, its rack, or the value of a label.
pub fn topology_domain<'n>(name: &'n str, node: &'n Node, key: &str) -> Option<&'n str> {
    match key {
        rota_events::TOPOLOGY_NODE => Some(name),
        rota_events::TOPOLOGY_ZONE => node.topology.zone.as_deref(),
        rota_events::TOPOLOGY_RACK => node.topology.rack.as_deref(),
        _ => node.labels.get(key).map(String::as_str),
    }
}

impl Node {
    /// The node's whole capacity, as a request is checked against it: a
    /// share of a GPU fits a node with any GPU.
    pub fn whole(&self) -> Resources {
        Resources {
            cpu_milli: self.capacity.cpu_milli,
            memory_bytes: self.capacity.memory_bytes,
            gpus: self.capacity.gpus,
            gpu_milli: if self.capacity.gpus > 0 {
                GPU_MILLI_PER_DEVICE
            } else {
                0
            },
        }
    }

    /// A node as registered, holding nothing.
    pub fn registered(registered: &NodeRegistered, seq: u64) -> Node {
        Node {
            capacity: registered.capacity,
            allocated: Resources::default(),
            gpu_free_milli: vec![GPU_MILLI_PER_DEVICE; registered.capacity.gpus as usize],
            labels: registered.labels.clone(),
            taints: registered.taints.clone(),
            topology: registered.topology.clone(),
            cost: registered.cost,
            gpu_model: registered.gpu_model.clone(),
            extended_capacity: registered.extended.clone(),
            extended_allocated: BTreeMap::new(),
            state: NodeState::Ready,
            jobs: BTreeSet::new(),
            registered_seq: seq,
            allocation_seq: seq,
        }
    }

    /// What is free now: cpu and memory (nothing if the node was re-registered
    /// smaller than what it holds), the number of wholly free GPU devices,
    /// and the largest share free on any one device.
    pub fn free(&self) -> Resources {
        gpu_summary(
            self.capacity
                .cpu_milli
                .saturating_sub(self.allocated.cpu_milli),
            self.capacity
                .memory_bytes
                .saturating_sub(self.allocated.memory_bytes),
            &self.gpu_free_milli,
        )
    }

    /// How much of extended resource `name` is free.
    pub fn extended_free(&self, name: &str) -> u64 {
        let capacity = self.extended_capacity.get(name).copied().unwrap_or(0);
        capacity.saturating_sub(self.extended_allocated.get(name).copied().unwrap_or(0))
    }
}

/// Free resources with GPUs summarised from per-device free thousandths.
pub fn gpu_summary(cpu_milli: u64, memory_bytes: u64, gpu_free_milli: &[u32]) -> Resources {
    Resources {
        cpu_milli,
        memory_bytes,
        gpus: gpu_free_milli
            .iter()
            .filter(|free| **free == GPU_MILLI_PER_DEVICE)
            .count() as u32,
        gpu_milli: gpu_free_milli.iter().copied().max().unwrap_or(0),
    }
}

/// The devices a request takes, given each device's free thousandths: the
/// lowest-numbered wholly free devices for whole GPUs; for a share, the
/// device with the least room that still fits it (lowest number on ties), so
/// that shares pack together and whole devices stay free. None if it does
/// not fit; empty for a request without GPUs.
pub fn pick_gpu_devices(gpu_free_milli: &[u32], request: &Resources) -> Option<Vec<u32>> {
    if request.gpus > 0 {
        let devices: Vec<u32> = gpu_free_milli
            .iter()
            .enumerate()
            .filter(|(_, free)| **free == GPU_MILLI_PER_DEVICE)
            .map(|(i, _)| i as u32)
            .take(request.gpus as usize)
            .collect();
        return (devices.len() == request.gpus as usize).then_some(devices);
    }
    if request.gpu_milli > 0 {
        return gpu_free_milli
            .iter()
            .enumerate()
            .filter(|(_, free)| **free >= request.gpu_milli)
            .min_by_key(|(i, free)| (**free, *i))
            .map(|(i, _)| vec![i as u32]);
    }
    Some(Vec::new())
}

/// What a request takes from each of its devices, in thousandths.
pub fn gpu_share_milli(request: &Resources) -> u32 {
    if request.gpus > 0 {
        GPU_MILLI_PER_DEVICE
    } else {
        request.gpu_milli
    }
}
