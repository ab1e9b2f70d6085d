//! Priority classes from an SWF trace's queues (field 15, named by its
//! header), so that a simulation runs the queues as classes: the
//! interactive, express and high queues rank above normal, low and standby,
//! and with preemption they may take room from them.

use crate::swf::SwfTrace;
use rota_events::{ClassPreemption, PlacementPolicy, PreemptionMode, Preempts};

/// Queue names and the class each becomes: (name, class value, preempts).
pub const QUEUE_CLASSES: [(&str, u32, bool); 6] = [
    ("interactive", 1000, true),
    ("express", 900, true),
    ("high", 700, true),
    ("normal", 500, false),
    ("low", 100, false),
    ("standby", 0, false),
];

/// The class of jobs of any other queue.
pub const OTHER_QUEUES_CLASS: &str = "normal";

/// How long a job is protected after it starts, in seconds.
pub const PROTECTED_AFTER_START_S: u64 = 600;

/// How often one job may be preempted.
pub const PREEMPTIONS_PER_JOB: u32 = 2;

/// Names each job's class after its queue and adds the classes to
/// `policy`: with a `preempt` mode, the top three preempt the others in
/// that mode; without, no class preempts, so that the same queue order runs
/// with and without preemption.
pub fn apply(trace: &mut SwfTrace, policy: &mut PlacementPolicy, preempt: Option<PreemptionMode>) {
    for (name, value, preempts) in QUEUE_CLASSES {
        policy.priority_classes.insert(name.to_string(), value);
        let class = ClassPreemption {
            preempts: match preempt.is_some() && preempts {
                true => Preempts::LowerPriority,
                false => Preempts::Never,
            },
            preemptible: !preempts,
            mode: preempt.unwrap_or_default(),
            grace_s: 0,
            min_run_s: PROTECTED_AFTER_START_S,
            max_preemptions: PREEMPTIONS_PER_JOB,
        };
        policy.preemption.classes.insert(name.to_string(), class);
    }
    for (job, queue) in trace.jobs.iter_mut().zip(&trace.queues) {
        let named = trace.queue_names.get(queue).map(String::as_str);
        let class = named
            .filter(|name| QUEUE_CLASSES.iter().any(|(n, _, _)| n == name))
            .unwrap_or(OTHER_QUEUES_CLASS);
        job.class = Some(class.to_string());
    }
}
