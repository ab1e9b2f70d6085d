//! The cell's roster: which key belongs to which identity (`roster.set`,
//! written by the cell's operator). Once a cell has a roster, every event
//! but a tenant's must be signed by a key the roster names, for an identity
//! that may write it; see docs/security.md.

use crate::identity::Identity;
use crate::signature::PublicKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Most members one roster may name: a key for each of this many
/// identities (tenants, agents, services), each with the longest name,
/// fits in [`crate::ROSTER_EVENT_BYTES_MAX`].
pub const ROSTER_MEMBERS_MAX: usize = 6_000;

/// One key of the roster and the identity it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterMember {
    /// The NKey user public key (`U...`).
    pub key: PublicKey,
    /// Whose key it is, as `rota auth init` names identities.
    pub identity: Identity,
}

/// An operator set the cell's roster. It replaces the previous roster
/// whole; `version` counts rosters from 1, each exactly one more than the
/// last, so that an old roster cannot be played again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterSet {
    pub version: u64,
    pub members: Vec<RosterMember>,
}

impl RosterSet {
    /// Whether the roster is one the fold can take: within its limits,
    /// each key named once, and with at least one operator, who alone may
    /// set the next.
    pub fn validate(&self) -> Result<(), String> {
        if self.members.len() > ROSTER_MEMBERS_MAX {
            return Err(format!(
                "it names {} members; a roster may name at most {ROSTER_MEMBERS_MAX}",
                self.members.len()
            ));
        }
        let mut keys = BTreeSet::new();
        for member in &self.members {
            if !keys.insert(&member.key) {
                return Err(format!(
                    "key {} is named more than once; a key belongs to one identity",
                    member.key
                ));
            }
        }
        if !self
            .members
            .iter()
            .any(|m| m.identity == Identity::Operator)
        {
            return Err(
                "it names no operator; without one no later roster could be set".to_string(),
            );
        }
        Ok(())
    }
}
