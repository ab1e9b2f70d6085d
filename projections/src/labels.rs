//! Where each tenant's labelled jobs are: for every (tenant, label key,
//! label value), the jobs on nodes that carry the label and how many there
//! are per node, zone and rack. Placement reads it to evaluate affinity,
//! anti-affinity and spread without scanning every job.

use crate::node::Node;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A tenant and one label (key, value).
pub type TenantLabel = (String, String, String);

/// The jobs on nodes that carry one label, and their counts per domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelledJobs {
    pub jobs: BTreeSet<String>,
    pub per_node: BTreeMap<String, u32>,
    pub per_zone: BTreeMap<String, u32>,
    pub per_rack: BTreeMap<String, u32>,
}

/// Adds `delta` (+1 or -1) to the count of `domain`, dropping zero counts.
fn count(per_domain: &mut BTreeMap<String, u32>, domain: Option<&String>, add: bool) {
    let Some(domain) = domain else {
        return;
    };
    if add {
        *per_domain.entry(domain.clone()).or_default() += 1;
        return;
    }
    let left = per_domain
        .get_mut(domain)
        .expect("a job leaves only a domain it was counted in");
    *left -= 1;
    if *left == 0 {
        per_domain.remove(domain);
    }
}

/// Labelled jobs on nodes, by tenant and label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelIndex {
    by_label: BTreeMap<TenantLabel, LabelledJobs>,
}

impl LabelIndex {
    /// Counts job `id` of `tenant` with `labels` on `node` (named `name`):
    /// `add` when it lands there, not when it leaves.
    pub fn update(
        &mut self,
        tenant: &str,
        id: &str,
        labels: &BTreeMap<String, String>,
        name: &str,
        node: &Node,
        add: bool,
    ) {
        for (key, value) in labels {
            let label = (tenant.to_string(), key.clone(), value.clone());
            let entry = self.by_label.entry(label.clone()).or_default();
            if add {
                assert!(entry.jobs.insert(id.to_string()), "{id} counted twice");
            } else {
                assert!(entry.jobs.remove(id), "{id} was not counted");
            }
            count(&mut entry.per_node, Some(&name.to_string()), add);
            count(&mut entry.per_zone, node.topology.zone.as_ref(), add);
            count(&mut entry.per_rack, node.topology.rack.as_ref(), add);
            if entry.jobs.is_empty() {
                self.by_label.remove(&label);
            }
        }
    }

    /// The jobs of `tenant` on nodes carrying `key`=`value`.
    pub fn get(&self, tenant: &str, key: &str, value: &str) -> Option<&LabelledJobs> {
        self.by_label
            .get(&(tenant.to_string(), key.to_string(), value.to_string()))
    }
}
