//! The offline simulator: the same admission, placement and fair-share
//! cores that run live, driven in virtual time with no NATS, over real
//! cluster traces.
//!
//! The driver ([`driver::simulate`]) keeps one log in memory: it appends each
//! submission at its arrival time, lets admission and placement decide rounds
//! exactly as the live shell does (each round applied back before the next
//! decision), and plays the node agents' part by reporting each job finished
//! at its start plus its run time, or at its wall-clock limit when placement
//! stops it. Nothing here reads a clock or the disk: traces come in as text.
//!
//! - [`swf`]: the Standard Workload Format (Parallel Workloads Archive).
//! - [`gpu_trace`]: the GPU cluster trace's node and pod lists.
//! - [`queue_classes`]: an SWF trace's queues as priority classes.
//! - [`metrics`]: wait, bounded slowdown, utilization and makespan; pods
//!   placed, waited and never placed, and the GPU allocation ratio.

pub mod driver;
pub mod gpu_trace;
pub mod metrics;
pub mod queue_classes;
pub mod swf;

pub use driver::{Machine, SimJob, SimOptions, SimOutcome, TenantSample, simulate};
pub use metrics::{ClassWait, GpuMetrics, Metrics, measure, measure_gpu, waits_by_class};
