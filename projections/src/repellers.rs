//! Where each tenant's jobs with required anti-affinity are: for every kind
//! of such a term (its selector and topology key), how many holders of it
//! each domain has. Anti-affinity is symmetric, so placement must keep any
//! job a holder's selector matches out of the holder's domain; reading the
//! kinds from here costs a round the number of kinds and domains, not a
//! lookup of every holder's job and node.

use crate::job::Job;
use crate::node::{Node, topology_domain};
use rota_events::JobSelector;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One kind of required anti-affinity: whom it repels, and how far.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RepellerKind {
    pub selector: JobSelector,
    pub topology_key: String,
}

/// The domains a holder was counted in, kept so that it leaves exactly
/// those even if its node is registered again with other labels meanwhile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Holder {
    tenant: String,
    counted: Vec<(RepellerKind, String)>,
}

/// Holders of required anti-affinity on nodes, by tenant and kind, counted
/// per domain name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepellerIndex {
    by_tenant: BTreeMap<String, BTreeMap<RepellerKind, BTreeMap<String, u32>>>,
    holders: BTreeMap<String, Holder>,
}

impl RepellerIndex {
    /// Counts job `id` on `node` (named `name`) under each of its required
    /// anti-affinity terms whose key the node has a domain for. A job with
    /// no such term is not counted.
    pub fn add(&mut self, id: &str, job: &Job, name: &str, node: &Node) {
        let terms = &job.spec.constraints.job_anti_affinity.required;
        if terms.is_empty() {
            return;
        }
        let kinds = self.by_tenant.entry(job.tenant.clone()).or_default();
        let mut counted = Vec::with_capacity(terms.len());
        for term in terms {
            let Some(domain) = topology_domain(name, node, &term.topology_key) else {
                continue;
            };
            let kind = RepellerKind {
                selector: term.selector.clone(),
                topology_key: term.topology_key.clone(),
            };
            *kinds
                .entry(kind.clone())
                .or_default()
                .entry(domain.to_string())
                .or_default() += 1;
            counted.push((kind, domain.to_string()));
        }
        let holder = Holder {
            tenant: job.tenant.clone(),
            counted,
        };
        assert!(
            self.holders.insert(id.to_string(), holder).is_none(),
            "{id} counted twice as a repeller"
        );
    }

    /// Uncounts job `id`, if it was counted.
    pub fn remove(&mut self, id: &str) {
        let Some(holder) = self.holders.remove(id) else {
            return;
        };
        let kinds = self
            .by_tenant
            .get_mut(&holder.tenant)
            .expect("a counted holder's tenant has kinds");
        for (kind, domain) in holder.counted {
            let per_domain = kinds.get_mut(&kind).expect("a counted kind");
            let left = per_domain.get_mut(&domain).expect("a counted domain");
            *left -= 1;
            if *left == 0 {
                per_domain.remove(&domain);
            }
            if per_domain.is_empty() {
                kinds.remove(&kind);
            }
        }
        if kinds.is_empty() {
            self.by_tenant.remove(&holder.tenant);
        }
    }

    /// The kinds of required anti-affinity `tenant`'s jobs on nodes hold,
    /// each with its holders per domain name, in kind order.
    pub fn of_tenant(
        &self,
        tenant: &str,
    ) -> impl Iterator<Item = (&RepellerKind, &BTreeMap<String, u32>)> {
        self.by_tenant.get(tenant).into_iter().flatten()
    }
}
