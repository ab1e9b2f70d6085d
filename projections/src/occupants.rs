//! The jobs running on each node that a preemption could stop, beside the
//! ledger, with what choosing victims reads of them kept inline: a round of
//! the preemption service looks at every node's occupants, and at 100,000
//! running jobs a lookup per job in the ledger would cost more than the
//! whole round may. A job leaves its node's occupants as soon as it is
//! being stopped (cancelled, past its limit or preempted).

use crate::job::Job;
use crate::projection::Projection;
use rota_events::Resources;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The class index of jobs that name no class.
pub const NO_CLASS: u16 = u16::MAX;

/// The most distinct class names the index keeps apart; jobs of classes
/// beyond (which the policy's own limit rules out) count as of no class.
const CLASSES_MAX: usize = 1024;

/// One running job as victim selection reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occupant {
    pub job: String,
    pub tenant: String,
    /// Its class's index in [`Occupants::class_names`], or [`NO_CLASS`].
    pub class: u16,
    pub resources: Resources,
    pub gpu_devices: Vec<u32>,
    pub extended: BTreeMap<String, u64>,
    /// When its current run began, in log milliseconds.
    pub bound_ms: u64,
    pub reclaimable: bool,
    pub preemptions: u32,
    pub last_preempted_ms: Option<u64>,
}

/// The occupants of every node that has any, by node name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occupants {
    by_node: BTreeMap<String, Vec<Occupant>>,
    class_names: Vec<String>,
    len: usize,
}

impl Occupants {
    /// Every node with occupants, in name order.
    pub fn nodes(&self) -> impl Iterator<Item = (&String, &Vec<Occupant>)> {
        self.by_node.iter()
    }

    pub fn on_node(&self, node: &str) -> &[Occupant] {
        self.by_node.get(node).map_or(&[], Vec::as_slice)
    }

    /// The class names occupants' indexes refer to.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// How many running jobs are occupants.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn class_index(&mut self, class: Option<&str>) -> u16 {
        let Some(name) = class else {
            return NO_CLASS;
        };
        if let Some(index) = self.class_names.iter().position(|c| c == name) {
            return index as u16;
        }
        if self.class_names.len() >= CLASSES_MAX {
            return NO_CLASS;
        }
        self.class_names.push(name.to_string());
        (self.class_names.len() - 1) as u16
    }

    fn remove(&mut self, id: &str, job: &Job) {
        let Some(node) = job.node.as_deref() else {
            return;
        };
        let Some(occupants) = self.by_node.get_mut(node) else {
            return;
        };
        if let Some(at) = occupants.iter().position(|o| o.job == id) {
            occupants.remove(at);
            self.len -= 1;
        }
        if occupants.is_empty() {
            self.by_node.remove(node);
        }
    }
}

impl Projection for Occupants {
    fn placed(&mut self, id: &str, job: &Job, now_ms: u64) {
        let node = job.node.clone().expect("a placed job has a node");
        let class = self.class_index(job.spec.priority_class.as_deref());
        let occupant = Occupant {
            job: id.to_string(),
            tenant: job.tenant.clone(),
            class,
            resources: job.spec.resources,
            gpu_devices: job.gpu_devices.clone(),
            extended: job.spec.constraints.extended.clone(),
            bound_ms: now_ms,
            reclaimable: job.reclaimable,
            preemptions: job.preemptions,
            last_preempted_ms: job.preempted.as_ref().map(|p| p.at_ms),
        };
        let occupants = self.by_node.entry(node).or_default();
        occupants.push(occupant);
        // Kept in job order, so that every reader walks them alike.
        occupants.sort_by(|a, b| a.job.cmp(&b.job));
        self.len += 1;
    }

    fn stopping(&mut self, id: &str, job: &Job) {
        self.remove(id, job);
    }

    fn released(&mut self, id: &str, job: &Job, _now_ms: u64) {
        self.remove(id, job);
    }
}
