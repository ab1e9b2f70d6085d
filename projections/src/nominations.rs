//! Room held for preemptors, beside the ledger: which waiting job the
//! preemption service nominated to which node, until when, and for which
//! victims. Placement gives that room to no other job while the victims
//! drain; a nomination ends when its job leaves the queue (bound anywhere,
//! or cancelled) or lapses.

use crate::job::Job;
use crate::projection::Projection;
use rota_events::JobNominated;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One job's nomination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nomination {
    pub node: String,
    pub victims: Vec<String>,
    /// When it lapses unless its job was bound, in log milliseconds.
    pub until_ms: u64,
}

/// The nominations in force, by job and by node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nominations {
    by_job: BTreeMap<String, Nomination>,
    by_node: BTreeMap<String, BTreeSet<String>>,
}

impl Nominations {
    pub fn get(&self, job: &str) -> Option<&Nomination> {
        self.by_job.get(job)
    }

    /// The jobs nominated to `node`.
    pub fn on_node(&self, node: &str) -> impl Iterator<Item = &String> {
        self.by_node.get(node).into_iter().flatten()
    }

    /// Every nomination, by job.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Nomination)> {
        self.by_job.iter()
    }

    pub fn len(&self) -> usize {
        self.by_job.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_job.is_empty()
    }

    fn remove(&mut self, job: &str) {
        let Some(nomination) = self.by_job.remove(job) else {
            return;
        };
        if let Some(jobs) = self.by_node.get_mut(&nomination.node) {
            jobs.remove(job);
            if jobs.is_empty() {
                self.by_node.remove(&nomination.node);
            }
        }
    }
}

impl Projection for Nominations {
    fn nominated(&mut self, nominated: &JobNominated) {
        self.remove(&nominated.job);
        let nomination = Nomination {
            node: nominated.node.clone(),
            victims: nominated.victims.clone(),
            until_ms: nominated.until_ms,
        };
        self.by_job.insert(nominated.job.clone(), nomination);
        self.by_node
            .entry(nominated.node.clone())
            .or_default()
            .insert(nominated.job.clone());
    }

    fn nomination_lapsed(&mut self, job: &str) {
        self.remove(job);
    }

    fn dequeued(&mut self, id: &str, _job: &Job) {
        self.remove(id);
    }
}
