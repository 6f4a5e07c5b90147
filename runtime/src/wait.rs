//! Waiting for a condition that a [`Notify`] announces.

use tokio::sync::Notify;

/// Resolves once `done()` holds, checking it again whenever `notify` wakes its waiters.
/// The waiter is registered before each check, so a notification between the check and
/// the wait is not missed.
pub(crate) async fn until(notify: &Notify, done: impl Fn() -> bool) {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if done() {
            return;
        }
        notified.await;
    }
}
