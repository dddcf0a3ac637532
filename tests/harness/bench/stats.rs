//! Pure statistics for the benchmark: percentiles, medians, replacement
//! latencies, ratios to the references and a least-squares slope.
use std::time::{Duration, Instant};

use serde::Serialize;

/// p50, p99 and max of a set of latencies, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub count: usize,
}

/// The nearest-rank percentile `p` (0 < p <= 100) of `sorted` (ascending).
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub fn summarize(latencies: &[Duration]) -> Option<Summary> {
    let mut seconds: Vec<f64> = latencies.iter().map(Duration::as_secs_f64).collect();
    seconds.sort_by(f64::total_cmp);
    Some(Summary {
        p50: percentile(&seconds, 50.0)?,
        p99: percentile(&seconds, 99.0)?,
        max: *seconds.last()?,
        count: seconds.len(),
    })
}

/// Pairs failures with the replacements created after them, first come first
/// served, and returns each pair's latency. A replacement created before any
/// unpaired failure was seen (the watch can show it first) counts as zero.
pub fn replacement_latencies(failures: &[Instant], creations: &[Instant]) -> Vec<Duration> {
    let mut failures = failures.to_vec();
    let mut creations = creations.to_vec();
    failures.sort();
    creations.sort();
    failures.iter().zip(&creations).map(|(failed, created)| created.saturating_duration_since(*failed)).collect()
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
    }
}

/// The least-squares slope of y over x of `points` (x, y); None without two distinct x.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let (mean_x, mean_y) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let spread: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    (spread > 0.0).then(|| points.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum::<f64>() / spread)
}

/// `value / reference`, when both exist and the reference is not zero.
pub fn ratio(value: Option<f64>, reference: Option<f64>) -> Option<f64> {
    match (value, reference) {
        (Some(v), Some(r)) if r > 0.0 => Some(v / r),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(50.0));
        assert_eq!(percentile(&values, 99.0), Some(99.0));
        assert_eq!(percentile(&values, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[1.0, 2.0], 50.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn a_summary_of_unsorted_latencies() {
        let ms = |v: u64| Duration::from_millis(v);
        let s = summarize(&[ms(300), ms(100), ms(200)]).unwrap();
        assert_eq!((s.p50, s.p99, s.max, s.count), (0.2, 0.3, 0.3, 3));
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn failures_pair_with_replacements_in_order() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let latencies = replacement_latencies(&[at(0), at(1000)], &[at(1100), at(50)]);
        assert_eq!(latencies, vec![Duration::from_millis(50), Duration::from_millis(100)]);
        // An unanswered failure has no latency; an early replacement counts as zero.
        assert_eq!(replacement_latencies(&[at(10), at(20)], &[at(5)]), vec![Duration::ZERO]);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn a_slope_through_points() {
        assert_eq!(slope(&[(1.0, 3.0), (2.0, 5.0), (4.0, 9.0)]), Some(2.0));
        assert_eq!(slope(&[(1.0, 3.0), (1.0, 5.0)]), None);
        assert_eq!(slope(&[]), None);
    }

    #[test]
    fn ratios_need_both_figures() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(None, Some(2.0)), None);
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
    }
}
