//! Subjects: where each event is published, so that subscribers can filter
//! by cell, tenant, job or node with plain NATS wildcards.
//!
//! ```text
//! rota.<cell>.job.<tenant>.<job>.<verb>            submitted, cancel_requested,
//!                                                  admitted, rejected, cancelled
//! rota.<cell>.job.<tenant>.<job>.<verb>.<node>     bound, started, finished,
//!                                                  timed_out, cancelled (of a job
//!                                                  on a node)
//! rota.<cell>.node.<node>.<verb>                   registered, drained, lost
//! rota.<cell>.lease.<service>                      lease.claimed
//! rota.<cell>.clock.tick                           clock.tick
//! rota.<cell>.policy.set                           policy.set
//! rota.<cell>.tenants.set                          tenants.set
//! rota.<cell>.fairshare.updated                    fairshare.updated
//! rota.<cell>.input.rejected[.<tenant>]            input.rejected
//! ```

use crate::body::Body;
use crate::envelope::Event;
use std::fmt;

/// The subject of one event, built from its envelope and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject<'a> {
    event: &'a Event,
}

impl<'a> Subject<'a> {
    pub fn of(event: &'a Event) -> Subject<'a> {
        Subject { event }
    }
}

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let event = self.event;
        let cell = &event.cell;
        let type_name = event.body.type_name();
        let (family, verb) = type_name.split_once('.').expect("type names have a family");
        match (&event.body, family) {
            (Body::LeaseClaimed(b), _) => write!(f, "rota.{cell}.lease.{}", b.service),
            (Body::ClockTick(_), _) => write!(f, "rota.{cell}.clock.tick"),
            (Body::PolicySet(_), _) => write!(f, "rota.{cell}.policy.set"),
            (Body::TenantsSet(_), _) => write!(f, "rota.{cell}.tenants.set"),
            (Body::FairShareUpdated(_), _) => write!(f, "rota.{cell}.fairshare.updated"),
            (Body::InputRejected(_), _) => match &event.tenant {
                Some(tenant) => write!(f, "rota.{cell}.input.rejected.{tenant}"),
                None => write!(f, "rota.{cell}.input.rejected"),
            },
            (body, "job") => {
                let tenant = event.tenant.as_deref().unwrap_or("");
                let job = body.job().unwrap_or("");
                write!(f, "rota.{cell}.job.{tenant}.{job}.{verb}")?;
                match body.node() {
                    Some(node) => write!(f, ".{node}"),
                    None => Ok(()),
                }
            }
            (body, _) => write!(f, "rota.{cell}.node.{}.{verb}", body.node().unwrap_or("")),
        }
    }
}

/// The tokens of a subject under `rota.<cell>.`, as far as they go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSubject {
    pub cell: String,
    /// The tenant token of a job subject, or of a tenant-scoped rejection.
    pub tenant: Option<String>,
    pub job: Option<String>,
}

impl ParsedSubject {
    /// Reads the cell, tenant and job tokens of a subject, for attributing a
    /// message that could not be decoded.
    pub fn parse(subject: &str) -> Option<ParsedSubject> {
        let tokens: Vec<&str> = subject.split('.').collect();
        if tokens.len() < 3 || tokens[0] != "rota" {
            return None;
        }
        let is_job = tokens[2] == "job";
        let token_at = |index: usize| {
            tokens
                .get(index)
                .filter(|token| is_job && crate::names::check_name("token", token).is_ok())
                .map(|token| token.to_string())
        };
        Some(ParsedSubject {
            cell: tokens[1].to_string(),
            tenant: token_at(3),
            job: token_at(4),
        })
    }
}

/// The name of a cell's stream.
pub fn stream_name(cell: &str) -> String {
    format!("ROTA_{cell}")
}

/// The subjects a cell's stream captures. Liveness subjects are deliberately
/// not among them: heartbeats are not logged.
pub fn stream_subjects(cell: &str) -> Vec<String> {
    [
        "job",
        "node",
        "lease",
        "clock",
        "input",
        "policy",
        "tenants",
        "fairshare",
    ]
    .iter()
    .map(|family| format!("rota.{cell}.{family}.>"))
    .collect()
}

/// Core NATS subject on which a node's agent says it is alive.
pub fn liveness_node_subject(cell: &str) -> String {
    format!("rota.{cell}.live.nodes")
}

/// Core NATS subject on which a service's lease holder says it is alive.
pub fn liveness_service_subject(cell: &str, service: &str) -> String {
    format!("rota.{cell}.live.service.{service}")
}
