//! The envelope every event travels in.

use crate::body::Body;
use crate::subject::Subject;
use serde::{Deserialize, Serialize};

/// Where a decision came from: the service, its lease epoch, the stream
/// sequence it decided after (the basis), and its place in the round.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RoundTag {
    pub service: String,
    pub epoch: u64,
    /// The stream sequence of the last event applied before deciding.
    pub basis: u64,
    /// This event's position in the round, from 0.
    pub index: u32,
    /// How many events the round holds.
    pub size: u32,
}

/// One event: envelope fields and a typed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique event id: a ULID for events Rota writes; clients may use any
    /// name-shaped id. It is also the message's `Nats-Msg-Id`.
    pub id: String,
    pub cell: String,
    /// The tenant, for every job event.
    pub tenant: Option<String>,
    /// Groups every event of one job (the job id) or one operation.
    pub correlation_id: Option<String>,
    /// The id of the event that caused this one.
    pub causation_id: Option<String>,
    /// W3C trace context.
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    /// Present on service decisions only.
    pub round: Option<RoundTag>,
    pub body: Body,
}

impl Event {
    /// A bare event with only the required envelope fields set.
    pub fn new(id: impl Into<String>, cell: impl Into<String>, body: Body) -> Event {
        Event {
            id: id.into(),
            cell: cell.into(),
            tenant: None,
            correlation_id: None,
            causation_id: None,
            traceparent: None,
            tracestate: None,
            round: None,
            body,
        }
    }

    /// Sets the tenant.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Event {
        self.tenant = Some(tenant.into());
        self
    }

    /// The subject this event is published on.
    pub fn subject(&self) -> String {
        Subject::of(self).to_string()
    }

    /// The `Nats-Msg-Id` this event is published with. Decisions use their
    /// round position, so a re-derived decision has the same id.
    pub fn msg_id(&self) -> String {
        match &self.round {
            Some(round) => {
                crate::ids::decision_msg_id(&round.service, round.epoch, round.basis, round.index)
            }
            None => self.id.clone(),
        }
    }
}
