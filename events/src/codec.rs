//! MessagePack (and JSON on ingress) encoding of events, with validation and
//! upcasting on the way in.

use crate::body::{self, Body, JobSubmitted, JobSubmittedV1, TYPE_NAMES};
use crate::envelope::{Event, RoundTag};
use crate::limits::{
    EVENT_BYTES_MAX, JOB_SUBMITTED_VERSION, NODE_GPU_DEVICES_MAX, ROSTER_EVENT_BYTES_MAX,
};
use crate::names::check_name;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How a message's payload is encoded. MessagePack unless the message has the
/// header `Content-Type: application/json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    MessagePack,
    Json,
}

impl Encoding {
    /// The header that selects JSON, and its value.
    pub const JSON_HEADER: (&'static str, &'static str) = ("Content-Type", "application/json");

    /// The encoding named by a `Content-Type` header value, if any.
    pub fn from_content_type(value: Option<&str>) -> Encoding {
        match value {
            Some(v) if v.trim().eq_ignore_ascii_case("application/json") => Encoding::Json,
            _ => Encoding::MessagePack,
        }
    }
}

/// What kind of problem made a message unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputErrorKind {
    Oversized,
    Malformed,
    UnknownType,
    UnknownVersion,
    SubjectMismatch,
    /// Signature headers that do not hold: see [`crate::check_signature`].
    BadSignature,
}

impl InputErrorKind {
    /// The name used in `input.rejected` events.
    pub fn as_str(&self) -> &'static str {
        match self {
            InputErrorKind::Oversized => "oversized",
            InputErrorKind::Malformed => "malformed",
            InputErrorKind::UnknownType => "unknown_type",
            InputErrorKind::UnknownVersion => "unknown_version",
            InputErrorKind::SubjectMismatch => "subject_mismatch",
            InputErrorKind::BadSignature => "bad_signature",
        }
    }
}

/// A message that could not be decoded into an event, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", kind.as_str())]
pub struct InputError {
    pub kind: InputErrorKind,
    pub detail: String,
}

impl InputError {
    fn new(kind: InputErrorKind, detail: impl Into<String>) -> InputError {
        InputError {
            kind,
            detail: detail.into(),
        }
    }
}

/// The envelope on the wire, generic over the body's shape.
#[derive(Serialize, Deserialize)]
struct Wire<B> {
    id: String,
    #[serde(rename = "type")]
    type_name: String,
    v: u32,
    cell: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    causation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tracestate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    round: Option<RoundTag>,
    data: B,
}

/// Just enough of the envelope to choose the body's type and version.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    type_name: String,
    v: u32,
}

/// Encodes an event as a MessagePack map with named fields.
pub fn encode(event: &Event) -> Vec<u8> {
    encode_as(event, Encoding::MessagePack)
}

/// Encodes an event in the given encoding (JSON is what a client on an
/// ingress subject may send instead of MessagePack).
pub fn encode_as(event: &Event, encoding: Encoding) -> Vec<u8> {
    macro_rules! wire {
        ($b:expr) => {{
            let wire = Wire {
                id: event.id.clone(),
                type_name: event.body.type_name().to_string(),
                v: event.body.version(),
                cell: event.cell.clone(),
                tenant: event.tenant.clone(),
                correlation_id: event.correlation_id.clone(),
                causation_id: event.causation_id.clone(),
                traceparent: event.traceparent.clone(),
                tracestate: event.tracestate.clone(),
                round: event.round.clone(),
                data: $b,
            };
            to_bytes(encoding, &wire)
        }};
    }
    match &event.body {
        Body::JobSubmitted(b) => wire!(b),
        Body::JobCancelRequested(b) => wire!(b),
        Body::JobAdmitted(b) => wire!(b),
        Body::JobRejected(b) => wire!(b),
        Body::JobBound(b) => wire!(b),
        Body::JobStarted(b) => wire!(b),
        Body::JobFinished(b) => wire!(b),
        Body::JobCancelled(b) => wire!(b),
        Body::NodeRegistered(b) => wire!(b),
        Body::NodeDrained(b) => wire!(b),
        Body::NodeLost(b) => wire!(b),
        Body::LeaseClaimed(b) => wire!(b),
        Body::ClockTick(b) => wire!(b),
        Body::InputRejected(b) => wire!(b),
        Body::JobTimedOut(b) => wire!(b),
        Body::PolicySet(b) => wire!(b),
        Body::TenantsSet(b) => wire!(b),
        Body::FairShareUpdated(b) => wire!(b),
        Body::RosterSet(b) => wire!(b),
        Body::JobPreempted(b) => wire!(b),
        Body::JobNominated(b) => wire!(b),
        Body::NominationLapsed(b) => wire!(b),
    }
}

