//! The state every Rota service folds from its cell's log, and the contract a
//! service core fulfils.
//!
//! The [`Ledger`] is what every reader agrees on: jobs, nodes and their
//! bindings, leases, the roster and the log's time, with a job's life as
//! one table (`ledger/transitions.rs`). Beside it, each concern keeps its
//! own projection from the ledger's changes ([`Projection`]): admission's
//! backlog, placement's indexes, the tenants' accounts. [`CellState`]
//! composes them all, for the services; an agent or the clock folds the
//! ledger alone. It is a pure fold: `apply` takes a [`LogEntry`] and
//! nothing else, iterates only ordered maps, and resolves every conflicting
//! or late event the same way for every reader (DESIGN.md sections 3 and
//! 4). A service core ([`ServiceCore`]) is this fold plus a `decide`
//! function.

pub mod accounts;
mod backlog;
mod cell;
mod core;
mod entry;
mod job;
mod labels;
mod ledger;
pub mod neighbour_terms;
mod node;
pub mod node_filters;
mod nominations;
mod occupants;
mod pending;
mod placement_index;
mod projection;
pub mod protection;
mod repellers;
mod retention;
mod rng;
mod roster;
mod tally;
mod verdict;

pub use backlog::{Backlog, CancelRequest, RejectionToWrite};
pub use cell::CellState;
pub use core::{Decider, Draft, Folded, ServiceCore, seal_round};
pub use entry::LogEntry;
pub use job::{Job, JobState, Preemption};
pub use labels::{LabelIndex, LabelledJobs};
pub use ledger::transitions::{self, JobInput, Move, Refusal};
pub use ledger::{Counters, Lease, Ledger};
pub use node::{
    GPU_MILLI_PER_DEVICE, Node, NodeState, gpu_share_milli, gpu_summary, pick_gpu_devices,
    topology_domain,
};
pub use nominations::{Nomination, Nominations};
pub use occupants::{
    ClassSummary, NO_CLASS, NodeOccupants, Occupant, OccupantTerms, Occupants, SUMMARY_CLASSES_MAX,
};
pub use pending::{PendingJob, PendingQueue, QueueGroup};
pub use placement_index::PlacementIndex;
pub use projection::{Projection, Refused};
pub use repellers::{RepellerIndex, RepellerKind};
pub use retention::EndedJobs;
pub use rng::SeededRng;
pub use roster::Roster;
pub use tally::JobTally;
pub use verdict::{Verdict, apply_with_verdict};
