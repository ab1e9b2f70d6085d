//! The fold, as given/when/then: events in, state out. Every conflicting or
//! late event is resolved the same way for every reader.

mod common;

use common::*;
use rota_events::*;
use rota_projections::{CellState, JobState, LogEntry, NodeState};
use std::collections::BTreeMap;

/// Given a cell with leases, one node of 1000 millicores and job j1 admitted.
fn given_pending_job() -> Log {
    let mut log = Log::new();
    log.push(lease("admission", 1))
        .push(lease("placement", 1))
        .push(node("n1", 1000))
        .push(submit("j1", 600))
        .decision("admission", 1, admitted("j1"), Some("acme"));
    log
}

#[test]
fn a_valid_binding_allocates_and_a_finish_releases() {
    let mut log = given_pending_job();
    log.decision("placement", 1, bound("j1", "n1", 600), Some("acme"));
    let state = log.fold();
    assert_eq!(state.jobs["j1"].state, JobState::Bound);
    assert_eq!(state.nodes["n1"].allocated, res(600));

    log.push(finished("j1", "n1"));
    let state = log.fold();
    assert_eq!(state.jobs["j1"].state, JobState::Finished);
    assert_eq!(state.nodes["n1"].allocated, Resources::default());
    assert!(state.nodes["n1"].jobs.is_empty());
}

#[test]
fn a_binding_onto_a_drained_node_is_void_and_the_job_stays_pending() {
    let mut log = given_pending_job();
    log.push(Event::new(
        "dr",
        "default",
        Body::NodeDrained(NodeDrained {
            node: "n1".into(),
            reason: "maintenance".into(),
        }),
    ));
    log.decision("placement", 1, bound("j1", "n1", 600), Some("acme"));
    let state = log.fold();
    assert_eq!(state.nodes["n1"].state, NodeState::Draining);
    assert_eq!(state.jobs["j1"].state, JobState::Pending);
    assert_eq!(state.counters.void_bindings, 1);
    assert_eq!(state.placement.pending.len(), 1);
}

#[test]
fn a_binding_that_does_not_fit_is_void() {
    let mut log = given_pending_job();
    log.push(submit("j2", 600))
        .decision("admission", 1, admitted("j2"), Some("acme"));
    log.decision("placement", 1, bound("j1", "n1", 600), Some("acme"));
    log.decision("placement", 1, bound("j2", "n1", 600), Some("acme"));
    let state = log.fold();
    assert_eq!(state.jobs["j2"].state, JobState::Pending);
    assert_eq!(state.nodes["n1"].allocated, res(600));
    assert_eq!(state.counters.void_bindings, 1);
}

