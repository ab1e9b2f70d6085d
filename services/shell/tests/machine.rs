//! The service state machine without a server: a log in memory, a simulated
//! clock, and a driver that carries out the machine's outputs by hand.

use rota_admission::Admission;
use rota_events::{Body, Event, JobSubmitted, Resources};
use rota_projections::LogEntry;
use rota_shell::machine::{
    ClaimOutcome, DECIDE_INTERVAL_MAX, HEAD_PROBE_INTERVAL, Health, Input, MachineConfig, Moment,
    Output, READ_FAILURES_MAX, READ_STALL_AFTER, SNAPSHOT_INTERVAL_MIN, ServiceMachine,
    read_backoff,
};
use std::sync::Arc;
use std::time::Duration;

const LEASE_TIMEOUT: Duration = Duration::from_secs(3);
const HEARTBEAT: Duration = Duration::from_millis(500);

/// A log in memory and a machine reading it.
struct Sim {
    log: Vec<LogEntry>,
    now: Moment,
    machine: ServiceMachine,
    /// Outputs taken from the machine and not yet looked at by the test.
    seen: Vec<Output>,
}

impl Sim {
    fn new(instance: &str) -> Sim {
        Sim::snapshotting(instance, 0)
    }

    /// A machine that asks for a snapshot every `snapshot_every_events`.
    fn snapshotting(instance: &str, snapshot_every_events: u64) -> Sim {
        let config = MachineConfig {
            instance: instance.to_string(),
            lease_timeout: LEASE_TIMEOUT,
            heartbeat_interval: HEARTBEAT,
            snapshot_every_events,
        };
        let machine = ServiceMachine::new(
            Box::new(Admission::new("default")),
            config,
            0,
            Duration::ZERO,
        );
        let mut sim = Sim {
            log: Vec::new(),
            now: Duration::ZERO,
            machine,
            seen: Vec::new(),
        };
        sim.drain();
        sim
    }

    fn drain(&mut self) {
        while let Some(output) = self.machine.poll_output() {
            self.seen.push(output);
        }
    }

    /// Takes the outputs seen so far.
    fn take(&mut self) -> Vec<Output> {
        self.drain();
        std::mem::take(&mut self.seen)
    }

    fn append(&mut self, event: Event) -> u64 {
        let seq = self.log.len() as u64 + 1;
        self.log.push(LogEntry {
            seq,
            time_ms: 1_000 + seq,
            subject: event.subject(),
            event: Ok(event),
            signer: None,
        });
        seq
    }

    /// Delivers every entry after the machine's applied sequence.
    fn deliver_all(&mut self) {
        let applied = self.machine.core().state().applied_seq as usize;
        let head = self.log.len();
        for index in applied..head {
            let entry = Arc::new(self.log[index].clone());
            let pending = (head - index - 1) as u64;
            self.machine
                .handle(self.now, Input::Entry { entry, pending });
        }
        self.drain();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.machine.handle_timeout(self.now);
        self.drain();
    }

    fn input(&mut self, input: Input) {
        self.machine.handle(self.now, input);
        self.drain();
    }

    /// Carries out a lease claim the machine asked for: it lands.
    fn land_claim(&mut self, outputs: &[Output]) {
        let claim = outputs
            .iter()
            .find_map(|o| match o {
                Output::ClaimLease { claim, .. } => Some(claim.clone()),
                _ => None,
            })
            .expect("a lease claim");
        self.append(claim);
        self.input(Input::ClaimAnswered {
            outcome: ClaimOutcome::Won,
        });
        self.deliver_all();
    }

    /// Carries out the round the machine asked for: it lands whole.
    fn land_round(&mut self, round: Vec<Event>) {
        let mut last = 0;
        for event in round {
            last = self.append(event);
        }
        self.input(Input::RoundLanded { last_seq: last });
    }

    /// A machine that holds the lease over an empty log.
    fn leader() -> Sim {
        let mut sim = Sim::new("admission-a");
        let outputs = sim.take();
        sim.land_claim(&outputs);
        assert_eq!(sim.machine.held_epoch(), Some(1));
        sim.take();
        sim
    }
}

