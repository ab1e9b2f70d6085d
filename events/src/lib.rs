//! Rota's wire format, and the only crate that knows it.
//!
//! Every event in a cell's log is an [`Event`]: a versioned envelope (id, type,
//! schema version, cell, tenant, correlation and causation ids, W3C trace
//! context, and for service decisions the [`RoundTag`]) around a typed [`Body`].
//! Events travel as MessagePack maps with named fields; ingress subjects also
//! accept JSON. [`decode`] turns raw bytes from the log into an `Event` or an
//! [`InputError`] that says what was wrong, and upcasts older schema versions.

mod body;
mod codec;
mod constraints;
mod envelope;
mod identity;
mod ids;
mod limits;
mod names;
mod policy;
mod preemption;
mod retention;
mod roster;
mod signature;
mod subject;
mod tenants;

pub use body::{
    Body, ClockTick, InputRejected, JobAdmitted, JobBound, JobCancelRequested, JobCancelled,
    JobFinished, JobRejected, JobStarted, JobSubmitted, JobSubmittedV1, JobTimedOut, LeaseClaimed,
    NodeDrained, NodeLost, NodeRegistered, Outcome, Resources, TYPE_NAMES, Writer, writer_of,
};
pub use codec::{
    Encoding, InputError, InputErrorKind, decode, decode_state, encode, encode_as, encode_state,
    encode_state_sized,
};
pub use constraints::{
    Constraints, JobAffinity, JobAffinityTerm, JobSelector, LabelRequirement, NodeAffinity,
    Operator, Preference, TOPOLOGY_NODE, TOPOLOGY_RACK, TOPOLOGY_ZONE, Taint, TaintEffect,
    Toleration, Topology, TopologySpread, WeightedJobAffinityTerm, WhenUnsatisfiable,
};
pub use envelope::{Event, RoundTag};
pub use identity::{IDENTITY_NAMES, Identity};
pub use ids::{
    decision_event_id, decision_msg_id, derived_event_id, fnv1a64, new_event_id, traceparent_for,
};
pub use limits::*;
pub use names::{NameError, check_name};
pub use policy::*;
pub use preemption::*;
pub use retention::*;
pub use roster::{ROSTER_MEMBERS_MAX, RosterMember, RosterSet};
pub use signature::{
    CHECKER_KEYS_MAX, PublicKey, SIGNATURE_HEADER, SIGNER_HEADER, SignatureChecker, SignedMessage,
    check_signature, signature_text, signed_message,
};
pub use subject::{
    ParsedSubject, PatternScope, Subject, liveness_node_subject, liveness_one_node_subject,
    liveness_service_subject, stream_name, stream_subjects, subject_matches, subject_patterns,
};
pub use tenants::*;