fn to_bytes<T: Serialize>(encoding: Encoding, value: &T) -> Vec<u8> {
    match encoding {
        Encoding::MessagePack => rmp_serde::to_vec_named(value).expect("events always encode"),
        Encoding::Json => serde_json::to_vec(value).expect("events always encode"),
    }
}

/// Decodes and validates one message from the log.
///
/// Checks, in order: size, envelope shape, type, version (upcasting older
/// ones), names, and that the subject is the one the event belongs on.
pub fn decode(subject: &str, encoding: Encoding, payload: &[u8]) -> Result<Event, InputError> {
    let (bytes_max, what) = match subject.ends_with(".roster.set") {
        true => (ROSTER_EVENT_BYTES_MAX, "a roster.set"),
        false => (EVENT_BYTES_MAX, "events"),
    };
    if payload.len() > bytes_max {
        return Err(InputError::new(
            InputErrorKind::Oversized,
            format!(
                "the message is {} bytes; {what} may be at most {bytes_max} bytes",
                payload.len()
            ),
        ));
    }
    let head: Head = from_bytes(encoding, payload).map_err(|e| {
        InputError::new(
            InputErrorKind::Malformed,
            format!("the envelope could not be read: {e}; it needs at least `type` and `v`"),
        )
    })?;
    let event = decode_body(&head, encoding, payload)?;
    check_names(&event)?;
    check_amounts(&event)?;
    let expected = event.subject();
    if expected != subject {
        return Err(InputError::new(
            InputErrorKind::SubjectMismatch,
            format!(
                "a {} event with these fields belongs on {expected:?}",
                head.type_name
            ),
        ));
    }
    Ok(event)
}

fn decode_body(head: &Head, encoding: Encoding, payload: &[u8]) -> Result<Event, InputError> {
    let unknown_version = |supported: &str| {
        InputError::new(
            InputErrorKind::UnknownVersion,
            format!(
                "{} version {} is not supported; this build reads versions {supported}",
                head.type_name, head.v
            ),
        )
    };
    macro_rules! typed {
        ($ty:ty, $variant:ident) => {{
            if head.v != 1 {
                return Err(unknown_version("1"));
            }
            let wire: Wire<$ty> = wire_from(encoding, payload)?;
            into_event(wire, Body::$variant)
        }};
    }
    Ok(match head.type_name.as_str() {
        "job.submitted" => match head.v {
            1 => {
                let wire: Wire<JobSubmittedV1> = wire_from(encoding, payload)?;
                into_event(wire, |old| Body::JobSubmitted(Arc::new(old.upcast())))
            }
            JOB_SUBMITTED_VERSION => {
                let wire: Wire<JobSubmitted> = wire_from(encoding, payload)?;
                into_event(wire, |spec| Body::JobSubmitted(Arc::new(spec)))
            }
            _ => return Err(unknown_version("1 and 2")),
        },
        "job.cancel_requested" => typed!(body::JobCancelRequested, JobCancelRequested),
        "job.admitted" => typed!(body::JobAdmitted, JobAdmitted),
        "job.rejected" => typed!(body::JobRejected, JobRejected),
        "job.bound" => typed!(body::JobBound, JobBound),
        "job.started" => typed!(body::JobStarted, JobStarted),
        "job.finished" => typed!(body::JobFinished, JobFinished),
        "job.cancelled" => typed!(body::JobCancelled, JobCancelled),
        "node.registered" => typed!(body::NodeRegistered, NodeRegistered),
        "node.drained" => typed!(body::NodeDrained, NodeDrained),
        "node.lost" => typed!(body::NodeLost, NodeLost),
        "lease.claimed" => typed!(body::LeaseClaimed, LeaseClaimed),
        "clock.tick" => typed!(body::ClockTick, ClockTick),
        "input.rejected" => typed!(body::InputRejected, InputRejected),
        "job.timed_out" => typed!(body::JobTimedOut, JobTimedOut),
        "policy.set" => typed!(crate::policy::PolicySet, PolicySet),
        "tenants.set" => typed!(crate::tenants::TenantsSet, TenantsSet),
        "fairshare.updated" => typed!(crate::tenants::FairShareUpdated, FairShareUpdated),
        "roster.set" => typed!(crate::roster::RosterSet, RosterSet),
        "job.preempted" => typed!(crate::preemption::JobPreempted, JobPreempted),
        "job.nominated" => typed!(crate::preemption::JobNominated, JobNominated),
        "job.nomination_lapsed" => typed!(crate::preemption::NominationLapsed, NominationLapsed),
        other => {
            return Err(InputError::new(
                InputErrorKind::UnknownType,
                format!(
                    "unknown event type {other:?}; known types: {}",
                    TYPE_NAMES.join(", ")
                ),
            ));
        }
    })
}