/// A decision that breaks the job's own constraints is void in the fold, as
/// one that over-commits is: neither a forged nor a faulty binding can put a
/// job where it may not run.
#[test]
fn a_binding_onto_a_node_the_job_forbids_is_void() {
    let mut log = Log::new();
    let mut gpu_node = node("n1", 1000);
    let mut tainted = node("n2", 1000);
    if let Body::NodeRegistered(registered) = &mut gpu_node.body {
        registered.labels.insert("zone".into(), "a".into());
        registered.capacity.gpus = 1;
        registered.gpu_model = Some("v100".into());
    }
    if let Body::NodeRegistered(registered) = &mut tainted.body {
        registered.labels.insert("zone".into(), "b".into());
        registered.taints.push(Taint {
            key: "dedicated".into(),
            value: "ml".into(),
            effect: TaintEffect::NoSchedule,
        });
    }
    let mut wants_zone_b = submit("j1", 100);
    let mut wants_a100 = submit("j2", 100);
    if let Body::JobSubmitted(spec) = &mut wants_zone_b.body {
        let spec = std::sync::Arc::make_mut(spec);
        spec.constraints
            .node_selector
            .insert("zone".into(), "b".into());
    }
    if let Body::JobSubmitted(spec) = &mut wants_a100.body {
        let spec = std::sync::Arc::make_mut(spec);
        spec.resources.gpus = 1;
        spec.constraints.gpu_model = Some("a100".into());
    }
    log.push(lease("admission", 1))
        .push(lease("placement", 1))
        .push(gpu_node)
        .push(tainted)
        .push(wants_zone_b)
        .push(wants_a100)
        .decision("admission", 1, admitted("j1"), Some("acme"))
        .decision("admission", 1, admitted("j2"), Some("acme"));
    // j1 selects zone b but lands in zone a; j2 wants an A100 and lands on a
    // V100; j1 again, in zone b, on a taint it does not tolerate.
    log.decision("placement", 1, bound("j1", "n1", 100), Some("acme"));
    let mut on_v100 = bound("j2", "n1", 100);
    if let Body::JobBound(binding) = &mut on_v100 {
        binding.resources.gpus = 1;
        binding.gpu_devices = vec![0];
    }
    log.decision("placement", 1, on_v100, Some("acme"));
    log.decision("placement", 1, bound("j1", "n2", 100), Some("acme"));
    let state = log.fold();
    assert_eq!(state.counters.void_bindings, 3);
    assert_eq!(state.jobs["j1"].state, JobState::Pending);
    assert_eq!(state.jobs["j2"].state, JobState::Pending);
    assert_eq!(state.nodes["n1"].allocated, Resources::default());
    assert_eq!(state.nodes["n2"].allocated, Resources::default());
}

#[test]
fn decisions_from_a_stale_epoch_are_fenced() {
    let mut log = given_pending_job();
    log.push(lease("placement", 2));
    log.decision("placement", 1, bound("j1", "n1", 600), Some("acme"));
    let state = log.fold();
    assert_eq!(state.jobs["j1"].state, JobState::Pending);
    assert_eq!(state.counters.fenced_decisions, 1);
}

#[test]
fn a_decision_from_the_wrong_writer_is_refused_visibly() {
    let mut log = given_pending_job();
    log.decision("admission", 1, bound("j1", "n1", 600), Some("acme"));
    let state = log.fold();
    assert_eq!(state.jobs["j1"].state, JobState::Pending);
    let rejection = state
        .backlog
        .rejections
        .values()
        .next()
        .expect("a rejection to write");
    assert!(
        rejection.detail.contains("only the placement service"),
        "{}",
        rejection.detail
    );
}

#[test]
fn a_lost_node_puts_its_jobs_back_in_the_queue_in_their_old_place() {
    let mut log = given_pending_job();
    log.decision("placement", 1, bound("j1", "n1", 600), Some("acme"));
    log.push(Event::new(
        "lost",
        "default",
        Body::NodeLost(NodeLost {
            node: "n1".into(),
            reason: "silent".into(),
        }),
    ));
    let state = log.fold();
    assert_eq!(state.nodes["n1"].state, NodeState::Lost);
    assert_eq!(state.nodes["n1"].allocated, Resources::default());
    assert_eq!(state.jobs["j1"].state, JobState::Pending);
    assert_eq!(state.jobs["j1"].node, None);
    assert_eq!(state.counters.requeued_jobs, 1);
    // A late report from the lost node is refused, not applied.
    log.push(
        Event::new(
            "late",
            "default",
            Body::JobStarted(JobStarted {
                job: "j1".into(),
                node: "n1".into(),
                pid: None,
            }),
        )
        .with_tenant("acme"),
    );
    let state = log.fold();
    assert_eq!(state.jobs["j1"].state, JobState::Pending);
    assert_eq!(state.backlog.rejections.len(), 1);
}

#[test]
fn a_duplicate_job_id_is_refused_and_the_first_job_kept() {
    let mut log = given_pending_job();
    log.push(submit("j1", 10));
    let state = log.fold();
    assert_eq!(state.jobs["j1"].spec.resources, res(600));
    let rejection = state.backlog.rejections.values().next().unwrap();
    assert!(
        rejection.detail.contains("already taken"),
        "{}",
        rejection.detail
    );
}