fn rounds(outputs: &[Output]) -> Vec<Vec<Event>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::PublishRound { round } => Some(round.clone()),
            _ => None,
        })
        .collect()
}

fn heartbeats(outputs: &[Output]) -> usize {
    outputs
        .iter()
        .filter(|o| matches!(o, Output::Heartbeat { .. }))
        .count()
}

fn claims(outputs: &[Output]) -> usize {
    outputs
        .iter()
        .filter(|o| matches!(o, Output::ClaimLease { .. }))
        .count()
}

fn opens(outputs: &[Output]) -> Vec<u64> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::OpenReader { from_seq } => Some(*from_seq),
            _ => None,
        })
        .collect()
}

fn submission(job: &str) -> Event {
    Event::new(
        job,
        "default",
        Body::JobSubmitted(Arc::new(JobSubmitted {
            job: job.into(),
            resources: Resources {
                cpu_milli: 100,
                memory_bytes: 1 << 20,
                ..Default::default()
            },
            ..Default::default()
        })),
    )
    .with_tenant("acme")
}

#[test]
fn a_service_nobody_leads_opens_its_reader_and_claims_at_once() {
    let mut sim = Sim::new("admission-a");
    let outputs = sim.take();
    assert_eq!(opens(&outputs), vec![1], "the reader opens at the start");
    match outputs
        .iter()
        .find(|o| matches!(o, Output::ClaimLease { .. }))
    {
        Some(Output::ClaimLease {
            claim,
            expected_last_subject_seq,
        }) => {
            assert_eq!(*expected_last_subject_seq, 0);
            assert!(
                matches!(&claim.body, Body::LeaseClaimed(c) if c.epoch == 1 && c.holder == "admission-a")
            );
        }
        _ => panic!("no claim in {outputs:?}"),
    }
}

#[test]
fn one_round_in_flight_and_none_before_it_is_applied_back() {
    let mut sim = Sim::leader();
    sim.append(submission("j1"));
    sim.deliver_all();
    let first = rounds(&sim.take());
    assert_eq!(first.len(), 1, "a round for the first submission");

    // More work arrives while the round is in flight: no second round.
    sim.append(submission("j2"));
    sim.deliver_all();
    assert!(
        rounds(&sim.take()).is_empty(),
        "a round is already in flight"
    );

    // The round lands behind j2; until it is applied back, still none.
    sim.land_round(first[0].clone());
    assert!(rounds(&sim.take()).is_empty(), "not yet applied back");
    sim.deliver_all();
    let second = rounds(&sim.take());
    assert_eq!(second.len(), 1, "the next round once the log is applied");
    assert!(matches!(&second[0][0].body, Body::JobAdmitted(a) if a.job == "j2"));
    let basis = second[0][0].round.as_ref().unwrap().basis;
    assert_eq!(basis, sim.log.len() as u64, "decided on the whole log");
}

#[test]
fn redelivered_entries_are_dropped_and_counted() {
    let mut sim = Sim::leader();
    sim.append(submission("j1"));
    sim.deliver_all();
    let before = sim.machine.core().state().clone();
    let again = Arc::new(sim.log[0].clone());
    sim.input(Input::Entry {
        entry: again,
        pending: 0,
    });
    assert_eq!(sim.machine.stats().duplicates_dropped, 1);
    assert_eq!(sim.machine.core().state(), &before, "folded once");
}

#[test]
fn the_holder_heartbeats_while_its_reader_makes_progress() {
    let mut sim = Sim::leader();
    let mut beats = 0;
    for _ in 0..8 {
        sim.advance(HEARTBEAT);
        beats += heartbeats(&sim.take());
    }
    assert!(
        beats >= 7,
        "a heartbeat per interval at an idle head, got {beats}"
    );
}

