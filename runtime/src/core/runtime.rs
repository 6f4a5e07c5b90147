//! Where async handlers run: the current tokio runtime, or the bus's own.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Spawns on the current tokio runtime, or on a small runtime of herald's own when the
/// caller is not inside one.
pub(crate) fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match Handle::try_current() {
        Ok(handle) => handle.spawn(fut),
        Err(_) => own().spawn(fut),
    }
}

fn own() -> &'static Handle {
    static OWN: OnceLock<Handle> = OnceLock::new();
    OWN.get_or_init(|| {
        let mut builder = tokio::runtime::Builder::new_current_thread();
        #[cfg(feature = "redis")]
        builder.enable_io();
        let rt = builder
            .enable_time()
            .thread_name("herald-runtime")
            .build()
            .expect("herald: cannot start its runtime thread (out of threads or memory)");
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("herald-runtime".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .expect("herald: cannot start its runtime thread (out of threads or memory)");
        handle
    })
}
