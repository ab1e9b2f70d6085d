//! Graceful shutdown: one signal, observed by every loop.

use std::time::Duration;
use tokio::sync::watch;

/// How long a process asked to stop by a signal has to stop gracefully.
/// Past it, or at a second signal, it kills any nats-server it started and
/// exits at once with [`EXIT_FORCED`].
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The exit status of a process that did not stop within [`SHUTDOWN_GRACE`].
pub const EXIT_FORCED: i32 = 124;

/// A cloneable shutdown signal. Every loop selects on [`Shutdown::wait`] and
/// finishes its current step before returning.
#[derive(Clone)]
pub struct Shutdown {
    sender: std::sync::Arc<watch::Sender<bool>>,
    receiver: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        let (sender, receiver) = watch::channel(false);
        Shutdown {
            sender: std::sync::Arc::new(sender),
            receiver,
        }
    }

    /// Asks every holder to stop.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Resolves once shutdown has been asked for.
    pub async fn wait(&self) {
        let mut receiver = self.receiver.clone();
        // An error means every sender is gone, which is a shutdown too.
        let _ = receiver.wait_for(|stop| *stop).await;
    }

    /// Triggers on SIGINT or SIGTERM; then, if the process has not exited
    /// within [`SHUTDOWN_GRACE`] or at a second signal, forces the exit.
    /// It listens for as long as the process runs, also after a shutdown the
    /// program asked for itself: a handler, once installed, replaces the
    /// signals' default action, so a handler that stopped listening would
    /// leave the process deaf to them.
    pub fn trigger_on_signals(&self) {
        let shutdown = self.clone();
        tokio::spawn(async move {
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            tracing::info!("shutting down on signal");
            shutdown.trigger();
            let why = tokio::select! {
                _ = tokio::signal::ctrl_c() => "a second signal came before it stopped".to_string(),
                _ = terminate.recv() => "a second signal came before it stopped".to_string(),
                _ = tokio::time::sleep(SHUTDOWN_GRACE) => format!(
                    "did not stop within {} s of the signal",
                    SHUTDOWN_GRACE.as_secs()
                ),
            };
            force_exit(&why);
        });
    }
}

/// Ends the process now: says `why`, kills the servers it started, then
/// exits with [`EXIT_FORCED`] without running destructors.
pub fn force_exit(why: &str) -> ! {
    eprintln!("rota: {why}; killing its nats-server and exiting");
    crate::nats_server::kill_started_servers();
    std::process::exit(EXIT_FORCED)
}

/// Waits for every task of `tasks` to end, for at most `bound`; past it the
/// rest are aborted and the error says how many did not stop.
pub async fn join_within<T: 'static>(
    tasks: &mut tokio::task::JoinSet<T>,
    bound: Duration,
) -> Result<Vec<Result<T, tokio::task::JoinError>>, String> {
    let mut ended = Vec::new();
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(joined)) => ended.push(joined),
            Ok(None) => return Ok(ended),
            Err(_) => {
                let left = tasks.len();
                tasks.abort_all();
                return Err(format!(
                    "{left} task(s) did not stop within {} ms of being asked to",
                    bound.as_millis()
                ));
            }
        }
    }
}