#[test]
fn a_stalled_reader_lets_the_lease_go_and_is_reopened() {
    let mut sim = Sim::leader();
    // The log has grown (the head probe says so) but nothing is delivered.
    sim.append(submission("j1"));
    sim.advance(HEAD_PROBE_INTERVAL);
    let outputs = sim.take();
    assert!(outputs.contains(&Output::ProbeHead));
    sim.input(Input::HeadSeen {
        seq: sim.log.len() as u64,
    });
    let mut beats_while_stalled = 0;
    let mut reopened = Vec::new();
    let mut stalled = false;
    let step = HEARTBEAT;
    let mut waited = Duration::ZERO;
    while waited < READ_STALL_AFTER + HEARTBEAT * 4 {
        sim.advance(step);
        waited += step;
        let outputs = sim.take();
        stalled |= outputs
            .iter()
            .any(|o| matches!(o, Output::Health(Health::Stalled { .. })));
        reopened.extend(opens(&outputs));
        if waited > READ_STALL_AFTER {
            beats_while_stalled += heartbeats(&outputs);
        }
    }
    assert!(stalled, "the stall is reported");
    assert_eq!(
        reopened,
        vec![2],
        "the reader is reopened after the applied sequence"
    );
    assert_eq!(
        beats_while_stalled, 0,
        "no heartbeat from a holder that cannot read"
    );

    // Once entries flow again, it is healthy and heartbeats again.
    sim.deliver_all();
    sim.advance(HEARTBEAT);
    let outputs = sim.take();
    assert!(outputs.contains(&Output::Health(Health::Healthy)));
    assert!(heartbeats(&outputs) > 0);
}

#[test]
fn read_errors_are_retried_with_backoff_then_given_up() {
    let mut sim = Sim::leader();
    sim.input(Input::ReadFailed {
        error: "connection reset".into(),
    });
    assert!(opens(&sim.take()).is_empty(), "not reopened at once");
    sim.advance(read_backoff(1) - Duration::from_millis(1));
    assert!(opens(&sim.take()).is_empty(), "not before the backoff");
    sim.advance(Duration::from_millis(1));
    assert_eq!(
        opens(&sim.take()),
        vec![2],
        "reopened after the applied sequence"
    );
    assert!(read_backoff(2) > read_backoff(1), "the backoff grows");

    for _ in 1..READ_FAILURES_MAX {
        sim.input(Input::ReadFailed {
            error: "connection reset".into(),
        });
        sim.advance(read_backoff(READ_FAILURES_MAX));
    }
    let outputs = sim.take();
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::GiveUp { reason } if reason.contains("connection reset"))),
        "gives up with the last error: {outputs:?}"
    );
    assert_eq!(
        sim.machine.poll_timeout(),
        None,
        "a machine that gave up sleeps"
    );
}

#[test]
fn a_standby_claims_only_after_the_holder_is_silent_for_the_lease_timeout() {
    let mut sim = Sim::new("admission-b");
    sim.take();
    // Its first claim loses to another instance's, which holds the lease.
    sim.input(Input::ClaimAnswered {
        outcome: ClaimOutcome::Lost,
    });
    let mut claim = rota_shell::machine::lease_claim("default", "admission", 1, "admission-a");
    claim.id = "other-claim".into();
    sim.append(claim);
    sim.deliver_all();
    sim.take();
    // While the holder is heard, no claim.
    let mut waited = Duration::ZERO;
    while waited < LEASE_TIMEOUT * 2 {
        sim.input(Input::Heartbeat {
            instance: "admission-a".into(),
        });
        sim.advance(HEARTBEAT);
        waited += HEARTBEAT;
        assert_eq!(claims(&sim.take()), 0, "no claim while the holder is heard");
    }
    // Silent from here: a claim after the lease timeout, at epoch 2.
    // The holder was last heard one heartbeat interval ago.
    sim.advance(LEASE_TIMEOUT - HEARTBEAT * 2);
    assert_eq!(claims(&sim.take()), 0, "not before the lease timeout");
    sim.advance(HEARTBEAT);
    let outputs = sim.take();
    let claim = outputs.iter().find_map(|o| match o {
        Output::ClaimLease {
            claim,
            expected_last_subject_seq,
        } => Some((claim.clone(), *expected_last_subject_seq)),
        _ => None,
    });
    let (claim, expected) = claim.expect("a claim after the silence");
    assert_eq!(expected, 1, "conditional on the claim it saw");
    assert!(matches!(claim.body, Body::LeaseClaimed(c) if c.epoch == 2));
}

