//! What admission checks of a submission's tenant: that the tenant tree
//! lets it submit (a leaf, or an unknown tenant when those are admitted),
//! that its pending jobs stay within `max_pending_jobs`, and that its quotas
//! and `max_resources` could ever let the job run. Limits on what runs are
//! not admission's: such jobs are admitted and wait (placement holds them).

use rota_events::TenantLimits;
use rota_projections::CellState;
use rota_projections::accounts::quota::never_fits;
use rota_projections::accounts::{amounts, tree::TenantTree};

/// Most tenant names a refusal lists.
pub const NAMES_LISTED_MAX: usize = 20;

/// Admission's view of tenants during one round.
pub struct TenantGate<'a> {
    state: &'a CellState,
    /// Waiting jobs per tree node's subtree, when any tenant limits them,
    /// kept current as the round admits.
    pending: Option<Vec<u32>>,
}

impl<'a> TenantGate<'a> {
    pub fn of(state: &'a CellState) -> TenantGate<'a> {
        let limited = state
            .accounts
            .tree
            .nodes
            .iter()
            .any(|node| node.limits.max_pending_jobs.is_some());
        TenantGate {
            state,
            pending: limited.then(|| state.accounts.subtree_pending()),
        }
    }

    /// Why a job of `tenant` asking `resources` is refused, or None.
    pub fn refusal(&self, tenant: &str, job: &rota_projections::Job) -> Option<String> {
        let accounts = &self.state.accounts;
        let tree = &accounts.tree;
        let Some(node) = tree.index(tenant) else {
            if accounts.config.unknown_tenants.admit {
                return None;
            }
            return Some(format!(
                "tenant {tenant:?} is not in the tenant tree and this cell refuses unknown tenants; tenants that may submit: {}",
                leaf_names(tree)
            ));
        };
        if !tree.nodes[node].is_leaf() {
            let children: Vec<&str> = tree.nodes[node]
                .children
                .iter()
                .take(NAMES_LISTED_MAX)
                .map(|c| tree.nodes[*c].name.as_str())
                .collect();
            return Some(format!(
                "tenant {tenant:?} is an account with sub-tenants; submit as one of them: {}",
                children.join(", ")
            ));
        }
        if let Some(reason) = never_fits(tree, node, &amounts(&job.spec.resources)) {
            return Some(format!("the job could never run: {reason}"));
        }
        self.pending_refusal(tree, node)
    }

    /// Why one more pending job would break a `max_pending_jobs` on the way
    /// up the tree, if it would.
    fn pending_refusal(&self, tree: &TenantTree, node: usize) -> Option<String> {
        let pending = self.pending.as_ref()?;
        for i in tree.ancestry(node) {
            let TenantLimits {
                max_pending_jobs: Some(max),
                ..
            } = tree.nodes[i].limits
            else {
                continue;
            };
            let pending = pending[i];
            if pending >= max {
                return Some(format!(
                    "tenant {} has {pending} jobs waiting, its max_pending_jobs; submit again when some have started",
                    tree.nodes[i].name
                ));
            }
        }
        None
    }

    /// Counts a job of `tenant` admitted in this round.
    pub fn note_admitted(&mut self, tenant: &str) {
        let tree = &self.state.accounts.tree;
        let (Some(pending), Some(node)) = (self.pending.as_mut(), tree.index(tenant)) else {
            return;
        };
        for i in tree.ancestry(node) {
            pending[i] += 1;
        }
    }
}

/// The tree's leaf tenants, for messages.
fn leaf_names(tree: &TenantTree) -> String {
    let names: Vec<&str> = tree
        .leaves()
        .filter(|leaf| !tree.nodes[*leaf].unlisted)
        .take(NAMES_LISTED_MAX)
        .map(|leaf| tree.nodes[leaf].name.as_str())
        .collect();
    if names.is_empty() {
        return "none".to_string();
    }
    names.join(", ")
}
