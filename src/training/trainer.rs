//! The training loop: AdamW, warmup then cosine decay, gradient clipping, checkpoints that resume
//! to the same state, and a CSV log of losses against training FLOPs.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::evaluate::{batch_tensors, binary_cross_entropy, cross_entropy, evaluate, windows};
use crate::flops::training_step_flops;
use crate::model::{Model, ModelConfig, RoutingMode, save_weights};
use crate::runtime::sample::Rng;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    pub batch_size: usize,
    pub learning_rate: f64,
    pub min_learning_rate: f64,
    pub warmup_steps: usize,
    pub steps: usize,
    pub weight_decay: f32,
    /// Global gradient-norm clip (router weights are unnormalised; this keeps them finite).
    pub grad_clip: f32,
    pub seed: u64,
    pub eval_every: usize,
    /// Held-out windows (from the start of the validation text) per evaluation.
    pub eval_windows: usize,
    pub checkpoint_every: usize,
}

impl TrainConfig {
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.learning_rate * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let progress = (step - self.warmup_steps) as f64 / (self.steps - self.warmup_steps).max(1) as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos());
        self.min_learning_rate + (self.learning_rate - self.min_learning_rate) * cosine
    }
}

/// What a checkpoint remembers besides weights and optimiser moments.
#[derive(Serialize, Deserialize)]
struct Progress {
    step: usize,
    training_flops: f64,
    config: TrainConfig,
    model: ModelConfig,
}

/// Random training windows for a step: a pure function of (seed, step), so a resumed run sees
/// exactly the batches an uninterrupted one would.
pub fn training_windows(tokens: &[u32], t: usize, batch: usize, seed: u64, step: usize) -> Vec<Vec<u32>> {
    let mut rng = Rng::new(seed ^ (step as u64).wrapping_mul(0x9E37_79B9));
    let span = tokens.len() - t - 1;
    (0..batch)
        .map(|_| {
            let start = (rng.next_f64() * span as f64) as usize;
            tokens[start..start + t + 1].to_vec()
        })
        .collect()
}

fn save_checkpoint(dir: &Path, model: &Model, optim: &burn::optim::ModuleOptimizer, progress: &Progress) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let tmp = dir.with_extension("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    // Burnpack keeps parameter ids, which the optimiser's moments are keyed by.
    model.save_into(&mut BurnpackStore::from_file(tmp.join("model.bpk")).overwrite(true)).map_err(|e| format!("{e:?}"))?;
    optim.save(tmp.join("optim.bpk")).map_err(|e| format!("{e:?}"))?;
    std::fs::write(tmp.join("progress.json"), serde_json::to_string_pretty(progress).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    // Swap in whole so a crash mid-save never leaves a half-written checkpoint.
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir).map_err(|e| e.to_string())
}

