//! Refusals of callers the node does not recognise, logged within a rate.

use std::time::Duration;

/// Audit entries for refusals of callers the node does not recognise (a certificate
/// no credential or agreement names). Each is an accountable decision and is logged,
/// but such a caller can make a new certificate for every request, and each entry is
/// a durable write to a log that is kept forever. So they are rate-limited: a burst of
/// [`StrangerLog::BURST`], then [`StrangerLog::PER_SECOND`]; the refusals beyond are
/// still refused, counted, and reported in the node's own log once a minute.
pub struct StrangerLog {
    state: std::sync::Mutex<StrangerState>,
}

struct StrangerState {
    tokens: f64,
    at: std::time::Instant,
    dropped: u64,
    reported: std::time::Instant,
}

impl StrangerLog {
    /// Entries in a burst.
    pub const BURST: f64 = 200.0;
    /// Entries per second after it.
    pub const PER_SECOND: f64 = 20.0;

    /// A full bucket.
    pub fn new() -> StrangerLog {
        let now = std::time::Instant::now();
        StrangerLog {
            state: std::sync::Mutex::new(StrangerState {
                tokens: Self::BURST,
                at: now,
                dropped: 0,
                reported: now,
            }),
        }
    }

    /// Whether this refusal of a stranger goes into the audit log.
    pub fn admit(&self) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return true;
        };
        let now = std::time::Instant::now();
        let refill = now.duration_since(s.at).as_secs_f64() * Self::PER_SECOND;
        s.tokens = (s.tokens + refill).min(Self::BURST);
        s.at = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            return true;
        }
        s.dropped += 1;
        if now.duration_since(s.reported) >= Duration::from_secs(60) {
            tracing::warn!(
                dropped = s.dropped,
                "refusals of unrecognised callers beyond the audit log's rate (20/s) were not logged"
            );
            s.dropped = 0;
            s.reported = now;
        }
        false
    }
}

impl Default for StrangerLog {
    fn default() -> Self {
        StrangerLog::new()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strangers_are_logged_in_a_burst_then_at_a_rate() {
        let log = super::StrangerLog::new();
        let admitted = (0..1000).filter(|_| log.admit()).count();
        // The burst, and what the rate refilled while the loop ran (well under 1 s).
        assert!((200..230).contains(&admitted), "{admitted}");
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(log.admit(), "the rate refills the bucket");
    }
}
