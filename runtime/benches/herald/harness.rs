//! A small benchmark harness: warm-up, then samples of a fixed batch, median and spread.
//! Every row of one run is measured in the same process, so rows compare as ratios.

use std::hint::black_box;
use std::time::{Duration, Instant};

pub struct Row {
    pub group: &'static str,
    pub name: String,
    pub median_ns: f64,
    pub low_ns: f64,
    pub high_ns: f64,
}

pub struct Harness {
    pub rows: Vec<Row>,
    filter: Option<String>,
    quick: bool,
}

impl Harness {
    pub fn from_args() -> Harness {
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with("--"))
            .collect();
        let quick = std::env::args().any(|a| a == "--quick")
            || std::env::var_os("HERALD_BENCH_QUICK").is_some();
        Harness {
            rows: Vec::new(),
            filter: args.into_iter().next(),
            quick,
        }
    }

    pub fn wants(&self, group: &str, name: &str) -> bool {
        self.filter
            .as_deref()
            .is_none_or(|f| group.contains(f) || name.contains(f))
    }

    fn sample_plan(&self) -> (Duration, usize, Duration) {
        if self.quick {
            (Duration::from_millis(20), 5, Duration::from_millis(10))
        } else {
            (Duration::from_millis(300), 21, Duration::from_millis(60))
        }
    }

    /// Measures `f`, one call per operation.
    pub fn bench(&mut self, group: &'static str, name: impl Into<String>, mut f: impl FnMut()) {
        self.bench_batched(group, name, 1, move |n| {
            for _ in 0..n {
                f();
            }
        });
    }

    /// Measures `f(n)`, which performs `n * ops_per_unit` operations.
    pub fn bench_batched(
        &mut self,
        group: &'static str,
        name: impl Into<String>,
        ops_per_unit: u64,
        mut f: impl FnMut(u64),
    ) {
        let name = name.into();
        if !self.wants(group, &name) {
            return;
        }
        let (warm, samples, per_sample) = self.sample_plan();
        let n = calibrate(&mut f, warm, per_sample);
        let mut per_op: Vec<f64> = (0..samples)
            .map(|_| {
                let t = Instant::now();
                f(black_box(n));
                t.elapsed().as_nanos() as f64 / (n * ops_per_unit) as f64
            })
            .collect();
        self.record(group, name, &mut per_op);
    }

    /// Measures several rows side by side: their samples alternate, so a change in the
    /// machine's speed during the run moves every row alike and their ratios hold.
    /// Each row's `f(n)` performs `n` operations.
    pub fn bench_side_by_side(
        &mut self,
        group: &'static str,
        rows: &mut [(&'static str, &mut dyn FnMut(u64))],
    ) {
        if !rows.iter().any(|(name, _)| self.wants(group, name)) {
            return;
        }
        let (warm, samples, per_sample) = self.sample_plan();
        let warm_each = warm / rows.len() as u32;
        let batches: Vec<u64> = rows
            .iter_mut()
            .map(|(_, f)| calibrate(&mut **f, warm_each, per_sample))
            .collect();
        let mut per_op = vec![Vec::with_capacity(samples); rows.len()];
        for _ in 0..samples {
            for ((_, f), (&n, out)) in rows.iter_mut().zip(batches.iter().zip(&mut per_op)) {
                let t = Instant::now();
                f(black_box(n));
                out.push(t.elapsed().as_nanos() as f64 / n as f64);
            }
        }
        for ((name, _), mut samples) in rows.iter().zip(per_op) {
            self.record(group, *name, &mut samples);
        }
    }

    /// Records a row measured by hand (throughput runs).
    pub fn record(&mut self, group: &'static str, name: impl Into<String>, samples: &mut [f64]) {
        let name = name.into();
        samples.sort_by(f64::total_cmp);
        let row = Row {
            group,
            name,
            median_ns: samples[samples.len() / 2],
            low_ns: samples[samples.len() / 4],
            high_ns: samples[samples.len() * 3 / 4],
        };
        eprintln!(
            "  {:<58} {:>10.1} ns/op  [{:.1} .. {:.1}]",
            format!("{}/{}", row.group, row.name),
            row.median_ns,
            row.low_ns,
            row.high_ns
        );
        self.rows.push(row);
    }

    pub fn quick(&self) -> bool {
        self.quick
    }

    pub fn get(&self, group: &str, name: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.group == group && r.name == name)
            .map(|r| r.median_ns)
    }

    pub fn print_table(&self) {
        println!();
        println!("| group | benchmark | median ns/op | interquartile range |");
        println!("| --- | --- | ---: | --- |");
        for r in &self.rows {
            println!(
                "| {} | {} | {:.1} | {:.1} .. {:.1} |",
                r.group, r.name, r.median_ns, r.low_ns, r.high_ns
            );
        }
    }
}

/// Warms `f` up for `warm` and returns how many calls take about `per_sample`.
fn calibrate(f: &mut dyn FnMut(u64), warm: Duration, per_sample: Duration) -> u64 {
    let mut n: u64 = 1;
    let start = Instant::now();
    loop {
        let t = Instant::now();
        f(black_box(n));
        let took = t.elapsed();
        if took >= per_sample / 4 || n >= 1 << 30 {
            if start.elapsed() >= warm {
                let scale = per_sample.as_secs_f64() / took.as_secs_f64().max(1e-9);
                return ((n as f64) * scale).max(1.0) as u64;
            }
        } else {
            n *= 2;
        }
    }
}