#[test]
fn unreadable_messages_become_rejections_except_on_the_rejection_subject() {
    let mut state = CellState::new("default");
    let error = InputError {
        kind: InputErrorKind::Malformed,
        detail: "bad".into(),
    };
    state.apply(&LogEntry {
        seq: 1,
        time_ms: 5,
        subject: "rota.default.job.acme.x.submitted".into(),
        event: Err(error.clone()),
        signer: None,
    });
    state.apply(&LogEntry {
        seq: 2,
        time_ms: 6,
        subject: "rota.default.input.rejected".into(),
        event: Err(error),
        signer: None,
    });
    assert_eq!(state.backlog.rejections.len(), 1);
    assert_eq!(state.backlog.rejections[&1].tenant.as_deref(), Some("acme"));
    assert_eq!(state.counters.unanswered_rejections, 1);
    assert_eq!(state.now_ms, 6);
}

#[test]
fn a_policy_out_of_range_is_refused_and_the_previous_one_kept() {
    let mut log = Log::new();
    let set = |placement: PlacementPolicy| {
        Event::new(
            format!("p{}", placement.default_estimate_s),
            "default",
            Body::PolicySet(PolicySet { placement }),
        )
    };
    log.push(set(PlacementPolicy {
        backfill: Backfill::Conservative,
        ..Default::default()
    }));
    log.push(set(PlacementPolicy {
        default_estimate_s: 7,
        weights: Weights {
            cost: 500,
            ..Default::default()
        },
        ..Default::default()
    }));
    let state = log.fold();
    assert_eq!(state.policy.backfill, Backfill::Conservative);
    let rejection = state.backlog.rejections.values().next().unwrap();
    assert_eq!(
        rejection.detail,
        "policy.set refused: weights.cost is 500; a scorer weight must be 0 to 100"
    );
}

#[test]
fn pending_jobs_max_is_refused_outside_one_to_its_limit() {
    let set = |pending_jobs_max: u64| {
        Event::new(
            format!("p{pending_jobs_max}"),
            "default",
            Body::PolicySet(PolicySet {
                placement: PlacementPolicy {
                    pending_jobs_max,
                    ..Default::default()
                },
            }),
        )
    };
    let mut log = Log::new();
    log.push(set(1))
        .push(set(0))
        .push(set(PENDING_JOBS_MAX_LIMIT + 1));
    let state = log.fold();
    assert_eq!(
        state.policy.pending_jobs_max, 1,
        "the last valid policy stays"
    );
    assert_eq!(
        rejection_details(&state),
        [
            "policy.set refused: pending_jobs_max is 0; it must be 1 to 1000000 jobs",
            "policy.set refused: pending_jobs_max is 1000001; it must be 1 to 1000000 jobs",
        ]
    );

    log.push(set(PENDING_JOBS_MAX_LIMIT));
    let state = log.fold();
    assert_eq!(state.policy.pending_jobs_max, PENDING_JOBS_MAX_LIMIT);
    assert_eq!(
        state.backlog.rejections.len(),
        2,
        "the limit itself is accepted"
    );
}

/// A job of `web` that keeps other `web` jobs off its node.
fn web_replica(job: &str) -> Event {
    let mut event = submit(job, 100);
    if let Body::JobSubmitted(spec) = &mut event.body {
        let spec = std::sync::Arc::make_mut(spec);
        spec.labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        spec.constraints.job_anti_affinity.required = vec![JobAffinityTerm {
            selector: JobSelector {
                match_labels: spec.labels.clone(),
                match_expressions: vec![],
            },
            topology_key: TOPOLOGY_NODE.into(),
        }];
    }
    event
}

