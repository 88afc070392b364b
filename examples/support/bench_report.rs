//! How the bench examples print and time: one figure per line (JSON with
//! `--json`), medians of per-operation samples.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Prints figures as text or as JSON lines.
pub struct Report {
    /// One `{"metric": ..., "value": ..., "unit": ...}` line per figure.
    pub json: bool,
}

impl Report {
    /// A number with its unit.
    pub fn metric(&self, metric: &str, value: f64, unit: &str) {
        if self.json {
            println!("{{\"metric\": \"{metric}\", \"value\": {value:.3}, \"unit\": \"{unit}\"}}");
        } else {
            println!("  {metric:<40} {value:>14.2} {unit}");
        }
    }

    /// A text figure.
    pub fn text(&self, metric: &str, value: &str) {
        if self.json {
            println!("{{\"metric\": \"{metric}\", \"value\": \"{value}\", \"unit\": \"\"}}");
        } else {
            println!("  {metric:<40} {value:>14}");
        }
    }

    /// A heading (text output only).
    pub fn section(&self, title: &str) {
        if !self.json {
            println!("\n{title}");
        }
    }
}

/// The median of `samples` (sorted in place).
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// A duration in microseconds.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Times `op` once per item; returns (operations per second, median µs).
pub fn timed<T>(items: &[T], mut op: impl FnMut(&T)) -> (f64, f64) {
    let mut samples = Vec::with_capacity(items.len());
    let started = Instant::now();
    for item in items {
        let t = Instant::now();
        op(item);
        samples.push(t.elapsed());
    }
    let total = started.elapsed();
    (items.len() as f64 / total.as_secs_f64(), micros(median(&mut samples)))
}
