//! The state every Rota service folds from its cell's log, and the contract a
//! service core fulfils.
//!
//! [`CellState`] is the one projection of this slice: jobs, nodes and their
//! bindings, leases, the admission work queues and the log's time. It is a
//! pure fold: `apply` takes a [`LogEntry`] and nothing else, iterates only
//! ordered maps, and resolves every conflicting or late event the same way
//! for every reader (DESIGN.md sections 3 and 4). A service core
//! ([`ServiceCore`]) is this fold plus a `decide` function.

pub mod accounts;
mod cell;
mod core;
mod entry;
mod job;
mod labels;
pub mod neighbour_terms;
mod node;
pub mod node_filters;
mod pending;
mod queues;
mod repellers;
mod retention;
mod rng;
mod roster;
mod tally;
mod verdict;

pub use cell::{CellState, Counters, Lease};
pub use core::{Decider, Draft, Folded, ServiceCore, seal_round};
pub use entry::LogEntry;
pub use job::{Job, JobState};
pub use labels::{LabelIndex, LabelledJobs};
pub use node::{
    GPU_MILLI_PER_DEVICE, Node, NodeState, gpu_share_milli, gpu_summary, pick_gpu_devices,
    topology_domain,
};
pub use pending::{PendingJob, PendingQueue, QueueGroup};
pub use queues::{CancelRequest, Queues, RejectionToWrite};
pub use repellers::{RepellerIndex, RepellerKind};
pub use retention::EndedJobs;
pub use rng::SeededRng;
pub use roster::Roster;
pub use tally::JobTally;
pub use verdict::{Verdict, apply_with_verdict};