/// Trains (or resumes) a model in `out`, writing `out/log.csv`, `out/checkpoint/` and, at the
/// end, `out/model.safetensors` (f16). `pause_at` stops early after checkpointing (a later call
/// resumes). Returns the model as it stands.
#[allow(clippy::too_many_arguments)]
pub fn train(
    model_cfg: &ModelConfig,
    cfg: &TrainConfig,
    train_tokens: &[u32],
    val_tokens: &[u32],
    device: &Device,
    out: &Path,
    show_progress: bool,
    pause_at: Option<usize>,
) -> Result<Model, String> {
    let t = model_cfg.context;
    if train_tokens.len() <= t + 1 {
        return Err(format!("training text has {} tokens; need more than {}", train_tokens.len(), t + 1));
    }
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let ad = device.clone().autodiff();
    let checkpoint = out.join("checkpoint");
    let mut optim = AdamWConfig::new()
        .with_weight_decay(cfg.weight_decay)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(cfg.grad_clip)))
        .init();
    let (mut model, mut step, mut training_flops) = if checkpoint.join("progress.json").exists() {
        let progress: Progress = serde_json::from_slice(&std::fs::read(checkpoint.join("progress.json")).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        if &progress.config != cfg {
            return Err(format!("{} was made with another training config; remove it to start over", checkpoint.display()));
        }
        if &progress.model != model_cfg {
            return Err(format!("{} holds another model config; remove it to start over", checkpoint.display()));
        }
        let mut model = Model::new(model_cfg, &ad).map_err(|e| e.to_string())?;
        model.load_from(&mut BurnpackStore::from_file(checkpoint.join("model.bpk"))).map_err(|e| format!("{e:?}"))?;
        optim = optim.load(checkpoint.join("optim.bpk")).map_err(|e| format!("{e:?}"))?;
        (model, progress.step, progress.training_flops)
    } else {
        // Seeded, so the same configs always start from the same weights.
        ad.seed(cfg.seed);
        (Model::new(model_cfg, &ad).map_err(|e| e.to_string())?, 0, 0.0)
    };
    let log_path = out.join("log.csv");
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(|e| e.to_string())?;
    if step == 0 {
        log.set_len(0).map_err(|e| e.to_string())?;
        writeln!(log, "step,tokens,training_flops,train_loss,val_loss,predictor_loss,learning_rate,seconds").map_err(|e| e.to_string())?;
    }
    let val = windows(val_tokens, t, cfg.eval_windows);
    let step_flops = (cfg.batch_size as u64 * training_step_flops(model_cfg, t)) as f64;
    let bar = indicatif::ProgressBar::new(cfg.steps as u64);
    if show_progress {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ETA {eta}").map_err(|e| e.to_string())?,
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_position(step as u64);
    let started = Instant::now();
    let first_step = step;
    while step < cfg.steps {
        let lr = cfg.learning_rate_at(step);
        let (input, target) = batch_tensors(&training_windows(train_tokens, t, cfg.batch_size, cfg.seed, step), &ad);
        let f = pollster::block_on(model.forward(input, RoutingMode::TopK { capacity: model_cfg.capacity })).map_err(|e| e.to_string())?;
        let lm = cross_entropy(f.logits, target);
        let n_routed = f.predictor_targets.len();
        let mut loss = lm.clone();
        let mut predictor_loss = None;
        for (logits, member) in f.predictor_targets {
            let l = binary_cross_entropy(logits, member) / n_routed as f64;
            predictor_loss = Some(predictor_loss.map_or(l.clone(), |p: burn::tensor::Tensor<1>| p + l.clone()));
            loss = loss + l;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
        step += 1;
        training_flops += step_flops;
        let recent_loss = lm.into_scalar::<f32>() as f64;
        let recent_pred = predictor_loss.map_or(f64::NAN, |p| p.into_scalar::<f32>() as f64);
        let seconds = started.elapsed().as_secs_f64();
        bar.set_position(step as u64);
        bar.set_message(format!(
            "loss {recent_loss:.3} pred {recent_pred:.3} lr {lr:.1e} {:.0} tok/s",
            ((step - first_step) * cfg.batch_size * t) as f64 / seconds.max(1e-9)
        ));
        let last = step == cfg.steps;
        if step % cfg.eval_every == 0 || last {
            let eval = evaluate(&model.valid(), &val, cfg.batch_size, RoutingMode::TopK { capacity: model_cfg.capacity }, &ad.clone().inner())
                .map_err(|e| e.to_string())?;
            writeln!(
                log,
                "{step},{},{training_flops:e},{recent_loss:.5},{:.5},{recent_pred:.5},{lr:e},{seconds:.1}",
                step * cfg.batch_size * t,
                eval.loss
            )
            .map_err(|e| e.to_string())?;
            bar.println(format!("step {step}: train {recent_loss:.4}, validation {:.4} at {training_flops:.3e} FLOPs", eval.loss));
        }
        let pause = pause_at == Some(step);
        if step % cfg.checkpoint_every == 0 || last || pause {
            save_checkpoint(&checkpoint, &model, &optim, &Progress { step, training_flops, config: cfg.clone(), model: model_cfg.clone() })?;
        }
        if pause {
            return Ok(model.valid());
        }
    }
    bar.finish();
    let model = model.valid();
    save_weights(&model, &out.join("model.safetensors")).map_err(|e| e.to_string())?;
    Ok(model)
}
