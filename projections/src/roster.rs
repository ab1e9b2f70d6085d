//! The roster the log last set, and the rule it enforces: once a cell has
//! a roster, every event but a tenant's must be signed by a roster key of
//! an identity that may write it, exactly as the server's permissions let
//! that identity publish it. An event injected past the server (with
//! credentials shared too widely, or by a misconfigured server) then has
//! no effect unless its writer's key signed it.
//!
//! A tenant's submissions and cancellation requests are not checked here:
//! they are the server's to authenticate (see docs/security.md).

use rota_events::{Event, Identity, PublicKey, RosterSet, Writer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The cell's roster as the log last set it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// The version of the roster in force; 0 while the cell has none.
    pub version: u64,
    /// Whose each key is.
    pub members: BTreeMap<PublicKey, Identity>,
}

impl Roster {
    /// Whether the cell has a roster, and so requires signatures.
    pub fn is_set(&self) -> bool {
        self.version > 0
    }

    /// The identity `key` belongs to, if the roster names it.
    pub fn identity_of(&self, key: &PublicKey) -> Option<&Identity> {
        self.members.get(key)
    }

    /// Why `event`, stored on `subject` and signed by `signer` (if by
    /// anyone), may not be taken; None if it may.
    pub fn refusal(
        &self,
        subject: &str,
        signer: Option<&PublicKey>,
        event: &Event,
    ) -> Option<String> {
        if !self.is_set() || event.body.writer() == Writer::Client {
            return None;
        }
        let version = self.version;
        let Some(key) = signer else {
            return Some(format!(
                "it is not signed, and under the cell's roster (version {version}) only tenants' events may be unsigned"
            ));
        };
        let Some(identity) = self.members.get(key) else {
            return Some(format!(
                "its signer {key} is not in the cell's roster (version {version})"
            ));
        };
        match identity.may_publish(event, subject) {
            true => None,
            false => Some(format!(
                "its signer {key} is {}, which may not write it",
                identity.name()
            )),
        }
    }

    /// Takes `set`, signed by `signer`, if it may be the next roster: the
    /// first must be signed by an operator it names itself, each later one
    /// is signed by an operator of the roster before (which
    /// [`refusal`](Roster::refusal) checks) and is its next version.
    pub fn on_set(&mut self, signer: Option<&PublicKey>, set: &RosterSet) -> Result<(), String> {
        set.validate()?;
        let next = self.version + 1;
        if set.version != next {
            return Err(format!(
                "it is version {}; the next roster is version {next}",
                set.version
            ));
        }
        if !self.is_set() {
            let self_signed = signer.is_some_and(|key| {
                set.members
                    .iter()
                    .any(|m| &m.key == key && m.identity == Identity::Operator)
            });
            if !self_signed {
                return Err(
                    "the first roster must be signed by an operator key it names".to_string(),
                );
            }
        }
        self.version = set.version;
        self.members = set
            .members
            .iter()
            .map(|member| (member.key.clone(), member.identity.clone()))
            .collect();
        Ok(())
    }
}
