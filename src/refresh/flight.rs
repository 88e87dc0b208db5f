//! Single flight: the callers in one process that need the same session refreshed share one
//! refresh and its outcome.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::watch;

use crate::{Error, Result, Session, error::SharedError};

/// How one refresh ended, as every caller that waited for it gets it.
#[derive(Clone)]
pub(super) enum Outcome {
    /// The session to hand out: the refreshed one, one another refresher stored, or `None`
    /// when the session is gone.
    Session(Option<Box<Session>>),
    /// See [`Error::RefreshTokenExpired`].
    RefreshTokenExpired,
    /// See [`Error::NotRefreshable`].
    NotRefreshable,
    /// See [`Error::RefreshRejected`].
    Rejected(SharedError),
    /// See [`Error::RefreshFailed`].
    Failed(SharedError),
    /// See [`Error::RefreshNotStored`].
    NotStored(Box<Session>, SharedError),
}

impl Outcome {
    /// The session to hand out.
    pub(super) fn session(session: Option<Session>) -> Self {
        Outcome::Session(session.map(Box::new))
    }

    /// A failure of the storage, the lock or the token endpoint's time limit.
    pub(super) fn failed(error: Error) -> Self {
        Outcome::Failed(Arc::new(error))
    }

    /// The answer a caller waiting for session `id` gets.
    pub(super) fn into_result(self, id: &str) -> Result<Option<Session>> {
        let id = id.to_owned();
        match self {
            Outcome::Session(session) => Ok(session.map(|session| *session)),
            Outcome::RefreshTokenExpired => Err(Error::RefreshTokenExpired { id }),
            Outcome::NotRefreshable => Err(Error::NotRefreshable { id }),
            Outcome::Rejected(source) => Err(Error::RefreshRejected { id, source }),
            Outcome::Failed(source) => Err(Error::RefreshFailed { id, source }),
            Outcome::NotStored(session, source) => Err(Error::RefreshNotStored { session, source }),
        }
    }
}

/// The refresh of one session id under way in this process.
pub(super) struct Flight {
    outcome: watch::Sender<Option<Outcome>>,
}

impl Flight {
    /// Hands the outcome to every caller waiting.
    fn publish(&self, outcome: Outcome) {
        self.outcome.send_replace(Some(outcome));
    }

    fn published(&self) -> bool {
        self.outcome.borrow().is_some()
    }
}

/// The flights under way, by session id.
#[derive(Default)]
pub(super) struct Flights {
    by_id: Mutex<HashMap<String, Arc<Flight>>>,
}

/// What a caller waits on for the outcome of a flight.
pub(super) type Ticket = watch::Receiver<Option<Outcome>>;

impl Flights {
    /// Joins the flight of `id`, or, when none is under way, starts one by handing a new flight
    /// to `start` (which spawns the work). The ticket is taken under the map's lock, so a new
    /// flight never looks abandoned before its first caller waits.
    pub(super) fn join(&self, id: &str, start: impl FnOnce(Arc<Flight>)) -> Ticket {
        let mut by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = by_id.get(id) {
            return flight.outcome.subscribe();
        }
        let (outcome, ticket) = watch::channel(None);
        let flight = Arc::new(Flight { outcome });
        by_id.insert(id.to_owned(), Arc::clone(&flight));
        drop(by_id);
        start(flight);
        ticket
    }

    /// Takes `flight` out of the map if nobody waits for it any more (every caller timed out),
    /// judged under the map's lock, so no caller can join it in between. Returns whether it did.
    pub(super) fn leave_if_unwatched(&self, id: &str, flight: &Arc<Flight>) -> bool {
        let mut by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let unwatched = flight.outcome.receiver_count() == 0;
        if unwatched
            && by_id
                .get(id)
                .is_some_and(|current| Arc::ptr_eq(current, flight))
        {
            by_id.remove(id);
        }
        unwatched
    }

    /// Removes `flight` from the map (if it is still there: a flight never removes another).
    fn land(&self, id: &str, flight: &Arc<Flight>) {
        let mut by_id = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        if by_id
            .get(id)
            .is_some_and(|current| Arc::ptr_eq(current, flight))
        {
            by_id.remove(id);
        }
    }
}

/// Held by a flight's task. [`land`](Self::land) takes the flight out of the map *before* it
/// publishes the outcome, so a caller that arrives after the outcome starts a new flight (which
/// loads the session again) rather than getting an outcome that may be stale by then, an old
/// error included. When the task ends without landing (a panic), the flight leaves the map all
/// the same and callers still waiting get an error rather than waiting for their timeout.
pub(super) struct Landing<'a> {
    pub(super) flights: &'a Flights,
    pub(super) id: &'a str,
    pub(super) flight: Arc<Flight>,
}

impl Landing<'_> {
    /// Ends the flight with `outcome`.
    pub(super) fn land(self, outcome: Outcome) {
        self.flights.land(self.id, &self.flight);
        self.flight.publish(outcome);
    }
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        if !self.flight.published() {
            self.flights.land(self.id, &self.flight);
            self.flight.publish(Outcome::failed(Error::background(
                "the token refresh task ended without an answer",
            )));
        }
    }
}
