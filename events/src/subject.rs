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
//! rota.<cell>.roster.set                           roster.set
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
            (Body::RosterSet(_), _) => write!(f, "rota.{cell}.roster.set"),
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
        "roster",
    ]
    .iter()
    .map(|family| format!("rota.{cell}.{family}.>"))
    .collect()
}

/// Core NATS subject on which a fleet says its nodes are alive, many in
/// one message (their names, separated by spaces).
pub fn liveness_node_subject(cell: &str) -> String {
    format!("rota.{cell}.live.nodes")
}

/// Core NATS subject on which one node's agent says that node is alive: the
/// subject names the node, so the server can let each agent speak only for
/// its own.
pub fn liveness_one_node_subject(cell: &str, node: &str) -> String {
    format!("rota.{cell}.live.nodes.{node}")
}

/// Core NATS subject on which a service's lease holder says it is alive.
pub fn liveness_service_subject(cell: &str, service: &str) -> String {
    format!("rota.{cell}.live.service.{service}")
}

/// Which tokens of a subject pattern are fixed: the tenant, node or service
/// a writer may write for. A token left `None` is the wildcard `*`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PatternScope<'a> {
    pub tenant: Option<&'a str>,
    pub node: Option<&'a str>,
    pub service: Option<&'a str>,
}

/// The NATS subject patterns on which events of `type_name` are published in
/// `cell`, with the tokens `scope` fixes and `*` for the others: what a
/// publish permission for one writer of the type lists. Empty for an
/// unknown type.
pub fn subject_patterns(cell: &str, type_name: &str, scope: &PatternScope) -> Vec<String> {
    let tenant = scope.tenant.unwrap_or("*");
    let node = scope.node.unwrap_or("*");
    let service = scope.service.unwrap_or("*");
    let Some((family, verb)) = type_name.split_once('.') else {
        return Vec::new();
    };
    let job = |suffix: &str| format!("rota.{cell}.job.{tenant}.*.{verb}{suffix}");
    match (family, verb) {
        (
            "job",
            "bound" | "started" | "finished" | "timed_out" | "preempted" | "nominated"
            | "nomination_lapsed",
        ) => vec![job(&format!(".{node}"))],
        ("job", "cancelled") => vec![job(""), job(&format!(".{node}"))],
        ("job", _) => vec![job("")],
        ("node", _) => vec![format!("rota.{cell}.node.{node}.{verb}")],
        ("lease", _) => vec![format!("rota.{cell}.lease.{service}")],
        ("input", _) => vec![
            format!("rota.{cell}.input.rejected"),
            format!("rota.{cell}.input.rejected.{tenant}"),
        ],
        _ => vec![format!("rota.{cell}.{type_name}")],
    }
}

/// Whether NATS would deliver `subject` to a subscription on `pattern`
/// (`*` one token, `>` the rest): how the fold applies a publish
/// permission exactly as the server does.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let (mut p, mut s) = (pattern.split('.'), subject.split('.'));
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod pattern_tests {
    use super::*;
    use crate::body::*;
    use std::sync::Arc;

    fn matches(pattern: &str, subject: &str) -> bool {
        subject_matches(pattern, subject)
    }

    fn one_of_each() -> Vec<Event> {
        let job = "j1".to_string();
        let node = "n1".to_string();
        let bodies = vec![
            Body::JobSubmitted(Arc::new(JobSubmitted {
                job: job.clone(),
                ..Default::default()
            })),
            Body::JobCancelRequested(JobCancelRequested {
                job: job.clone(),
                reason: None,
            }),
            Body::JobAdmitted(JobAdmitted { job: job.clone() }),
            Body::JobBound(JobBound {
                job: job.clone(),
                node: node.clone(),
                ..Default::default()
            }),
            Body::JobStarted(JobStarted {
                job: job.clone(),
                node: node.clone(),
                pid: None,
            }),
            Body::NodeRegistered(NodeRegistered {
                node: node.clone(),
                ..Default::default()
            }),
            Body::LeaseClaimed(LeaseClaimed {
                service: "placement".into(),
                epoch: 1,
                holder: "p".into(),
            }),
            Body::ClockTick(ClockTick { after_seq: 1 }),
        ];
        bodies
            .into_iter()
            .map(|body| Event::new("e", "c", body).with_tenant("acme"))
            .collect()
    }

    #[test]
    fn every_event_is_on_a_pattern_of_its_own_writer_and_no_other() {
        for event in one_of_each() {
            let subject = event.subject();
            let own = PatternScope {
                tenant: Some("acme"),
                node: Some("n1"),
                service: Some("placement"),
            };
            let other = PatternScope {
                tenant: Some("beta"),
                node: Some("n2"),
                service: Some("admission"),
            };
            let type_name = event.body.type_name();
            assert!(
                subject_patterns("c", type_name, &own)
                    .iter()
                    .any(|p| matches(p, &subject)),
                "{subject} is on no pattern of {type_name}"
            );
            let scoped = matches!(
                type_name.split_once('.').map(|(family, _)| family),
                Some("job" | "node" | "lease")
            );
            if scoped {
                assert!(
                    !subject_patterns("c", type_name, &other)
                        .iter()
                        .any(|p| matches(p, &subject)),
                    "{subject} is on a pattern of another writer of {type_name}"
                );
            }
        }
    }
}
