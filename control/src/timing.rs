//! Loop timing statistics: a fixed-size histogram, so recording never
//! allocates, with percentiles read off it.

use std::fmt;
use std::time::Duration;

/// Histogram resolution and range: 1 µs bins up to 20 ms, then one overflow bin.
const BIN_NS: u64 = 1_000;
const N_BINS: usize = 20_000;

/// A histogram of durations with exact max and count.
#[derive(Clone)]
pub struct DurationHistogram {
    bins: Box<[u32; N_BINS]>,
    overflow: u64,
    count: u64,
    max_ns: u64,
    sum_ns: u128,
}

impl fmt::Debug for DurationHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurationHistogram")
            .field("count", &self.count)
            .field("max_ns", &self.max_ns)
            .finish()
    }
}

impl Default for DurationHistogram {
    fn default() -> Self {
        DurationHistogram {
            bins: Box::new([0; N_BINS]),
            overflow: 0,
            count: 0,
            max_ns: 0,
            sum_ns: 0,
        }
    }
}

/// Percentiles of one histogram.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
    pub mean: Duration,
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        write!(
            f,
            "p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs (n = {})",
            us(self.p50),
            us(self.p99),
            us(self.p999),
            us(self.max),
            self.count
        )
    }
}

impl DurationHistogram {
    pub fn record_ns(&mut self, ns: u64) {
        let bin = (ns / BIN_NS) as usize;
        if bin < N_BINS {
            self.bins[bin] += 1;
        } else {
            self.overflow += 1;
        }
        self.count += 1;
        self.max_ns = self.max_ns.max(ns);
        self.sum_ns += ns as u128;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The upper edge of the bin holding quantile `q` (resolution 1 µs);
    /// beyond the histogram's range, the exact maximum.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((self.count as f64 * q).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, n) in self.bins.iter().enumerate() {
            seen += *n as u64;
            if seen >= rank {
                return Duration::from_nanos(((i as u64 + 1) * BIN_NS).min(self.max_ns));
            }
        }
        Duration::from_nanos(self.max_ns)
    }

    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            count: self.count,
            p50: self.quantile(0.5),
            p99: self.quantile(0.99),
            p999: self.quantile(0.999),
            max: Duration::from_nanos(self.max_ns),
            mean: if self.count == 0 {
                Duration::ZERO
            } else {
                Duration::from_nanos((self.sum_ns / self.count as u128) as u64)
            },
        }
    }
}

/// What the loop records every cycle.
#[derive(Debug, Clone, Default)]
pub struct TimingStats {
    /// Wake-up time minus deadline.
    pub period_error: DurationHistogram,
    /// Time spent computing one cycle.
    pub compute: DurationHistogram,
    /// Time spent spinning from the early wake to the deadline (`wake`).
    pub spin: DurationHistogram,
    /// Deadlines missed and skipped (never caught up in a burst).
    pub overruns: u64,
}

/// A snapshot for reports.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TimingSummary {
    pub period_error: Percentiles,
    pub compute: Percentiles,
    /// Spin per cycle; `count` is 0 where the loop does not spin.
    pub spin: Percentiles,
    pub overruns: u64,
}

impl TimingStats {
    pub fn record(&mut self, wake_late_ns: u64, compute_ns: u64) {
        self.period_error.record_ns(wake_late_ns);
        self.compute.record_ns(compute_ns);
    }

    pub fn record_spin(&mut self, spin_ns: u64) {
        self.spin.record_ns(spin_ns);
    }

    pub fn summary(&self) -> TimingSummary {
        TimingSummary {
            period_error: self.period_error.percentiles(),
            compute: self.compute.percentiles(),
            spin: self.spin.percentiles(),
            overruns: self.overruns,
        }
    }
}

impl fmt::Display for TimingSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "period error: {}", self.period_error)?;
        writeln!(f, "compute:      {}", self.compute)?;
        if self.spin.count > 0 {
            writeln!(f, "wake spin:    {}", self.spin)?;
        }
        write!(f, "overruns:     {}", self.overruns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = DurationHistogram::default();
        for us in 1..=1000u64 {
            h.record_ns(us * 1000 - 500);
        }
        let p = h.percentiles();
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50, Duration::from_micros(500));
        assert_eq!(p.p99, Duration::from_micros(990));
        assert_eq!(p.p999, Duration::from_micros(999));
        assert_eq!(p.max, Duration::from_nanos(999_500));
    }

    #[test]
    fn values_beyond_range_still_count_and_set_max() {
        let mut h = DurationHistogram::default();
        h.record_ns(10);
        h.record_ns(50_000_000);
        assert_eq!(h.count(), 2);
        assert_eq!(h.quantile(1.0), Duration::from_millis(50));
        assert_eq!(h.percentiles().max, Duration::from_millis(50));
    }
}
