//! A node's free room as it would be with some of its occupants gone: what
//! victim selection asks "does the preemptor fit now?" of.

use rota_events::Resources;
use rota_projections::{GPU_MILLI_PER_DEVICE, Node, Occupant, gpu_share_milli, pick_gpu_devices};
use std::collections::BTreeMap;

/// Free cpu, memory, per-device GPU and the extended resources a request
/// names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    cpu_milli: u64,
    memory_bytes: u64,
    gpu_free_milli: Vec<u32>,
    extended: BTreeMap<String, u64>,
}

impl Room {
    /// What is free on `node` now, counting of extended resources only
    /// those in `wanted`.
    pub fn free_on(node: &Node, wanted: &BTreeMap<String, u64>) -> Room {
        let free = node.free();
        Room {
            cpu_milli: free.cpu_milli,
            memory_bytes: free.memory_bytes,
            gpu_free_milli: node.gpu_free_milli.clone(),
            extended: wanted
                .keys()
                .map(|name| (name.clone(), node.extended_free(name)))
                .collect(),
        }
    }

    /// The room once `occupant` has gone.
    pub fn release(&mut self, occupant: &Occupant) {
        let r = &occupant.resources;
        self.cpu_milli = self.cpu_milli.saturating_add(r.cpu_milli);
        self.memory_bytes = self.memory_bytes.saturating_add(r.memory_bytes);
        let share = gpu_share_milli(r);
        for device in &occupant.gpu_devices {
            if let Some(free) = self.gpu_free_milli.get_mut(*device as usize) {
                *free = (*free + share).min(GPU_MILLI_PER_DEVICE);
            }
        }
        for (name, amount) in &occupant.extended {
            if let Some(free) = self.extended.get_mut(name) {
                *free = free.saturating_add(*amount);
            }
        }
    }

    /// The room with `occupant` back: undoes [`Room::release`].
    pub fn take_back(&mut self, occupant: &Occupant) {
        let r = &occupant.resources;
        self.cpu_milli = self.cpu_milli.saturating_sub(r.cpu_milli);
        self.memory_bytes = self.memory_bytes.saturating_sub(r.memory_bytes);
        let share = gpu_share_milli(r);
        for device in &occupant.gpu_devices {
            if let Some(free) = self.gpu_free_milli.get_mut(*device as usize) {
                *free = free.saturating_sub(share);
            }
        }
        for (name, amount) in &occupant.extended {
            if let Some(free) = self.extended.get_mut(name) {
                *free = free.saturating_sub(*amount);
            }
        }
    }

    /// Whether a job asking for `request` and `extended` fits.
    pub fn fits(&self, request: &Resources, extended: &BTreeMap<String, u64>) -> bool {
        request.cpu_milli <= self.cpu_milli
            && request.memory_bytes <= self.memory_bytes
            && pick_gpu_devices(&self.gpu_free_milli, request).is_some()
            && extended
                .iter()
                .all(|(name, amount)| self.extended.get(name).is_some_and(|free| free >= amount))
    }
}
