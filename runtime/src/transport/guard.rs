//! Panics in a transport's tasks: [`catch_panic`] turns a panic in a future into an
//! error, where one entry is handled, so that the task goes on with the next entry.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::unwind::panic_text;

/// A future whose panic becomes `Err` with the panic's text (`panicked: ...`).
pub(crate) struct CatchPanic<F>(Pin<Box<F>>);

/// Runs `future`, catching a panic in any of its polls.
pub(crate) fn catch_panic<F: Future>(future: F) -> CatchPanic<F> {
    CatchPanic(Box::pin(future))
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match panic::catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_text(&*payload))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    #[test]
    fn a_panic_becomes_its_text_and_a_value_passes() {
        assert_eq!(block_on(catch_panic(async { 7 })), Ok(7));
        let caught = block_on(catch_panic(async {
            tokio::task::yield_now().await;
            if true {
                panic!("entry {} is cursed", 3);
            }
        }));
        assert_eq!(caught, Err("panicked: entry 3 is cursed".to_owned()));
    }
}
