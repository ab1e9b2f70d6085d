//! Preemption over NATS, with the real services:
//!
//! - a full node of low-priority jobs and then a high-priority one: exactly
//!   the cheapest minimal victim set is preempted, the preemptor starts on
//!   the freed node, the victims wait again and later finish;
//! - checkpoint mode with `rota agent` running real processes: a victim
//!   gets its signal, checkpoints and is requeued, then resumes with
//!   `ROTA_RESUME=1`; one that ignores the signal is killed after its grace
//!   period and requeued;
//! - kill -9 of the preemption service between its decision and the
//!   victims' end: after a restart no victim is preempted twice and the
//!   preemptor still gets the room held for it.
//!
//! Every log is replay-verified.

use rota_events::{
    Body, ClassPreemption, Event, JobSubmitted, PlacementPolicy, PolicySet, PreemptionMode,
    Resources,
};
use rota_projections::{JobState, LogEntry};
use rota_shell::access::Identity;
use rota_shell::nodes::{NodeSpec, SimRunner, run_nodes};
use rota_testkit::{CELL, TestBed, assert_replay_clean};
use std::collections::BTreeMap;
use std::sync::Arc;

const ROTA: &str = env!("CARGO_BIN_EXE_rota");

const GIB: u64 = 1 << 30;

/// A policy with a preempting class `high` and a preemptible class `low`
/// in `mode`, its grace `grace_s`.
fn policy(mode: PreemptionMode, grace_s: u64) -> Event {
    let mut placement = PlacementPolicy {
        priority_classes: BTreeMap::from([("high".into(), 900), ("low".into(), 100)]),
        ..PlacementPolicy::default()
    };
    let high = ClassPreemption::preempting();
    let low = ClassPreemption {
        mode,
        grace_s,
        ..ClassPreemption::default()
    };
    placement.preemption.classes = BTreeMap::from([("high".into(), high), ("low".into(), low)]);
    placement.validate().expect("a valid policy");
    Event::new(
        format!("policy-{}", mode.as_str()),
        CELL,
        Body::PolicySet(PolicySet { placement }),
    )
}

fn job(id: &str, class: &str, cpus: u64, duration_ms: u64, command: &[&str]) -> Event {
    let spec = JobSubmitted {
        job: id.into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        resources: Resources {
            cpu_milli: cpus * 1000,
            memory_bytes: GIB,
            ..Default::default()
        },
        duration_ms: Some(duration_ms),
        priority_class: Some(class.into()),
        ..Default::default()
    };
    Event::new(
        format!("submit-{id}"),
        CELL,
        Body::JobSubmitted(Arc::new(spec)),
    )
    .with_tenant("acme")
}

/// `rota agent` serving worker-1 with `cpu_milli` and 8 GiB.
fn agent(bed: &TestBed, cpu_milli: u64) -> rota_testkit::RotaProcess {
    let cpu = cpu_milli.to_string();
    let args = [
        "agent",
        "--node",
        "worker-1",
        "--cpu-milli",
        &cpu,
        "--memory-bytes",
        "8589934592",
    ];
    bed.spawn(ROTA, &Identity::Agent("worker-1".into()), &args)
}

/// A real process's job of class `class` running `script` under `sh`,
/// checkpointing as `checkpoint` says.
fn process_job(
    id: &str,
    class: &str,
    script: &str,
    checkpoint: Option<rota_events::Checkpoint>,
) -> Event {
    let mut event = job(id, class, 1, 0, &["sh", "-c", script]);
    let Body::JobSubmitted(spec) = &mut event.body else {
        unreachable!("job() makes a submission")
    };
    let spec = Arc::make_mut(spec);
    spec.duration_ms = None;
    spec.checkpoint = checkpoint;
    event
}

