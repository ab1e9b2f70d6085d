//! The cell's log on a three-server JetStream cluster, its stream
//! replicated on all three, survives losing the server that leads it: the
//! services, the clock and a simulated fleet run in this process against
//! the cluster; while jobs are being submitted, the stream's leader is
//! killed (SIGKILL) and later started again on its store. Every
//! acknowledged submission is decided and runs to its end, no job is bound
//! twice (but again after its node was declared lost), the services keep deciding through the loss, and the log replays
//! clean.

use rota_events::Event;
use rota_projections::{CellState, JobState};
use rota_shell::access::Identity;
use rota_shell::access_files::LocalAccess;
use rota_shell::clock::{ClockConfig, run_clock};
use rota_shell::nats_cluster::{CLUSTER_SIZE, NatsCluster};
use rota_shell::nodes::{SimRunner, run_nodes};
use rota_shell::service::{ServiceConfig, run_service};
use rota_shell::{CellLog, Shutdown};
use rota_testkit::{
    CELL, assert_replay_clean, bed_identities, bound_events, sim_fleet, small_job, summary,
};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Jobs submitted, and after how many the stream's leader is killed.
const JOBS: usize = 1500;
const KILL_AFTER: usize = 500;
/// How long the killed server stays down.
const DOWN_FOR: Duration = Duration::from_secs(3);
const NODES: usize = 50;
/// Simulated jobs of a second that run 100 times faster than real time.
const JOB_DURATION_MS: u64 = 1000;
const TIME_SCALE: f64 = 100.0;
/// How long one submission may take, retries included, before the test
/// fails: the cluster elects a new leader within seconds.
const SUBMIT_BOUND: Duration = Duration::from_secs(30);
/// A submission's wait for one acknowledgement before it is sent again
/// (with the same message id, so that the stream keeps one).
const PUBLISH_WAIT: Duration = Duration::from_secs(2);
/// The bound on every job's end, from the first submission.
const FINISH_BOUND: Duration = Duration::from_secs(90);

fn job_id(i: usize) -> String {
    format!("replicated-{i:05}")
}

/// Publishes `event` until the stream acknowledges it, within
/// [`SUBMIT_BOUND`].
async fn submit(log: &CellLog, event: &Event) {
    let deadline = Instant::now() + SUBMIT_BOUND;
    loop {
        match tokio::time::timeout(PUBLISH_WAIT, log.publish(event)).await {
            Ok(Ok(_)) => return,
            Ok(Err(error)) if Instant::now() >= deadline => panic!("{error}"),
            Err(_) if Instant::now() >= deadline => {
                panic!("no acknowledgement within {SUBMIT_BOUND:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The server name of the stream's leader.
async fn leader(log: &CellLog) -> String {
    let mut stream = log
        .js
        .get_stream(rota_events::stream_name(CELL))
        .await
        .expect("the stream");
    let info = stream.info().await.expect("stream info");
    assert_eq!(
        info.config.num_replicas, CLUSTER_SIZE,
        "replicated on every server"
    );
    info.cluster
        .clone()
        .and_then(|cluster| cluster.leader)
        .expect("a replicated stream has a leader")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_survives_losing_its_leader_under_load() {
    // Every part connects as its own identity, over TLS, under the
    // cluster's permissions.
    let access = LocalAccess::generate(CELL, bed_identities(), Some(CLUSTER_SIZE))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut cluster = NatsCluster::start(Some(access.config())).unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.url();
    let connect = async |identity: Identity| {
        access
            .connect(&url, CELL, &identity)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", identity.name()))
    };
    // The services' connection provisions the replicated stream.
    let services = connect(Identity::Services).await;
    let log = connect(Identity::Auditor).await;
    let gateway = connect(Identity::Gateway).await;
    let fleet = connect(Identity::Fleet).await;
    access
        .set_roster(&connect(Identity::Operator).await)
        .await
        .unwrap_or_else(|e| panic!("setting the roster: {e}"));
    let shutdown = Shutdown::new();
    let mut tasks = JoinSet::new();
    for service in ["admission", "placement", "fairshare"] {
        let core = rota_replay::standard_core(CELL, service).unwrap();
        let mut config = ServiceConfig::new(format!("{service}-cluster"));
        config.lease_timeout = Duration::from_secs(2);
        let (log, shutdown) = (services.connect_again().await.unwrap(), shutdown.clone());
        tasks.spawn(async move {
            run_service(log, core, config, shutdown)
                .await
                .map(|_| ())
                .map_err(|e| format!("{service}: {e}"))
        });
    }
    let (clock_log, clock_shutdown) = (services.connect_again().await.unwrap(), shutdown.clone());
    tasks.spawn(async move {
        run_clock(clock_log, ClockConfig::default(), clock_shutdown)
            .await
            .map_err(|e| format!("clock: {e}"))
    });
    let (fleet_log, fleet_shutdown) = (fleet, shutdown.clone());
    tasks.spawn(async move {
        run_nodes(
            fleet_log,
            sim_fleet("replica", NODES),
            SimRunner::new(TIME_SCALE),
            fleet_shutdown,
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("fleet: {e}"))
    });

    let started = Instant::now();
    let mut killed = None;
    for i in 0..JOBS {
        if i == KILL_AFTER {
            let name = leader(&log).await;
            let index = NatsCluster::index_of(&name)
                .unwrap_or_else(|| panic!("{name} is not a server of the cluster"));
            cluster.servers[index].kill();
            eprintln!("killed the stream's leader {name} after {KILL_AFTER} submissions");
            killed = Some((index, Instant::now()));
        }
        if let Some((index, at)) = killed
            && at.elapsed() >= DOWN_FOR
        {
            cluster.servers[index]
                .restart()
                .unwrap_or_else(|e| panic!("{e}"));
            eprintln!("restarted server {index}");
            killed = None;
        }
        submit(&gateway, &small_job("acme", &job_id(i), JOB_DURATION_MS)).await;
    }
    if let Some((index, _)) = killed {
        tokio::time::sleep(DOWN_FOR).await;
        cluster.servers[index]
            .restart()
            .unwrap_or_else(|e| panic!("{e}"));
    }

    let mut state = CellState::new(CELL);
    let mut entries = log.entries(1, Vec::new()).await.unwrap();
    let deadline = started + FINISH_BOUND;
    while state.tally.ended() < JOBS as u64 {
        match tokio::time::timeout_at(deadline, entries.next()).await {
            Ok(Some(item)) => state.apply(&item.unwrap().0),
            Ok(None) => panic!("the log ended"),
            Err(_) => panic!(
                "not every job ended within {FINISH_BOUND:?}: {:?}",
                summary(&state)
            ),
        }
    }
    shutdown.trigger();
    while let Some(joined) = tasks.join_next().await {
        joined.unwrap().unwrap();
    }
    assert_eq!(
        state.tally.submitted, JOBS as u64,
        "every submission stored once"
    );
    // A node whose heartbeats were lost with the server may be declared
    // lost, its jobs ending as lost; every job still ends.
    assert!(
        state
            .jobs
            .values()
            .all(|job| job.state == JobState::Finished),
        "{:?}",
        summary(&state)
    );
    let all = log.read_all().await.unwrap();
    assert_eq!(
        state.tally.bindings,
        JOBS as u64 + state.counters.requeued_jobs,
        "no job bound twice but after its node was lost"
    );
    assert!(bound_events(&all).len() == JOBS);
    assert_replay_clean(&all);
}
