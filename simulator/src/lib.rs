//! The offline simulator: the same admission and placement cores that run
//! live, driven in virtual time with no NATS, over real cluster traces.
//!
//! The driver ([`driver::simulate`]) keeps one log in memory: it appends each
//! submission at its arrival time, lets admission and placement decide rounds
//! exactly as the live shell does (each round applied back before the next
//! decision), and plays the node agents' part by reporting each job finished
//! at its start plus its run time, or at its wall-clock limit when placement
//! stops it. Nothing here reads a clock or the disk: traces come in as text.
//!
//! - [`swf`]: the Standard Workload Format (Parallel Workloads Archive).
//! - [`metrics`]: wait, bounded slowdown, utilization and makespan.

pub mod driver;
pub mod metrics;
pub mod swf;

pub use driver::{Machine, SimJob, SimOutcome, simulate};
pub use metrics::{Metrics, measure};
