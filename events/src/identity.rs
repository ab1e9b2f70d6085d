//! The identities of a cell: who connects to its server and what each may
//! write. The server's permissions (`rota auth init`) and the fold's roster
//! check both ask [`Identity::scope_for`], so the two enforce one rule.

use crate::body::Writer;
use crate::envelope::Event;
use crate::names::check_name;
use crate::subject::{PatternScope, subject_matches, subject_patterns};
use serde::{Deserialize, Serialize};

/// One party that connects to a cell's server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Identity {
    /// Submits and cancels its own jobs and reads their events.
    Tenant(String),
    /// Submits and cancels for any tenant, and reads every job's events:
    /// a front end that authenticates tenants itself, such as an HTTP API.
    Gateway,
    /// Runs one node: registers it, reports its jobs, says it is alive.
    Agent(String),
    /// Runs many nodes, as `rota sim-fleet` does: an agent for every node.
    Fleet,
    /// One deciding service (`rota run <service>`).
    Service(String),
    /// Every deciding service in one process (`rota run all`).
    Services,
    /// Reads everything, writes nothing (`rota status`, `replay verify`).
    Auditor,
    /// Sets policy, tenants and the roster, and may provision the stream.
    Operator,
}

/// What a name of an identity may look like, for error messages.
pub const IDENTITY_NAMES: &str = "tenant-<tenant>, gateway, agent-<node>, fleet, service-<service>, services, auditor or operator";

impl Identity {
    /// The identities every cell has, whatever its tenants and nodes.
    pub fn of_every_cell() -> Vec<Identity> {
        vec![
            Identity::Operator,
            Identity::Auditor,
            Identity::Services,
            Identity::Fleet,
            Identity::Gateway,
        ]
    }

    /// A name for files, comments and the roster: `tenant-acme`, `gateway`,
    /// `agent-n1`, `fleet`, `service-placement`, `services`, `auditor`,
    /// `operator`.
    pub fn name(&self) -> String {
        match self {
            Identity::Tenant(tenant) => format!("tenant-{tenant}"),
            Identity::Gateway => "gateway".to_string(),
            Identity::Agent(node) => format!("agent-{node}"),
            Identity::Fleet => "fleet".to_string(),
            Identity::Service(service) => format!("service-{service}"),
            Identity::Services => "services".to_string(),
            Identity::Auditor => "auditor".to_string(),
            Identity::Operator => "operator".to_string(),
        }
    }

    /// The identity a [`name`](Identity::name) names.
    pub fn parse(name: &str) -> Result<Identity, String> {
        let named = |what: &'static str, value: &str, make: fn(String) -> Identity| {
            check_name(what, value)
                .map(|()| make(value.to_string()))
                .map_err(|e| format!("identity {name:?}: {e}"))
        };
        match name {
            "gateway" => Ok(Identity::Gateway),
            "fleet" => Ok(Identity::Fleet),
            "services" => Ok(Identity::Services),
            "auditor" => Ok(Identity::Auditor),
            "operator" => Ok(Identity::Operator),
            _ => {
                if let Some(tenant) = name.strip_prefix("tenant-") {
                    named("tenant", tenant, Identity::Tenant)
                } else if let Some(node) = name.strip_prefix("agent-") {
                    named("node", node, Identity::Agent)
                } else if let Some(service) = name.strip_prefix("service-") {
                    named("service", service, Identity::Service)
                } else {
                    Err(format!(
                        "{name:?} is not an identity; identities are {IDENTITY_NAMES}"
                    ))
                }
            }
        }
    }

    /// The tokens this identity may write events of `writer`'s types for,
    /// or None if it may not write them at all.
    pub fn scope_for(&self, writer: Writer) -> Option<PatternScope<'_>> {
        let any = PatternScope::default();
        match (self, writer) {
            (Identity::Tenant(tenant), Writer::Client) => Some(PatternScope {
                tenant: Some(tenant),
                ..any
            }),
            (Identity::Gateway, Writer::Client) => Some(any),
            (Identity::Agent(node), Writer::Agent) => Some(PatternScope {
                node: Some(node),
                ..any
            }),
            (Identity::Fleet, Writer::Agent) => Some(any),
            (Identity::Service(service), Writer::Service(writer)) if service == writer => Some(any),
            (Identity::Service(service), Writer::Clock) if service == "clock" => Some(any),
            (Identity::Service(service), Writer::AnyService) => Some(PatternScope {
                service: Some(service),
                ..any
            }),
            (Identity::Services, Writer::Service(_) | Writer::Clock | Writer::AnyService) => {
                Some(any)
            }
            (Identity::Operator, Writer::Operator) => Some(any),
            _ => None,
        }
    }

    /// Whether this identity may publish `event` on `subject`: by the same
    /// allow-list the server's configuration gives it.
    pub fn may_publish(&self, event: &Event, subject: &str) -> bool {
        let type_name = event.body.type_name();
        self.scope_for(event.body.writer()).is_some_and(|scope| {
            subject_patterns(&event.cell, type_name, &scope)
                .iter()
                .any(|pattern| subject_matches(pattern, subject))
        })
    }
}

impl From<Identity> for String {
    fn from(identity: Identity) -> String {
        identity.name()
    }
}

impl TryFrom<String> for Identity {
    type Error = String;
    fn try_from(name: String) -> Result<Identity, String> {
        Identity::parse(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_identity() {
        let mut identities = Identity::of_every_cell();
        identities.extend([
            Identity::Tenant("acme-ml".into()),
            Identity::Agent("node-1".into()),
            Identity::Service("placement".into()),
        ]);
        for identity in identities {
            assert_eq!(Identity::parse(&identity.name()), Ok(identity));
        }
    }

    #[test]
    fn a_bad_name_says_what_names_are() {
        let error = Identity::parse("root").unwrap_err();
        assert!(error.contains("tenant-<tenant>"), "{error}");
        let error = Identity::parse("agent-a.b").unwrap_err();
        assert!(error.contains("node"), "{error}");
    }
}
