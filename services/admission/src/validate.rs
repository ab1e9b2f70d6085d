//! Limit validation of a job spec. Schema validation (types, required fields,
//! names) happened when the event was decoded; this checks the values.

use crate::constraints::validate_constraints;
use crate::limits::*;
use rota_events::{CHECKPOINT_SIGNALS, JobSubmitted, PREEMPTION_GRACE_S_MAX, PlacementPolicy};

/// Why a spec is refused: the field, and a reason that says the value and
/// what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The field, as a dotted path with list positions.
    pub field: String,
    pub reason: String,
}

fn refuse(field: &str, reason: String) -> Result<(), Refusal> {
    Err(Refusal {
        field: field.to_string(),
        reason,
    })
}

/// Checks every value of a spec against admission's limits and the
/// placement policy in force (its priority classes).
pub fn validate(spec: &JobSubmitted, policy: &PlacementPolicy) -> Result<(), Refusal> {
    let resources = &spec.resources;
    if !(1..=JOB_CPU_MILLI_MAX).contains(&resources.cpu_milli) {
        return refuse(
            "resources.cpu_milli",
            format!(
                "resources.cpu_milli is {}; it must be 1 to {JOB_CPU_MILLI_MAX} (thousandths of a core)",
                resources.cpu_milli
            ),
        );
    }
    if !(1..=JOB_MEMORY_BYTES_MAX).contains(&resources.memory_bytes) {
        return refuse(
            "resources.memory_bytes",
            format!(
                "resources.memory_bytes is {}; it must be 1 to {JOB_MEMORY_BYTES_MAX} bytes",
                resources.memory_bytes
            ),
        );
    }
    if resources.gpus > JOB_GPUS_MAX {
        return refuse(
            "resources.gpus",
            format!(
                "resources.gpus is {}; it must be 0 to {JOB_GPUS_MAX}",
                resources.gpus
            ),
        );
    }
    validate_command(&spec.command)?;
    if let Some(name) = &spec.name
        && name.len() > JOB_NAME_BYTES_MAX
    {
        return refuse(
            "name",
            format!(
                "name is {} bytes; it may be at most {JOB_NAME_BYTES_MAX}",
                name.len()
            ),
        );
    }
    if let Some(duration_ms) = spec.duration_ms
        && duration_ms > JOB_DURATION_MS_MAX
    {
        return refuse(
            "duration_ms",
            format!(
                "duration_ms is {duration_ms}; it may be at most {JOB_DURATION_MS_MAX} (30 days)"
            ),
        );
    }
    // A duration longer than the wall-clock limit is allowed: like a real job
    // that overruns, the job is stopped at its limit.
    if let Some(walltime_s) = spec.walltime_s
        && !(1..=JOB_WALLTIME_S_MAX).contains(&walltime_s)
    {
        return refuse(
            "walltime_s",
            format!("walltime_s is {walltime_s}; it must be 1 to {JOB_WALLTIME_S_MAX} (30 days)"),
        );
    }
    if spec.priority.abs() > JOB_PRIORITY_ABS_MAX {
        return refuse(
            "priority",
            format!(
                "priority is {}; it must be -{JOB_PRIORITY_ABS_MAX} to {JOB_PRIORITY_ABS_MAX}",
                spec.priority
            ),
        );
    }
    if let Some(class) = &spec.priority_class
        && !policy.priority_classes.contains_key(class)
    {
        return refuse(
            "priority_class",
            format!(
                "priority_class {class:?} is not defined; the policy's classes are: {}",
                policy.class_names()
            ),
        );
    }
    validate_labels(spec)?;
    validate_checkpoint(spec)?;
    validate_constraints(&spec.constraints)
}

fn validate_checkpoint(spec: &JobSubmitted) -> Result<(), Refusal> {
    let Some(checkpoint) = &spec.checkpoint else {
        return Ok(());
    };
    validate_command_at("checkpoint.command", &checkpoint.command)?;
    if let Some(signal) = &checkpoint.signal
        && !CHECKPOINT_SIGNALS.contains(&signal.as_str())
    {
        return refuse(
            "checkpoint.signal",
            format!(
                "checkpoint.signal is {signal:?}; it must be one of {}",
                CHECKPOINT_SIGNALS.join(", ")
            ),
        );
    }
    if checkpoint.signal.is_some() && !checkpoint.command.is_empty() {
        return refuse(
            "checkpoint",
            "checkpoint names both a signal and a command; name one of them".to_string(),
        );
    }
    match checkpoint.grace_s {
        Some(grace_s) if grace_s > PREEMPTION_GRACE_S_MAX => refuse(
            "checkpoint.grace_s",
            format!(
                "checkpoint.grace_s is {grace_s}; it must be 0 to {PREEMPTION_GRACE_S_MAX} seconds"
            ),
        ),
        _ => Ok(()),
    }
}

fn validate_command(command: &[String]) -> Result<(), Refusal> {
    validate_command_at("command", command)
}

/// Checks a program and its arguments, named `field` in refusals.
fn validate_command_at(field: &str, command: &[String]) -> Result<(), Refusal> {
    if command.len() > JOB_COMMAND_ARGS_MAX {
        return refuse(
            field,
            format!(
                "{field} has {} arguments; it may have at most {JOB_COMMAND_ARGS_MAX}",
                command.len()
            ),
        );
    }
    if command.first().is_some_and(|program| program.is_empty()) {
        return refuse(
            field,
            format!("{field}[0] is empty; it must name the program to run"),
        );
    }
    match command
        .iter()
        .position(|arg| arg.len() > JOB_COMMAND_ARG_BYTES_MAX)
    {
        Some(index) => refuse(
            field,
            format!(
                "{field}[{index}] is {} bytes; an argument may be at most {JOB_COMMAND_ARG_BYTES_MAX}",
                command[index].len()
            ),
        ),
        None => Ok(()),
    }
}

fn validate_labels(spec: &JobSubmitted) -> Result<(), Refusal> {
    if spec.labels.len() > JOB_LABELS_MAX {
        return refuse(
            "labels",
            format!(
                "there are {} labels; a job may have at most {JOB_LABELS_MAX}",
                spec.labels.len()
            ),
        );
    }
    match spec
        .labels
        .iter()
        .find(|(key, value)| key.len() > JOB_LABEL_BYTES_MAX || value.len() > JOB_LABEL_BYTES_MAX)
    {
        Some((key, _)) => refuse(
            "labels",
            format!(
                "label {:?} is too long; keys and values may be at most {JOB_LABEL_BYTES_MAX} bytes",
                key.chars().take(40).collect::<String>()
            ),
        ),
        None => Ok(()),
    }
}
