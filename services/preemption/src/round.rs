//! One round of the preemption service: nominations that lapsed, then, for
//! the waiting jobs that may preempt, in priority then queue order, the
//! cheapest minimal victim sets, within the round's limits.

use crate::search::{Outlook, Plan, outlook};
use crate::view::RoundView;
use rota_events::{
    Body, JobNominated, JobPreempted, NominationLapsed, PREEMPTION_GRACE_S_MAX, PreemptionMode,
    ROUND_EVENTS_MAX,
};
use rota_projections::{CellState, Draft, Job, NodeState};

/// The most waiting jobs a round searches victims for: each search looks
/// at every node (most of them by their summary alone), so this bounds a
/// round's time. A round ends at the first search that finds victims; the
/// next round, decided once that one is applied, goes on from the next
/// waiting job. More than one, so that a waiting job no preemption can
/// help does not keep those behind it from being looked at.
pub const PREEMPTORS_PER_ROUND_MAX: usize = 2;

/// The most waiting jobs a round looks at to find those that may preempt.
pub const PENDING_LOOKED_AT_MAX: usize = 4096;

/// The round's drafts.
pub fn drafts(state: &CellState) -> Vec<Draft> {
    let mut drafts = lapses(state);
    if !state.policy.preemption.can_preempt() {
        return drafts;
    }
    let view = RoundView::of(state);
    let victims_max = (state.policy.preemption.round_preemptions_max as usize)
        .min(ROUND_EVENTS_MAX.saturating_sub(drafts.len() + 1));
    // The first waiting job that finds victims is this round's; the next
    // round, decided once this one is applied, sees its victims stopping.
    let plan = preemptors(&view)
        .into_iter()
        .find_map(|(id, job)| match outlook(&view, id, job) {
            Outlook::Preempts(plan) => Some((id, job, plan)),
            _ => None,
        });
    if let Some((id, job, plan)) = plan
        && plan.victims.len() <= victims_max
    {
        drafts.extend(plan_drafts(state, id, job, &plan));
    }
    drafts
}

/// Waiting jobs that some rule may let preempt, highest priority first and
/// in admission order within it, at most [`PREEMPTORS_PER_ROUND_MAX`].
fn preemptors<'a>(view: &RoundView<'a>) -> Vec<(&'a str, &'a Job)> {
    let state = view.state;
    let mut groups: Vec<_> = state
        .placement
        .pending
        .groups()
        .map(|(group, jobs)| (view.class_named(group.class.as_deref()).priority, jobs))
        .collect();
    groups.sort_by_key(|(priority, _)| std::cmp::Reverse(*priority));
    let mut found = Vec::new();
    let mut looked_at = 0;
    'groups: for (_, jobs) in groups {
        for pending in jobs.values() {
            looked_at += 1;
            if looked_at > PENDING_LOOKED_AT_MAX || found.len() >= PREEMPTORS_PER_ROUND_MAX {
                break 'groups;
            }
            let Some((id, job)) = state.jobs.get_key_value(&pending.id) else {
                continue;
            };
            let may_preempt =
                crate::search::startable_rules(view, job).is_ok_and(|rules| !rules.is_empty());
            if may_preempt && state.nominations.get(id).is_none() {
                found.push((id.as_str(), job));
            }
        }
    }
    found
}

/// The nomination and the preemptions of one plan.
fn plan_drafts(state: &CellState, id: &str, job: &Job, plan: &Plan<'_>) -> Vec<Draft> {
    let policy = &state.policy;
    let until_ms = state
        .now_ms
        .saturating_add(policy.preemption.nomination_s.saturating_mul(1000));
    let nominated = Draft {
        tenant: Some(job.tenant.clone()),
        causation_id: Some(job.submission_id.clone()),
        body: Body::JobNominated(JobNominated {
            job: id.to_string(),
            node: plan.node.to_string(),
            victims: plan
                .victims
                .iter()
                .map(|v| v.occupant.job.clone())
                .collect(),
            until_ms,
        }),
    };
    let preempted = plan.victims.iter().map(|victim| {
        let occupant = victim.occupant;
        let victim_job = &state.jobs[&occupant.job];
        let class = rota_projections::protection::class_preemption(policy, victim_job);
        let grace_s = match class.mode {
            PreemptionMode::Checkpoint => victim_job
                .spec
                .checkpoint
                .as_ref()
                .and_then(|c| c.grace_s)
                .unwrap_or(class.grace_s)
                .min(PREEMPTION_GRACE_S_MAX),
            _ => 0,
        };
        Draft {
            tenant: Some(occupant.tenant.clone()),
            causation_id: Some(job.submission_id.clone()),
            body: Body::JobPreempted(JobPreempted {
                job: occupant.job.clone(),
                node: plan.node.to_string(),
                preemptor: id.to_string(),
                rule: plan.rule,
                mode: class.mode,
                grace_s,
                lost_ms: victim.lost_ms,
            }),
        }
    });
    std::iter::once(nominated).chain(preempted).collect()
}

/// Nominations whose time is up, or whose node no longer takes work.
fn lapses(state: &CellState) -> Vec<Draft> {
    state
        .nominations
        .iter()
        .filter_map(|(job, nomination)| {
            let ready = state
                .nodes
                .get(&nomination.node)
                .is_some_and(|node| node.state == NodeState::Ready);
            let reason = match () {
                _ if !ready => format!("node {} no longer takes work", nomination.node),
                _ if state.now_ms >= nomination.until_ms => format!(
                    "the room was held until {} ms and the job was not bound by then",
                    nomination.until_ms
                ),
                _ => return None,
            };
            Some(Draft {
                tenant: state.jobs.get(job).map(|j| j.tenant.clone()),
                causation_id: None,
                body: Body::NominationLapsed(NominationLapsed {
                    job: job.clone(),
                    node: nomination.node.clone(),
                    reason,
                }),
            })
        })
        .take(ROUND_EVENTS_MAX / 2)
        .collect()
}
