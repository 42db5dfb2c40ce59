//! Forward pass of the MoD model against its dense twin on the CPU backend (burn Flex), for
//! T in {128, 512, 1024}. Prints, after criterion's own report, the measured time ratio beside the
//! FLOPs ratio from the same run.
//!
//! The shipped model's context is 256, so this uses its shape with a 1024-token context and
//! random weights: the work done per forward pass does not depend on the weights' values.

use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};
use criterion::{Criterion, criterion_group};
use modscope::flops::{Routing, forward_flops};
use modscope::model::{Model, ModelConfig, RoutingMode};

const LENGTHS: [usize; 3] = [128, 512, 1024];

fn models() -> (Model, Model, Device) {
    let device = Device::flex();
    let cfg = ModelConfig { context: 1024, ..ModelConfig::mod_default(2048) };
    let routed = Model::new(&cfg, &device).expect("valid config");
    let dense = Model::new(&cfg.dense_twin(), &device).expect("valid config");
    (routed, dense, device)
}

fn input(t: usize, device: &Device) -> Tensor<2, Int> {
    let ids: Vec<i64> = (0..t as i64).map(|i| (i * 7919) % 2048).collect();
    Tensor::from_data(TensorData::new(ids, [1, t]), device)
}

/// One forward pass, waited for by reading the logits back.
fn forward(model: &Model, tokens: &Tensor<2, Int>) {
    let f = pollster::block_on(model.forward(tokens.clone(), RoutingMode::TopK { capacity: 0.125 })).expect("forward");
    f.logits.into_data();
}

fn bench(c: &mut Criterion) {
    let (routed, dense, device) = models();
    let mut group = c.benchmark_group("forward");
    group.sample_size(10);
    for t in LENGTHS {
        let tokens = input(t, &device);
        group.bench_function(format!("mod/{t}"), |b| b.iter(|| forward(&routed, &tokens)));
        group.bench_function(format!("dense/{t}"), |b| b.iter(|| forward(&dense, &tokens)));
    }
    group.finish();
}

/// Interleaved paired timing, so both models see the same machine state.
fn ratios() {
    let (routed, dense, device) = models();
    println!("\nT      MoD ms   dense ms  time ratio  FLOPs ratio  time/FLOPs");
    for t in LENGTHS {
        let tokens = input(t, &device);
        forward(&routed, &tokens);
        forward(&dense, &tokens);
        let (mut mod_s, mut dense_s) = (0.0, 0.0);
        let rounds = if t >= 1024 { 6 } else { 12 };
        for _ in 0..rounds {
            let s = Instant::now();
            forward(&routed, &tokens);
            mod_s += s.elapsed().as_secs_f64();
            let s = Instant::now();
            forward(&dense, &tokens);
            dense_s += s.elapsed().as_secs_f64();
        }
        let routing = Routing::TopK { capacity: 0.125 };
        let flops = forward_flops(routed.config(), t, &routing).total() as f64 / forward_flops(dense.config(), t, &routing).total() as f64;
        let time = mod_s / dense_s;
        println!(
            "{t:<6} {:>7.2} {:>9.2} {time:>11.3} {flops:>12.3} {:>11.3}",
            mod_s * 1e3 / rounds as f64,
            dense_s * 1e3 / rounds as f64,
            time / flops
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratios();
}
