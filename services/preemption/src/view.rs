//! What one round knows beside the fold, computed once: each class's
//! priority and preemption settings by the occupants' class index, the
//! tenants' fair-share factors, and the nodes whose room is held already.

use rota_events::{ClassPreemption, PlacementPolicy};
use rota_placement::tenancy::Tenancy;
use rota_projections::protection::{Exposure, Protected, protection_of};
use rota_projections::{CellState, NO_CLASS, OccupantTerms};
use std::collections::BTreeSet;

/// The factor of a tenant the fair-share service never published.
const FACTOR_UNPUBLISHED: u32 = 500;

/// A class as victim selection reads it.
#[derive(Debug, Clone, Copy)]
pub struct ClassTerms<'a> {
    pub name: Option<&'a str>,
    pub priority: u32,
    pub preemption: ClassPreemption,
}

/// The round's precomputed view.
pub struct RoundView<'a> {
    pub state: &'a CellState,
    pub policy: &'a PlacementPolicy,
    classes: Vec<ClassTerms<'a>>,
    unclassed: ClassTerms<'a>,
    /// Nodes whose freed room is held for a preemptor, by an earlier
    /// round's nomination or this round's.
    pub held_nodes: BTreeSet<String>,
    /// Pass nodes on their occupants' summaries where these settle them.
    /// The plan found is the same either way; without, a search that finds
    /// none knows exactly why (protected, or not enough), as an
    /// explanation must.
    pub use_summaries: bool,
    /// Whom the tenants' quotas and limits let start a job now, as
    /// placement judges it.
    pub tenancy: Tenancy<'a>,
}

impl<'a> RoundView<'a> {
    pub fn of(state: &'a CellState) -> RoundView<'a> {
        let policy = &state.policy;
        let terms = |name: Option<&'a str>| ClassTerms {
            name: name.or(policy.default_priority_class.as_deref()),
            priority: policy.class_value(name),
            preemption: policy
                .preemption
                .class(name.or(policy.default_priority_class.as_deref())),
        };
        let classes = state
            .occupants
            .class_names()
            .iter()
            .map(|name| terms(Some(name.as_str())))
            .collect();
        let held_nodes = state
            .nominations
            .iter()
            .map(|(_, nomination)| nomination.node.clone())
            .collect();
        RoundView {
            state,
            policy,
            classes,
            unclassed: terms(None),
            held_nodes,
            use_summaries: true,
            tenancy: Tenancy::of(state),
        }
    }

    /// The class terms of an occupant of class index `class`.
    pub fn class_of(&self, class: u16) -> ClassTerms<'a> {
        match class {
            NO_CLASS => self.unclassed,
            index => self.classes[index as usize],
        }
    }

    /// The class terms of a job naming `class`.
    pub fn class_named(&self, class: Option<&'a str>) -> ClassTerms<'a> {
        let policy = self.policy;
        ClassTerms {
            name: class.or(policy.default_priority_class.as_deref()),
            priority: policy.class_value(class),
            preemption: policy
                .preemption
                .class(class.or(policy.default_priority_class.as_deref())),
        }
    }

    /// Why `occupant` may not be preempted now, if it may not.
    pub fn protection(&self, occupant: &OccupantTerms) -> Option<Protected> {
        let class = self.class_of(occupant.class);
        let now = self.state.now_ms;
        let exposure = Exposure {
            class_name: class.name,
            class: class.preemption,
            ran_ms: now.saturating_sub(occupant.bound_ms),
            preemptions: occupant.preemptions,
            since_preempted_ms: occupant.last_preempted_ms.map(|at| now.saturating_sub(at)),
        };
        protection_of(&exposure, self.policy)
    }

    /// A tenant's published fair-share factor (higher: more under-served).
    pub fn factor(&self, tenant: &str) -> u32 {
        self.state
            .accounts
            .factors
            .get(tenant)
            .copied()
            .unwrap_or(FACTOR_UNPUBLISHED)
    }
}
