//! SIGTERM and SIGINT during a deploy (Cloud Build cancels and times out steps this way).
//!
//! A signal does not end the process: the step in flight is finished or safely abandoned and the
//! deploy ends with exit 8 and a message that says where things stand. Waits that a signal cuts
//! short ask [`Interrupt::received`]; a second signal ends even the grace given to a stop in flight.

use std::future::Future;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// How many signals arrived, and the first one's name.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    count: u32,
    first: Option<&'static str>,
}

/// The signals received so far; cheap to clone.
#[derive(Debug, Clone)]
pub struct Interrupt {
    rx: watch::Receiver<Seen>,
}

impl Interrupt {
    /// Listens for SIGTERM and SIGINT from now on.
    pub fn listen() -> std::io::Result<Interrupt> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (tx, rx) = watch::channel(Seen::default());
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    Some(()) = term.recv() => "SIGTERM",
                    Some(()) = int.recv() => "SIGINT",
                    else => return,
                };
                let mut count = 0;
                tx.send_modify(|seen| {
                    seen.count += 1;
                    seen.first.get_or_insert(name);
                    count = seen.count;
                });
                if count == 1 {
                    tracing::warn!(signal = name, "{name} received: finishing or abandoning the step in flight, then stopping");
                } else {
                    tracing::warn!(signal = name, "{name} received again: stopping now");
                }
            }
        });
        Ok(Interrupt { rx })
    }

    /// One that never fires (when signals cannot be listened for).
    pub fn never() -> Interrupt {
        let (_tx, rx) = watch::channel(Seen::default());
        Interrupt { rx }
    }

    /// How many signals arrived.
    pub fn count(&self) -> u32 {
        self.rx.borrow().count
    }

    /// The first signal's name, once one arrived.
    pub fn received(&self) -> Option<&'static str> {
        self.rx.borrow().first
    }

    /// Completes once `n` signals have arrived (never, if they cannot).
    pub async fn at_least(&self, n: u32) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|seen| seen.count >= n).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// `work`, or `None` when a signal arrives first.
    pub async fn unless<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            out = work => Some(out),
            () = self.at_least(1) => None,
        }
    }

    /// `work`, or `None` once more signals arrived than `seen` (so a wait can shorten its bound).
    pub async fn until_more_than<T>(&self, seen: u32, work: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            out = work => Some(out),
            () = self.at_least(seen + 1) => None,
        }
    }
}