#[test]
fn holders_of_anti_affinity_are_counted_per_kind_and_domain_until_they_leave() {
    let mut log = Log::new();
    log.push(lease("admission", 1))
        .push(lease("placement", 1))
        .push(node("n1", 1000))
        .push(node("n2", 1000));
    for (job, event) in [
        ("w1", web_replica("w1")),
        ("w2", web_replica("w2")),
        ("plain", submit("plain", 100)),
    ] {
        log.push(event)
            .decision("admission", 1, admitted(job), Some("acme"));
    }
    for (job, node) in [("w1", "n1"), ("w2", "n2"), ("plain", "n1")] {
        log.decision("placement", 1, bound(job, node, 100), Some("acme"));
    }
    let held = |state: &CellState| -> Vec<(String, Vec<(String, u32)>)> {
        state
            .repellers
            .of_tenant("acme")
            .map(|(kind, per_domain)| {
                let domains = per_domain.iter().map(|(d, n)| (d.clone(), *n)).collect();
                (kind.topology_key.clone(), domains)
            })
            .collect()
    };
    let state = log.fold();
    assert_eq!(
        held(&state),
        vec![(
            "node".to_string(),
            vec![("n1".to_string(), 1), ("n2".to_string(), 1)]
        )]
    );
    log.push(finished("w1", "n1"));
    assert_eq!(
        held(&log.fold()),
        vec![("node".to_string(), vec![("n2".to_string(), 1)])]
    );
    log.push(finished("w2", "n2"));
    assert!(held(&log.fold()).is_empty());
}

/// A node with room for every job of these tests, so that only the terms
/// decide.
fn roomy_node(name: &str) -> Event {
    let mut event = node(name, 1000);
    if let Body::NodeRegistered(registered) = &mut event.body {
        registered.capacity.memory_bytes = 1 << 30;
    }
    event
}

/// A job of tenant acme labelled `app`=`label`, with required affinity
/// (or, with `anti`, anti-affinity) per node to jobs labelled
/// `app`=`selects`, if any.
fn app_job(job: &str, label: &str, selects: Option<&str>, anti: bool) -> Event {
    let mut event = submit(job, 100);
    if let Body::JobSubmitted(spec) = &mut event.body {
        let spec = std::sync::Arc::make_mut(spec);
        spec.labels = BTreeMap::from([("app".to_string(), label.to_string())]);
        let terms = selects.map(|selects| JobAffinityTerm {
            selector: JobSelector {
                match_labels: BTreeMap::from([("app".to_string(), selects.to_string())]),
                match_expressions: vec![],
            },
            topology_key: TOPOLOGY_NODE.into(),
        });
        let affinity = if anti {
            &mut spec.constraints.job_anti_affinity
        } else {
            &mut spec.constraints.job_affinity
        };
        affinity.required = terms.into_iter().collect();
    }
    event
}

#[test]
fn a_binding_that_breaks_the_jobs_terms_about_other_jobs_is_void() {
    let mut log = Log::new();
    log.push(lease("admission", 1))
        .push(lease("placement", 1))
        .push(roomy_node("n1"))
        .push(roomy_node("n2"));
    let jobs = [
        // The first of its group: its affinity selects itself, and no db
        // job is on a node yet, so it may go anywhere.
        ("db1", app_job("db1", "db", Some("db"), false)),
        // Must be beside a db job.
        ("cache", app_job("cache", "cache", Some("db"), false)),
        // Must not be beside a db job.
        ("batch", app_job("batch", "batch", Some("db"), true)),
        // Keeps web jobs off its node.
        ("web1", web_replica("web1")),
        // A web job with no terms of its own.
        ("web2", app_job("web2", "web", None, false)),
    ];
    for (job, event) in jobs {
        log.push(event)
            .decision("admission", 1, admitted(job), Some("acme"));
    }
    let binds = [
        ("db1", "n1"),
        ("cache", "n2"), // void: no db job on n2
        ("batch", "n1"), // void: db1 is on n1
        ("web1", "n2"),
        ("web2", "n2"), // void: web1 repels web jobs from n2
    ];
    for (job, node) in binds {
        log.decision("placement", 1, bound(job, node, 100), Some("acme"));
    }
    let state = log.fold();
    assert_eq!(state.counters.void_bindings, 3);
    let pending: Vec<&str> = ["db1", "cache", "batch", "web1", "web2"]
        .into_iter()
        .filter(|job| state.jobs[*job].state == JobState::Pending)
        .collect();
    assert_eq!(pending, ["cache", "batch", "web2"]);

    // Each may go where its terms allow.
    for (job, node) in [("cache", "n1"), ("batch", "n2"), ("web2", "n1")] {
        log.decision("placement", 1, bound(job, node, 100), Some("acme"));
    }
    let state = log.fold();
    assert_eq!(state.counters.void_bindings, 3, "no more void bindings");
    assert!(state.jobs.values().all(|job| job.state == JobState::Bound));
}

