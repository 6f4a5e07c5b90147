//! [`RecordSink`]: where kept records go besides history (an event store, a transport).

use std::future::Future;
use std::pin::Pin;

use crate::envelope::Record;
use crate::filter::Filter;

/// Why a sink could not read its records back.
pub type SinkReadError = Box<dyn std::error::Error + Send + Sync>;

/// Receives every record a bus keeps, in emission order per thread.
///
/// [`accept`](RecordSink::accept) runs on the emit path, after the record is built and
/// before handlers run: it must not block (hand the record to a background writer), and
/// it must not panic. A sink that cannot keep up drops and counts what it refuses; it
/// reports losses itself.
pub trait RecordSink: Send + Sync + 'static {
    /// Takes one record.
    fn accept(&self, record: &Record);

    /// Resolves when everything accepted so far is written (used by
    /// [`Bus::flush`](crate::Bus::flush)).
    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }

    /// The kept records that `filter` matches, oldest first, for
    /// [`Bus::replay`](crate::Bus::replay); `None` (the default) for a sink that cannot
    /// read its records back.
    fn records(&self, filter: &Filter) -> Option<Result<Vec<Record>, SinkReadError>> {
        let _ = filter;
        None
    }
}
