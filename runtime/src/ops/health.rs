//! [`Health`]: whether a coordinator keeps up, and why not.

use std::fmt;

use super::OpId;

/// Healthy, or degraded for the reasons given in [`Health::reasons`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    /// Nothing is stuck and the queues are within bounds.
    Healthy,
    /// Something is stuck or a queue is too deep.
    Degraded,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
        })
    }
}

/// The health of a coordinator, from [`Coordinator::health`](super::Coordinator::health).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Healthy or degraded.
    pub status: HealthStatus,
    /// One line per problem, empty when healthy.
    pub reasons: Vec<String>,
    /// Operations executing.
    pub executing: u64,
    /// Operations pending on their targets.
    pub pending: u64,
    /// Executions running longer than [`Config::stuck_after`](super::Config::stuck_after).
    pub stuck: Vec<OpId>,
}

impl Health {
    /// Whether the status is [`HealthStatus::Healthy`].
    pub fn is_healthy(&self) -> bool {
        self.status == HealthStatus::Healthy
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} executing, {} pending)",
            self.status, self.executing, self.pending
        )?;
        for reason in &self.reasons {
            write!(f, "; {reason}")?;
        }
        Ok(())
    }
}
