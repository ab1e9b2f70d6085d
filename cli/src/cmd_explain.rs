//! `rota explain`: why a job is where it is, from the folded log.

use crate::Target;
use crate::render::clock_time;
use rota_events::check_name;
use rota_placement::NeverFits;
use rota_preemption::{Nobody, Outlook};
use rota_projections::{CellState, Job, JobState, Preemption};
use std::process::ExitCode;

/// Explain a job: for a pending one, how many nodes could take it and why
/// the others cannot, what it waits for, its priority, and its reservation.
#[derive(clap::Args, Debug)]
#[command(after_help = "Example:\n  rota explain 01JB7X3K9T6Q5W2N8R4M1V0C2D")]
pub struct ExplainArgs {
    pub job: String,
}

pub async fn explain(target: &Target, args: ExplainArgs) -> anyhow::Result<ExitCode> {
    check_name("job", &args.job)?;
    let log = target.connect().await?;
    let mut state = CellState::new(&target.cell);
    for entry in log.read_all().await? {
        state.apply(&entry);
    }
    let Some(explanation) = rota_placement::explain(&state, &args.job) else {
        let retention = &state.policy.retention;
        eprintln!(
            "no job {:?} in cell {}'s state, which holds live jobs and the last {} that ended within {} s; `rota status {}` reads a job's whole story from the log",
            args.job, target.cell, retention.ended_jobs_max, retention.ended_job_age_s, args.job
        );
        return Ok(ExitCode::FAILURE);
    };
    let job = &state.jobs[&args.job];
    println!(
        "job {} (tenant {}): {}",
        args.job,
        job.tenant,
        job.state.as_str()
    );
    match explanation.queue_position {
        Some(position) => println!(
            "queue: position {position} of {}",
            state.placement.pending.len()
        ),
        None => {
            if let Some(node) = &job.node {
                println!("node: {node}");
            }
            if let Some(reason) = &job.reason {
                println!("reason: {reason}");
            }
        }
    }
    let m = &explanation.multifactor;
    let q = &state.policy.queue;
    let class = job
        .spec
        .priority_class
        .as_deref()
        .or(state.policy.default_priority_class.as_deref())
        .unwrap_or("none");
    println!(
        "priority: {} = job priority {} x {} + class {} x {} + age {} x {} + fair share {} x {} (factors 0 to 1000; the job's priority is {}, its class {class})",
        m.total,
        m.priority_factor,
        q.priority,
        m.class_factor,
        q.class,
        m.age_factor,
        q.age,
        m.fair_share_factor,
        q.fair_share,
        explanation.priority
    );
    println!("policy: {} backfill", state.policy.backfill.as_str());
    if let Some(preempted) = &job.preempted {
        print_preempted(job, preempted);
    }
    if job.state != JobState::Pending {
        return Ok(ExitCode::SUCCESS);
    }
    print_preemption_outlook(&state, &args.job);
    if let Some(held) = &explanation.held {
        println!("held: {held}");
    }
    println!("placement: {}", explanation.summary());
    let in_s = |t: u64| t.saturating_sub(state.now_ms) as f64 / 1000.0;
    match explanation.never_fits {
        Some(NeverFits::NoReadyNode) => {
            println!("no node is ready; it cannot start until one registers or returns")
        }
        Some(NeverFits::RefusedByEveryNode) => println!(
            "every ready node is one its own constraints refuse (the reasons above say how); it cannot start until a node that passes them registers"
        ),
        Some(NeverFits::LargerThanEveryNode) => println!(
            "it asks for more than any ready node that passes its constraints has in all; it cannot start until a larger node registers"
        ),
        None => {}
    }
    if let Some(reservation) = &explanation.reservation {
        println!(
            "reservation: expected to start on {} at {} (in {:.0} s of log time)",
            reservation.node,
            clock_time(reservation.start_ms),
            in_s(reservation.start_ms)
        );
    }
    if let Some(blocker) = &explanation.held_back_by {
        println!(
            "waiting: it would fit now, but starting it would delay job {} (reserved to start on {} at {}, in {:.0} s)",
            blocker.job,
            blocker.node,
            clock_time(blocker.start_ms),
            in_s(blocker.start_ms)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// How the job's last preemption went.
fn print_preempted(job: &Job, preempted: &Preemption) {
    let cores = job.spec.resources.cpu_milli as f64 / 1000.0;
    let lost_s = preempted.lost_ms as f64 / 1000.0;
    println!(
        "preempted: for job {} at {} on {}, under the {} rule, in {} mode{}; it lost {:.0} s of run time ({:.0} core-seconds); preempted {} time{} in all",
        preempted.by,
        clock_time(preempted.at_ms),
        preempted.node,
        preempted.rule.as_str(),
        preempted.mode.as_str(),
        match preempted.grace_s {
            0 => String::new(),
            grace => format!(" with {grace} s to checkpoint"),
        },
        lost_s,
        lost_s * cores,
        job.preemptions,
        if job.preemptions == 1 { "" } else { "s" }
    );
}

/// Whom the waiting job would preempt now, and why, or why nobody.
fn print_preemption_outlook(state: &CellState, id: &str) {
    let Some(outlook) = rota_preemption::outlook_now(state, id) else {
        return;
    };
    match outlook {
        Outlook::Fits { node } => {
            println!("preemption: none needed: it fits on {node} now")
        }
        Outlook::Nominated { node } => {
            let until = state
                .nominations
                .get(id)
                .map(|n| clock_time(n.until_ms))
                .unwrap_or_default();
            println!(
                "preemption: room is held for it on {node} while its victims stop, until {until}"
            )
        }
        Outlook::Preempts(plan) => {
            let victims: Vec<String> = plan
                .victims
                .iter()
                .map(|v| {
                    format!(
                        "{} (priority {}, {:.0} s run, {:.0} core-seconds lost)",
                        v.occupant.job,
                        v.priority,
                        v.lost_ms as f64 / 1000.0,
                        v.work_core_ms as f64 / 1000.0
                    )
                })
                .collect();
            println!(
                "preemption: under the {} rule it would preempt, on {}: {}; the cheapest of the nodes where removing victims makes it fit (fewest victims of the highest priority, then least work lost, then fewest victims)",
                plan.rule.as_str(),
                plan.node,
                victims.join(", ")
            );
        }
        Outlook::Nobody(why) => {
            let note = match why {
                Nobody::NoRule => "",
                _ => "; it waits for room",
            };
            println!("preemption: it preempts nobody: {why}{note}")
        }
    }
}