fn node(name: &str, cpus: u64) -> NodeSpec {
    NodeSpec {
        name: name.into(),
        capacity: Resources {
            cpu_milli: cpus * 1000,
            memory_bytes: 64 * GIB,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The preemptions in the log: (sequence, time, victim, preemptor, lost_ms).
fn preemptions(entries: &[LogEntry]) -> Vec<(u64, u64, String, String, u64)> {
    entries
        .iter()
        .filter_map(|e| match e.event.as_ref().ok().map(|e| &e.body) {
            Some(Body::JobPreempted(p)) => Some((
                e.seq,
                e.time_ms,
                p.job.clone(),
                p.preemptor.clone(),
                p.lost_ms,
            )),
            _ => None,
        })
        .collect()
}

/// The log time of the first event of `type_name` about `job` after `seq`.
fn time_of(entries: &[LogEntry], type_name: &str, job: &str, after: u64) -> Option<u64> {
    entries
        .iter()
        .filter(|e| e.seq > after)
        .find(|e| {
            e.event
                .as_ref()
                .is_ok_and(|ev| ev.body.type_name() == type_name && ev.body.job() == Some(job))
        })
        .map(|e| e.time_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_gives_way_to_a_high_priority_job_at_the_least_cost() {
    let mut bed = TestBed::start().await;
    bed.run_services(false);
    bed.submit(&[policy(PreemptionMode::Requeue, 0)]).await;
    let fleet = tokio::spawn(run_nodes(
        bed.fleet.clone(),
        vec![node("n1", 8)],
        SimRunner::new(1.0),
        bed.shutdown.clone(),
    ));
    // Four 2-core jobs fill the node; the first two started a second before
    // the others, so they would lose more work.
    bed.submit(&[
        job("low-a", "low", 2, 6_000, &[]),
        job("low-b", "low", 2, 6_000, &[]),
    ])
    .await;
    bed.wait_for("the first two running", |s| {
        ["low-a", "low-b"]
            .iter()
            .all(|j| s.jobs.get(*j).is_some_and(|j| j.state == JobState::Running))
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    bed.submit(&[
        job("low-c", "low", 2, 6_000, &[]),
        job("low-d", "low", 2, 6_000, &[]),
    ])
    .await;
    bed.wait_for("the node full", |s| {
        s.jobs
            .values()
            .filter(|j| j.state == JobState::Running)
            .count()
            == 4
    })
    .await;
    bed.submit(&[job("urgent", "high", 4, 500, &[])]).await;
    let state = bed
        .wait_for("every job finished", |s| {
            s.jobs.len() == 5 && s.jobs.values().all(|j| j.state == JobState::Finished)
        })
        .await;
    let entries = bed.entries().await;
    let preempted = preemptions(&entries);
    let victims: Vec<&str> = preempted.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(
        victims.len(),
        2,
        "two 2-core victims free 4 cores: {preempted:?}"
    );
    // The cheapest: the two that started last.
    let mut chosen = victims.clone();
    chosen.sort();
    assert_eq!(chosen, ["low-c", "low-d"], "{preempted:?}");
    for victim in ["low-c", "low-d"] {
        let job = &state.jobs[victim];
        assert_eq!((job.preemptions, job.bindings), (1, 2), "{victim}");
    }
    for kept in ["low-a", "low-b"] {
        assert_eq!(state.jobs[kept].preemptions, 0);
    }
    // The preemptor started on the freed node after both victims ended.
    let decided = preempted[0].0;
    let bound = time_of(&entries, "job.bound", "urgent", decided).expect("urgent bound");
    for victim in ["low-c", "low-d"] {
        let ended = time_of(&entries, "job.finished", victim, decided).expect("victim ended");
        assert!(
            ended <= bound,
            "{victim} ended at {ended}, urgent bound at {bound}"
        );
    }
    assert_eq!(state.jobs["urgent"].bindings, 1);
    // A victim's explanation and story say by whom, under which rule, and
    // what it lost.
    let explained = bed.rota(ROTA, &Identity::Auditor, &["explain", "low-c"]);
    let text = String::from_utf8_lossy(&explained.stdout);
    assert!(
        text.contains("preempted: for job urgent") && text.contains("under the priority rule"),
        "{text}"
    );
    assert!(
        text.contains("s of run time") && text.contains("preempted 1 time in all"),
        "{text}"
    );
    let status = bed.rota(ROTA, &Identity::Auditor, &["status", "low-c"]);
    let story = String::from_utf8_lossy(&status.stdout);
    assert!(
        story.contains("job.preempted") && story.contains("for=urgent rule=priority"),
        "{story}"
    );
    bed.stop_services().await;
    fleet.await.unwrap().unwrap();
    assert_replay_clean(&entries);
}

/// A victim that checkpoints on SIGUSR1 and resumes, and one that ignores
/// it, on one `rota agent` running real processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_mode_signals_gives_grace_kills_and_requeues() {
    let mut bed = TestBed::start().await;
    bed.run_services(false);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    const GRACE_S: u64 = 2;
    bed.submit(&[policy(PreemptionMode::Checkpoint, GRACE_S)])
        .await;
    let _agent = agent(&bed, 2000);
    // Resumes at once with ROTA_RESUME; otherwise checkpoints on SIGUSR1.
    let polite = format!(
        "if [ \"$ROTA_RESUME\" = 1 ]; then touch {d}/resumed; exit 0; fi; \
         trap 'touch {d}/checkpointed; exit 0' USR1; while true; do sleep 0.05; done"
    );
    // Ignores the signal; the second time it runs it ends at once.
    let stubborn = format!(
        "trap '' USR1; if [ -f {d}/stubborn-ran ]; then exit 0; fi; touch {d}/stubborn-ran; \
         while true; do sleep 0.05; done"
    );
    let on_usr1 = |resumable| {
        Some(rota_events::Checkpoint {
            signal: Some("SIGUSR1".into()),
            resumable,
            ..Default::default()
        })
    };
    bed.submit(&[
        process_job("polite", "low", &polite, on_usr1(true)),
        process_job("stubborn", "low", &stubborn, on_usr1(false)),
    ])
    .await;
    bed.wait_for("both victims running", |s| {
        ["polite", "stubborn"]
            .iter()
            .all(|j| s.jobs.get(*j).is_some_and(|j| j.state == JobState::Running))
    })
    .await;
    // Give the shells time to set their traps.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    bed.submit(&[job("urgent", "high", 2, 0, &["true"])]).await;
    let state = bed
        .wait_for("every job finished", |s| {
            s.jobs.len() == 3 && s.jobs.values().all(|j| j.state == JobState::Finished)
        })
        .await;
    assert!(
        dir.path().join("checkpointed").exists(),
        "the polite job never got SIGUSR1"
    );
    assert!(
        dir.path().join("resumed").exists(),
        "the polite job did not resume from its checkpoint"
    );
    for victim in ["polite", "stubborn"] {
        assert_eq!(state.jobs[victim].preemptions, 1, "{victim}");
        assert_eq!(
            state.jobs[victim].bindings, 2,
            "{victim} was not requeued and run again"
        );
    }
    let entries = bed.entries().await;
    let preempted = preemptions(&entries);
    let at = |victim: &str| {
        preempted
            .iter()
            .find(|p| p.2 == victim)
            .expect("preempted")
            .clone()
    };
    let ends = |victim: &str| {
        let (seq, time, ..) = at(victim);
        let end = entries
            .iter()
            .filter(|e| e.seq > seq)
            .find_map(|e| match e.event.as_ref().ok().map(|e| &e.body) {
                Some(Body::JobFinished(f)) if f.job == victim => Some((e.time_ms, f.clone())),
                _ => None,
            })
            .expect("the victim's end");
        (end.0 - time, end.1)
    };
    let (polite_after_ms, polite_end) = ends("polite");
    assert!(polite_end.checkpointed, "{polite_end:?}");
    assert!(
        polite_after_ms < GRACE_S * 1000,
        "the polite job took {polite_after_ms} ms"
    );
    let (stubborn_after_ms, stubborn_end) = ends("stubborn");
    assert!(!stubborn_end.checkpointed, "{stubborn_end:?}");
    assert!(
        stubborn_after_ms >= GRACE_S * 1000,
        "the stubborn job was killed {stubborn_after_ms} ms after its preemption, within its grace"
    );
    assert!(
        stubborn_end
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("grace period"),
        "{stubborn_end:?}"
    );
    bed.stop_services().await;
    assert_replay_clean(&entries);
}

/// The preemption service as its own process, killed with SIGKILL after
/// its decision while the victim drains, then started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_preemption_service_preempts_no_victim_twice() {
    let mut bed = TestBed::start().await;
    bed.run_named(&["admission", "placement", "fairshare"]);
    bed.submit(&[policy(PreemptionMode::Checkpoint, 3)]).await;
    let _agent = agent(&bed, 1000);
    // Ignores SIGTERM, so that it drains for its whole grace period; the
    // second time it runs it ends at once.
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("ran");
    let ignores_term = format!(
        "trap '' TERM; if [ -f {0} ]; then exit 0; fi; touch {0}; while true; do sleep 0.05; done",
        ran.display()
    );
    bed.submit(&[process_job("victim", "low", &ignores_term, None)])
        .await;
    bed.wait_for("the victim running", |s| {
        s.jobs
            .get("victim")
            .is_some_and(|j| j.state == JobState::Running)
    })
    .await;
    let service = Identity::Service("preemption".into());
    let mut preemption = bed.spawn(
        ROTA,
        &service,
        &["run", "preemption", "--lease-timeout-ms", "500"],
    );
    bed.submit(&[job("urgent", "high", 1, 0, &["true"])]).await;
    bed.wait_for("the victim preempted", |s| {
        s.jobs
            .get("victim")
            .is_some_and(|j| j.state == JobState::Preempting)
    })
    .await;
    preemption.kill();
    let _restarted = bed.spawn(
        ROTA,
        &service,
        &["run", "preemption", "--lease-timeout-ms", "500"],
    );
    let state = bed
        .wait_for("the preemptor and the victim finished", |s| {
            ["urgent", "victim"].iter().all(|j| {
                s.jobs
                    .get(*j)
                    .is_some_and(|j| j.state == JobState::Finished)
            })
        })
        .await;
    let entries = bed.entries().await;
    let preempted = preemptions(&entries);
    assert_eq!(preempted.len(), 1, "{preempted:?}");
    assert_eq!(state.jobs["victim"].preemptions, 1);
    let nominated = entries
        .iter()
        .find_map(|e| match e.event.as_ref().ok().map(|e| &e.body) {
            Some(Body::JobNominated(n)) => Some(n.node.clone()),
            _ => None,
        })
        .expect("a nomination");
    let bound = entries
        .iter()
        .find_map(|e| match e.event.as_ref().ok().map(|e| &e.body) {
            Some(Body::JobBound(b)) if b.job == "urgent" => Some(b.node.clone()),
            _ => None,
        })
        .expect("urgent bound");
    assert_eq!(bound, nominated);
    bed.stop_services().await;
    assert_replay_clean(&entries);
}
