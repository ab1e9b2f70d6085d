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

/// What choosing victims reads of every occupant of a node it looks at:
/// 40 bytes, kept apart from the rest so that a search over every node
/// reads few cache lines per node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OccupantTerms {
    pub bound_ms: u64,
    /// When it was last preempted, in log milliseconds, if ever.
    pub last_preempted_ms: Option<u64>,
    pub cpu_milli: u64,
    pub memory_bytes: u64,
    pub preemptions: u32,
    pub class: u16,
    pub reclaimable: bool,
}

impl OccupantTerms {
    /// The terms of `occupant`.
    pub fn of(occupant: &Occupant) -> OccupantTerms {
        OccupantTerms {
            bound_ms: occupant.bound_ms,
            last_preempted_ms: occupant.last_preempted_ms,
            cpu_milli: occupant.resources.cpu_milli,
            memory_bytes: occupant.resources.memory_bytes,
            preemptions: occupant.preemptions,
            class: occupant.class,
            reclaimable: occupant.reclaimable,
        }
    }
}

/// The most classes a node's summary counts apart; a node with occupants
/// of more classes has no summary.
pub const SUMMARY_CLASSES_MAX: usize = 2;

/// What a node's occupants of one class hold together: enough for a search
/// to bound what it could free there, and what that would cost at least,
/// without reading the occupants themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassSummary {
    pub class: u16,
    pub count: u32,
    pub cpu_milli: u64,
    pub memory_bytes: u64,
    pub max_cpu_milli: u64,
    pub max_memory_bytes: u64,
    pub min_cpu_milli: u64,
    /// When the earliest and the latest of them began their runs.
    pub earliest_bound_ms: u64,
    pub latest_bound_ms: u64,
}

/// One node's occupants, in job order, their terms in the same order, and
/// a summary by class. The summary sits in the map's nodes beside the
/// name, so a search that walks every node reads it without a miss per
/// node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeOccupants {
    /// By class, when the occupants are of at most
    /// [`SUMMARY_CLASSES_MAX`] classes.
    pub summary: Option<[Option<ClassSummary>; SUMMARY_CLASSES_MAX]>,
    pub terms: Vec<OccupantTerms>,
    pub details: Vec<Occupant>,
}

impl NodeOccupants {
    fn summarize(&mut self) {
        let mut summary: [Option<ClassSummary>; SUMMARY_CLASSES_MAX] = [None; SUMMARY_CLASSES_MAX];
        for terms in &self.terms {
            let slot = summary
                .iter()
                .position(|s| s.is_none_or(|s| s.class == terms.class));
            let Some(slot) = slot else {
                self.summary = None;
                return;
            };
            let s = summary[slot].get_or_insert(ClassSummary {
                class: terms.class,
                min_cpu_milli: u64::MAX,
                earliest_bound_ms: u64::MAX,
                ..ClassSummary::default()
            });
            s.count += 1;
            s.cpu_milli = s.cpu_milli.saturating_add(terms.cpu_milli);
            s.memory_bytes = s.memory_bytes.saturating_add(terms.memory_bytes);
            s.max_cpu_milli = s.max_cpu_milli.max(terms.cpu_milli);
            s.max_memory_bytes = s.max_memory_bytes.max(terms.memory_bytes);
            s.min_cpu_milli = s.min_cpu_milli.min(terms.cpu_milli);
            s.earliest_bound_ms = s.earliest_bound_ms.min(terms.bound_ms);
            s.latest_bound_ms = s.latest_bound_ms.max(terms.bound_ms);
        }
        self.summary = Some(summary);
    }
}

/// The occupants of every node that has any, by node name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occupants {
    by_node: BTreeMap<String, NodeOccupants>,
    class_names: Vec<String>,
    len: usize,
}

impl Occupants {
    /// Every node with occupants, in name order.
    pub fn nodes(&self) -> impl Iterator<Item = (&String, &NodeOccupants)> {
        self.by_node.iter()
    }

    pub fn on_node(&self, node: &str) -> &[Occupant] {
        self.by_node
            .get(node)
            .map_or(&[], |occupants| occupants.details.as_slice())
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
        if let Some(at) = occupants.details.iter().position(|o| o.job == id) {
            occupants.details.remove(at);
            occupants.terms.remove(at);
            occupants.summarize();
            self.len -= 1;
        }
        if occupants.details.is_empty() {
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
        // Kept in job order, so that every reader walks them alike.
        let at = occupants
            .details
            .partition_point(|o| o.job.as_str() < occupant.job.as_str());
        occupants.terms.insert(at, OccupantTerms::of(&occupant));
        occupants.details.insert(at, occupant);
        occupants.summarize();
        self.len += 1;
    }

    fn stopping(&mut self, id: &str, job: &Job) {
        self.remove(id, job);
    }

    fn released(&mut self, id: &str, job: &Job, _now_ms: u64) {
        self.remove(id, job);
    }
}
