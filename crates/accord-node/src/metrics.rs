//! The node's counters for its officers' monitoring: decisions by kind and result,
//! the rules refusals named, and how long rewraps take. Counts only, never a person, an
//! object or a marking. The metrics listener (`server/metrics.rs`) serves them in
//! Prometheus text format with the gauges it reads at the scrape (outbox, log, disk).

use crate::entry_kind::EntryKind;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the rewrap latency histogram's buckets.
const REWRAP_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// What the node counts as it works.
#[derive(Default)]
pub(crate) struct Metrics {
    /// Decisions by kind (its index in [`EntryKind::ALL`]), permits then denies: one
    /// atomic add per decision, since every rewrapped object makes one.
    decisions: [[AtomicU64; 2]; EntryKind::ALL.len()],
    /// Reasons of refusals by (kind, rule).
    refusal_rules: Mutex<BTreeMap<(&'static str, String), u64>>,
    /// Rewrap requests answered, by how long they took.
    rewrap: Mutex<Histogram>,
    /// The size of the latest checkpoint of this node's log each partner's witness
    /// cosigned, by partner.
    witnessed: Mutex<BTreeMap<String, u64>>,
}

#[derive(Default)]
struct Histogram {
    /// Observations at or below each bound of [`REWRAP_BUCKETS`] (not cumulative).
    buckets: [u64; REWRAP_BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Metrics {
    /// Count a decision of `kind`, and for a refusal the rules its reasons name.
    pub(crate) fn decision<'a>(
        &self,
        kind: EntryKind,
        permit: bool,
        rules: impl Iterator<Item = &'a str>,
    ) {
        self.decisions[kind as usize][usize::from(!permit)].fetch_add(1, Ordering::Relaxed);
        if !permit {
            if let Ok(mut r) = self.refusal_rules.lock() {
                for rule in rules {
                    *r.entry((kind.as_str(), rule.to_string())).or_default() += 1;
                }
            }
        }
    }

    /// Partner `partner`'s witness cosigned a checkpoint of `size` entries.
    pub(crate) fn witness_cosigned(&self, partner: &str, size: u64) {
        if let Ok(mut w) = self.witnessed.lock() {
            w.insert(partner.to_string(), size);
        }
    }

    /// The size of the latest checkpoint each partner's witness cosigned, by partner.
    pub(crate) fn witnessed(&self) -> BTreeMap<String, u64> {
        self.witnessed.lock().map(|w| w.clone()).unwrap_or_default()
    }

    /// Count a rewrap request answered in `seconds`.
    pub(crate) fn rewrap_took(&self, seconds: f64) {
        if let Ok(mut h) = self.rewrap.lock() {
            if let Some(i) = REWRAP_BUCKETS.iter().position(|b| seconds <= *b) {
                h.buckets[i] += 1;
            }
            h.sum += seconds;
            h.count += 1;
        }
    }

    /// The counters in Prometheus text format (version 0.0.4), appended to `out`.
    pub(crate) fn render(&self, out: &mut String) {
        family(
            out,
            "accord_decisions_total",
            "counter",
            "Decisions the node made, each with its audit entry, by kind and result.",
        );
        for kind in EntryKind::ALL {
            for (i, decision) in ["permit", "deny"].into_iter().enumerate() {
                let n = self.decisions[kind as usize][i].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "accord_decisions_total{{kind=\"{}\",decision=\"{decision}\"}} {n}",
                        kind.as_str()
                    );
                }
            }
        }
        family(
            out,
            "accord_refusal_reasons_total",
            "counter",
            "Reasons refusals gave, by kind of decision and the rule each names.",
        );
        if let Ok(r) = self.refusal_rules.lock() {
            for ((kind, rule), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "accord_refusal_reasons_total{{kind=\"{kind}\",rule=\"{}\"}} {n}",
                    label_value(rule)
                );
            }
        }
        family(
            out,
            "accord_rewrap_seconds",
            "histogram",
            "Time to answer a rewrap request (every object decided, logged and released).",
        );
        if let Ok(h) = self.rewrap.lock() {
            let mut seen = 0;
            for (bound, n) in REWRAP_BUCKETS.iter().zip(h.buckets) {
                seen += n;
                let _ = writeln!(out, "accord_rewrap_seconds_bucket{{le=\"{bound}\"}} {seen}");
            }
            let _ = writeln!(
                out,
                "accord_rewrap_seconds_bucket{{le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "accord_rewrap_seconds_sum {}", h.sum);
            let _ = writeln!(out, "accord_rewrap_seconds_count {}", h.count);
        }
        family(
            out,
            "accord_witness_cosigned_entries",
            "gauge",
            "Entries of this node's log that each partner's witness has cosigned (since the node started); the lag is accord_audit_log_entries minus this.",
        );
        if let Ok(w) = self.witnessed.lock() {
            for (partner, size) in w.iter() {
                let _ = writeln!(
                    out,
                    "accord_witness_cosigned_entries{{partner=\"{}\"}} {size}",
                    label_value(partner)
                );
            }
        }
    }
}

/// A metric family's HELP and TYPE lines.
pub(crate) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value escaped as the text format wants (backslash, quote, newline).
pub(crate) fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_counts_every_request() {
        let m = Metrics::default();
        for s in [0.0005, 0.003, 0.003, 7.0] {
            m.rewrap_took(s);
        }
        m.decision(EntryKind::Rewrap, false, ["clearance", "scope"].into_iter());
        m.decision(EntryKind::Rewrap, true, std::iter::empty());
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("accord_rewrap_seconds_bucket{le=\"0.001\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("accord_rewrap_seconds_bucket{le=\"0.005\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("accord_rewrap_seconds_bucket{le=\"2.5\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("accord_rewrap_seconds_bucket{le=\"+Inf\"} 4\n"),
            "{out}"
        );
        assert!(out.contains("accord_rewrap_seconds_count 4\n"), "{out}");
        assert!(out.contains("accord_decisions_total{kind=\"rewrap\",decision=\"deny\"} 1\n"));
        assert!(out.contains("accord_refusal_reasons_total{kind=\"rewrap\",rule=\"scope\"} 1\n"));
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
