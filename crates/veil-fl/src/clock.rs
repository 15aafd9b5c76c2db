//! Where the coordinator's answer deadlines come from.
//!
//! A client that does not answer within the plan's `answer_timeout` is left out of the step.
//! In a deployment the deadline is the real clock's ([`Clock::Real`]). A test that must
//! decide *which* client is late cannot rely on wall-clock time on a loaded machine, so it
//! can drive the deadlines itself with a [`ManualClock`]: no deadline passes until the test
//! names the party whose wait should end ([`ManualClock::expire`]).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The source of answer deadlines.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// Deadlines pass with real time.
    #[default]
    Real,
    /// Deadlines pass when the holder of the [`ManualClock`] says so.
    Manual(ManualClock),
}

impl Clock {
    /// Resolves once the deadline for an answer from `party`, `after` from now, has passed.
    pub(crate) async fn deadline(&self, after: Duration, party: &str) {
        match self {
            Clock::Real => tokio::time::sleep(after).await,
            Clock::Manual(manual) => manual.wait(party).await,
        }
    }
}

/// Deadlines that pass only on [`ManualClock::expire`].
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    inner: Arc<Manual>,
}

#[derive(Debug, Default)]
struct Manual {
    /// Parties whose current (or, if none is pending, next) wait is to end.
    expired: Mutex<BTreeSet<String>>,
    changed: tokio::sync::Notify,
}

impl ManualClock {
    /// A clock on which no deadline passes by itself.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    /// Ends the wait for an answer from `party` that is pending now, or, if none is, the
    /// next one as soon as it begins. Other parties' waits go on.
    pub fn expire(&self, party: &str) {
        self.expired().insert(party.to_string());
        self.inner.changed.notify_waiters();
    }

    fn expired(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.inner
            .expired
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn wait(&self, party: &str) {
        loop {
            let changed = self.inner.changed.notified();
            if self.expired().remove(party) {
                return;
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_deadline_passes_only_for_the_party_named() {
        let clock = ManualClock::new();
        let manual = Clock::Manual(clock.clone());
        let (a, b) = (manual.clone(), manual.clone());
        let late = tokio::spawn(async move { a.deadline(Duration::ZERO, "late").await });
        let prompt = tokio::spawn(async move { b.deadline(Duration::ZERO, "prompt").await });
        clock.expire("late");
        late.await.unwrap();
        tokio::task::yield_now().await;
        assert!(!prompt.is_finished());
        // An expiry named before the wait begins ends that wait at once.
        clock.expire("next");
        manual.deadline(Duration::ZERO, "next").await;
        prompt.abort();
    }
}