#[test]
fn a_round_that_did_not_land_is_decided_again_after_reading_to_the_head() {
    let mut sim = Sim::leader();
    sim.append(submission("j1"));
    sim.deliver_all();
    assert_eq!(rounds(&sim.take()).len(), 1);
    sim.input(Input::RoundFailed {
        error: "commit timed out".into(),
    });
    let outputs = sim.take();
    assert!(
        outputs.contains(&Output::ProbeHead),
        "asks where the log is"
    );
    assert!(rounds(&outputs).is_empty(), "not before knowing the head");
    sim.input(Input::HeadSeen {
        seq: sim.log.len() as u64,
    });
    let again = rounds(&sim.take());
    assert_eq!(again.len(), 1, "the same work decided again");
    assert!(matches!(&again[0][0].body, Body::JobAdmitted(a) if a.job == "j1"));
}

#[test]
fn behind_the_head_a_round_waits_at_most_the_decide_interval() {
    let mut sim = Sim::leader();
    sim.append(submission("j1"));
    sim.append(submission("j2"));
    // Only the first entry arrives, with one more pending behind it.
    let entry = Arc::new(sim.log[1].clone());
    sim.input(Input::Entry { entry, pending: 1 });
    let early = rounds(&sim.take());
    let wake = sim.machine.poll_timeout().expect("a wake time");
    assert!(wake <= sim.now + DECIDE_INTERVAL_MAX);
    sim.advance(DECIDE_INTERVAL_MAX);
    let late = rounds(&sim.take());
    assert_eq!(early.len() + late.len(), 1, "one round within the interval");
}

#[test]
fn behind_the_head_the_interval_counts_from_the_end_of_a_slow_decision() {
    let mut sim = Sim::leader();
    for i in 0..4 {
        sim.append(submission(&format!("j{i}")));
    }
    // The first entry leads to a round, which lands at once; the rest wait
    // behind it, and the decision took the driver 50 ms.
    let entry = Arc::new(sim.log[1].clone());
    sim.input(Input::Entry { entry, pending: 3 });
    sim.advance(DECIDE_INTERVAL_MAX);
    let first = rounds(&sim.take());
    assert_eq!(first.len(), 1);
    sim.land_round(first[0].clone());
    let busy_until = sim.now + Duration::from_millis(50);
    sim.input(Input::Busy { until: busy_until });
    // The rest of the log, its round included, arrives with more said to
    // be behind it, just before the slow decision's interval has passed.
    sim.now = busy_until + DECIDE_INTERVAL_MAX - Duration::from_millis(1);
    for index in 2..sim.log.len() {
        let entry = Arc::new(sim.log[index].clone());
        sim.input(Input::Entry { entry, pending: 1 });
    }
    assert!(
        rounds(&sim.take()).is_empty(),
        "not within the interval after the slow decision"
    );
    sim.advance(Duration::from_millis(1));
    assert_eq!(
        rounds(&sim.take()).len(),
        1,
        "once the interval has passed since it ended"
    );
}

#[test]
fn snapshots_are_asked_for_every_so_many_events_but_at_most_once_per_interval() {
    let mut sim = Sim::snapshotting("admission-a", 2);
    let snapshots = |outputs: &[Output]| {
        outputs
            .iter()
            .filter(|o| matches!(o, Output::SaveSnapshot))
            .count()
    };
    sim.take();
    for job in ["a", "b", "c", "d", "e", "f"] {
        sim.append(submission(job));
    }
    sim.deliver_all();
    assert_eq!(
        snapshots(&sim.take()),
        1,
        "the first as soon as enough events are in, then none within the interval"
    );
    sim.advance(SNAPSHOT_INTERVAL_MIN / 2);
    sim.append(submission("g"));
    sim.append(submission("h"));
    sim.deliver_all();
    assert_eq!(snapshots(&sim.take()), 0, "within the interval");
    sim.advance(SNAPSHOT_INTERVAL_MIN / 2);
    sim.append(submission("i"));
    sim.deliver_all();
    assert_eq!(
        snapshots(&sim.take()),
        1,
        "past the interval, with enough events"
    );
    assert_eq!(sim.machine.stats().snapshots_asked, 2);
}