#[test]
fn ready_capacity_follows_registrations_drains_and_losses() {
    let direct = |state: &CellState| {
        state
            .nodes
            .values()
            .filter(|node| node.state == NodeState::Ready)
            .map(|node| node.capacity.cpu_milli)
            .sum::<u64>()
    };
    let drain = Event::new(
        "dr",
        "default",
        Body::NodeDrained(NodeDrained {
            node: "n1".into(),
            reason: "maintenance".into(),
        }),
    );
    let lost = Event::new(
        "lost",
        "default",
        Body::NodeLost(NodeLost {
            node: "n2".into(),
            reason: "silent".into(),
        }),
    );
    let mut log = Log::new();
    log.push(node("n1", 1000))
        .push(node("n2", 2000))
        .push(node("n3", 4000));
    let mut seen = vec![log.fold().accounts.ready_capacity.cpu_milli];
    log.push(drain);
    seen.push(log.fold().accounts.ready_capacity.cpu_milli);
    log.push(lost);
    seen.push(log.fold().accounts.ready_capacity.cpu_milli);
    log.push(node("n3", 8000)).push(node("n2", 500));
    let state = log.fold();
    seen.push(state.accounts.ready_capacity.cpu_milli);
    assert_eq!(seen, [7000, 6000, 4000, 8500]);
    assert_eq!(state.accounts.ready_capacity.cpu_milli, direct(&state));
}

#[test]
fn a_lease_claim_is_taken_only_at_the_next_epoch_and_any_other_is_refused() {
    let mut log = Log::new();
    log.push(lease("placement", 1))
        .push(lease("placement", u64::MAX))
        .push(lease("placement", 3))
        .push(lease("placement", 1))
        .push(lease("placement", 2));
    let state = log.fold();
    assert_eq!(state.lease_epoch("placement"), 2);
    assert_eq!(state.leases["placement"].holder, "placement-2");
    assert_eq!(
        rejection_details(&state),
        [
            "lease.claimed refused: epoch 18446744073709551615 of service placement is not the next epoch, 2",
            "lease.claimed refused: epoch 3 of service placement is not the next epoch, 2",
            "lease.claimed refused: epoch 1 of service placement is not the next epoch, 2",
        ]
    );
}

#[test]
fn a_server_clock_stepping_back_does_not_move_a_job_back_in_time() {
    let mut log = given_pending_job();
    let admitted_at = log.entries.last().unwrap().time_ms;
    // The server's clock steps back before the binding lands.
    log.entries.push(rota_projections::LogEntry {
        seq: log.entries.len() as u64 + 1,
        time_ms: admitted_at.saturating_sub(3_000),
        subject: "rota.default.job.acme.j1.bound".into(),
        event: Ok({
            let mut event = Event::new("late", "default", bound("j1", "n1", 600));
            event.tenant = Some("acme".into());
            event.round = Some(RoundTag {
                service: "placement".into(),
                epoch: 1,
                basis: log.entries.len() as u64,
                index: 0,
                size: 1,
            });
            event
        }),
        signer: None,
    });
    let state = log.fold();
    let job = &state.jobs["j1"];
    assert_eq!(job.state, JobState::Bound);
    assert_eq!(
        job.bound_ms,
        Some(admitted_at),
        "the fold's time, not the message's"
    );
    assert!(job.bound_ms.unwrap() >= job.submitted_ms);
}