fn wire_from<B: DeserializeOwned>(
    encoding: Encoding,
    payload: &[u8],
) -> Result<Wire<B>, InputError> {
    from_bytes(encoding, payload)
        .map_err(|e| InputError::new(InputErrorKind::Malformed, format!("invalid event: {e}")))
}

fn into_event<B>(wire: Wire<B>, body: impl FnOnce(B) -> Body) -> Event {
    Event {
        id: wire.id,
        cell: wire.cell,
        tenant: wire.tenant,
        correlation_id: wire.correlation_id,
        causation_id: wire.causation_id,
        traceparent: wire.traceparent,
        tracestate: wire.tracestate,
        round: wire.round,
        body: body(wire.data),
    }
}

fn from_bytes<T: DeserializeOwned>(encoding: Encoding, payload: &[u8]) -> Result<T, String> {
    match encoding {
        Encoding::MessagePack => rmp_serde::from_slice(payload).map_err(|e| e.to_string()),
        Encoding::Json => serde_json::from_slice(payload).map_err(|e| e.to_string()),
    }
}

/// Every name in the event must be usable as a subject token.
fn check_names(event: &Event) -> Result<(), InputError> {
    let malformed =
        |e: crate::names::NameError| InputError::new(InputErrorKind::Malformed, e.to_string());
    check_name("id", &event.id).map_err(malformed)?;
    check_name("cell", &event.cell).map_err(malformed)?;
    if let Some(tenant) = &event.tenant {
        check_name("tenant", tenant).map_err(malformed)?;
    } else if event.body.job().is_some() {
        return Err(InputError::new(
            InputErrorKind::Malformed,
            format!("a {} event needs a `tenant`", event.body.type_name()),
        ));
    }
    if let Some(job) = event.body.job() {
        check_name("job", job).map_err(malformed)?;
    }
    if let Some(node) = event.body.node() {
        check_name("node", node).map_err(malformed)?;
    }
    if let Some(round) = &event.round {
        check_name("round.service", &round.service).map_err(malformed)?;
    }
    if let Body::LeaseClaimed(lease) = &event.body {
        check_name("service", &lease.service).map_err(malformed)?;
    }
    Ok(())
}

/// Checks the amounts whose size every reader of the log would pay for.
fn check_amounts(event: &Event) -> Result<(), InputError> {
    if let Body::NodeRegistered(node) = &event.body
        && node.capacity.gpus > NODE_GPU_DEVICES_MAX
    {
        return Err(InputError::new(
            InputErrorKind::Malformed,
            format!(
                "capacity.gpus is {}; a node may have 0 to {NODE_GPU_DEVICES_MAX} GPU devices",
                node.capacity.gpus
            ),
        ));
    }
    Ok(())
}

/// Encodes a service's state for a snapshot: MessagePack with named fields,
/// byte-identical for equal states as long as the state holds no hash maps.
pub fn encode_state<T: Serialize>(state: &T) -> Vec<u8> {
    encode_state_sized(state, 0)
}

/// Encodes a state into a buffer made `capacity_hint` bytes large up front:
/// a large state encoded into a growing buffer spends much of its time
/// copying what it already wrote.
pub fn encode_state_sized<T: Serialize>(state: &T, capacity_hint: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(capacity_hint);
    rmp_serde::encode::write_named(&mut bytes, state).expect("states always encode");
    bytes
}

/// Decodes a snapshot's state.
pub fn decode_state<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|e| e.to_string())
}
