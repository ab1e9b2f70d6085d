//! What admission accepts. Every bound is a named constant with its unit last.

/// Largest CPU request, in thousandths of a core (1,024 cores).
pub const JOB_CPU_MILLI_MAX: u64 = 1_024_000;
/// Largest memory request, in bytes (16 TiB).
pub const JOB_MEMORY_BYTES_MAX: u64 = 16 << 40;
/// Largest GPU request, in whole devices.
pub const JOB_GPUS_MAX: u32 = 64;
/// Most program arguments, the program included.
pub const JOB_COMMAND_ARGS_MAX: usize = 64;
/// Longest single argument, in bytes.
pub const JOB_COMMAND_ARG_BYTES_MAX: usize = 4096;
/// Longest job name, in bytes.
pub const JOB_NAME_BYTES_MAX: usize = 1024;
/// Longest declared run time, in milliseconds (30 days).
pub const JOB_DURATION_MS_MAX: u64 = 30 * 24 * 3600 * 1000;
/// Longest wall-clock limit, in seconds (30 days).
pub const JOB_WALLTIME_S_MAX: u64 = 30 * 24 * 3600;
/// Priorities run from the negative to the positive of this.
pub const JOB_PRIORITY_ABS_MAX: i32 = 1000;
/// Most labels on one job.
pub const JOB_LABELS_MAX: usize = 32;
/// Longest label key or value, in bytes.
pub const JOB_LABEL_BYTES_MAX: usize = 256;
/// Most entries in one list of a job's constraints (selectors, tolerations,
/// affinity terms, spread constraints, extended resources).
pub const CONSTRAINT_TERMS_MAX: usize = 16;
/// Most values one label requirement lists.
pub const REQUIREMENT_VALUES_MAX: usize = 32;
/// Largest weight of a preference.
pub const PREFERENCE_WEIGHT_MAX: u32 = 100;
/// Largest skew a topology spread constraint allows.
pub const TOPOLOGY_SKEW_MAX: u32 = 1000;
