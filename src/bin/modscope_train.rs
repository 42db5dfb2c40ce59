//! `modscope-train`: trains the tokenizer and the two shipped models, and writes the report the
//! model card is built from.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use modscope::flops::training_step_flops;
use modscope::model::{ModelConfig, UpdateWeight, load_weights};
use modscope::runtime::backend;
use modscope::tokenizer::{self, Tokenizer};
use modscope::training::{TrainConfig, corpus, quantization, report, train};

#[derive(Parser)]
#[command(name = "modscope-train", about = "Train modscope's tokenizer and models")]
struct Cli {
    /// Where the corpus lives (data/austen/*.txt.gz).
    #[arg(long, default_value = "data/austen", global = true)]
    corpus: PathBuf,
    #[arg(long, default_value = "www/models/tokenizer.json", global = true)]
    tokenizer: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Learn the byte-level BPE from the training books.
    Tokenizer {
        #[arg(long, default_value_t = 2048)]
        vocab: usize,
    },
    /// Train one model. Both models get the same training FLOPs when given the same budget.
    Train {
        #[arg(long, value_enum)]
        model: Kind,
        /// Total training FLOPs (forward + backward, by the model's own accounting).
        #[arg(long, required_unless_present = "steps")]
        flops_budget: Option<f64>,
        /// A fixed number of steps instead of a budget (for probing speed).
        #[arg(long, conflicts_with = "flops_budget")]
        steps: Option<usize>,
        /// Model width (heads of 32, MLP 4× as wide); the shipped models are 160 wide.
        #[arg(long, default_value_t = 160)]
        d_model: usize,
        /// What scales a routed block's output: σ(r) or the paper's raw r (MoD only).
        #[arg(long, value_enum, default_value_t = WeightArg::Sigmoid)]
        update_weight: WeightArg,
        /// Which blocks route (MoD only): every other one after a dense first (the paper's best
        /// setting), or every block after the first.
        #[arg(long, value_enum, default_value_t = RoutedArg::Alternate)]
        routed: RoutedArg,
        /// Fraction of the sequence a routed block processes (MoD only).
        #[arg(long, default_value_t = 0.125)]
        capacity: f64,
        /// Seeds the initial weights and the order of the training windows.
        #[arg(long, default_value_t = 2024)]
        seed: u64,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        #[arg(long, default_value_t = 1e-3)]
        learning_rate: f64,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// Run directory: log.csv, checkpoint/ (resumed automatically), model.safetensors.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 100)]
        eval_every: usize,
    },
    /// Measure the shipped pair and the isoFLOP sweep; write the model card's numbers and plots.
    Report {
        /// The shipped weights.
        #[arg(long, default_value = "www/models")]
        models: PathBuf,
        /// The shipped runs' logs and progress; the sweep's logs are archived under sweep/ here.
        #[arg(long, default_value = "docs/training")]
        logs: PathBuf,
        /// The runs of scripts/isoflop_sweep.sh.
        #[arg(long, default_value = "runs/isoflop")]
        sweep: PathBuf,
        #[arg(long, default_value = "docs")]
        out: PathBuf,
    },
    /// Write the held-out passages the page pools (`heldout.json`: the model card's depth–entropy
    /// correlation windows, as token ids).
    Passages {
        #[arg(long, default_value = "www/models")]
        models: PathBuf,
    },
    /// Write the 8-bit files the page downloads (`<name>.q8.safetensors` beside the shipped f16
    /// ones) and compare them with the f16 models on the whole held-out book.
    Quantize {
        #[arg(long, default_value = "www/models")]
        models: PathBuf,
        /// Where the comparison (`quantization.json`) goes.
        #[arg(long, default_value = "docs")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Mod,
    Dense,
}

#[derive(Clone, Copy, ValueEnum)]
enum WeightArg {
    Sigmoid,
    Raw,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoutedArg {
    Alternate,
    All,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Cpu,
    Vulkan,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("modscope-train: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load_tokenizer(path: &Path) -> Result<Tokenizer, String> {
    let json = std::fs::read_to_string(path).map_err(|e| format!("{}: {e} (run `modscope-train tokenizer`)", path.display()))?;
    Tokenizer::from_json(&json).map_err(|e| e.to_string())
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Tokenizer { vocab } => {
            let c = corpus::load(&cli.corpus)?;
            let tok = tokenizer::train(&c.train, vocab).map_err(|e| e.to_string())?;
            if let Some(dir) = cli.tokenizer.parent() {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            }
            std::fs::write(&cli.tokenizer, tok.to_json()).map_err(|e| e.to_string())?;
            let (train_ids, val_ids) = (tok.encode(&c.train), tok.encode(&c.validation));
            println!(
                "vocab {}: {} training tokens ({:.2} chars/token), {} validation tokens",
                tok.vocab_size(),
                train_ids.len(),
                c.train.len() as f64 / train_ids.len() as f64,
                val_ids.len()
            );
            Ok(())
        }
        Command::Train { model, d_model, update_weight, routed, capacity, seed, flops_budget, steps, batch, learning_rate, device, out, eval_every } => {
            let tok = load_tokenizer(&cli.tokenizer)?;
            let c = corpus::load(&cli.corpus)?;
            let update_weight = match update_weight {
                WeightArg::Sigmoid => UpdateWeight::Sigmoid,
                WeightArg::Raw => UpdateWeight::Raw,
            };
            let default = ModelConfig::mod_default(tok.vocab_size()).with_width(d_model);
            let routed_layers = match routed {
                RoutedArg::Alternate => default.routed_layers.clone(),
                RoutedArg::All => (1..default.n_layers).collect(),
            };
            let base = ModelConfig { update_weight, routed_layers, capacity, ..default };
            base.validate().map_err(|e| e.to_string())?;
            let cfg = match model {
                Kind::Mod => base,
                Kind::Dense => base.dense_twin(),
            };
            let step_flops = (batch as u64 * training_step_flops(&cfg, cfg.context)) as f64;
            let steps = match (steps, flops_budget) {
                (Some(n), _) => n,
                (None, Some(budget)) => (budget / step_flops).floor() as usize,
                (None, None) => unreachable!("clap requires one of them"),
            };
            if steps < 10 {
                return Err(format!("{steps} steps of {step_flops:e} FLOPs is too short a run"));
            }
            let train_cfg = TrainConfig {
                batch_size: batch,
                learning_rate,
                min_learning_rate: learning_rate / 10.0,
                warmup_steps: (steps / 20).max(1),
                steps,
                weight_decay: 0.1,
                grad_clip: 1.0,
                seed,
                eval_every,
                eval_windows: 64,
                checkpoint_every: eval_every,
            };
            println!("training {steps} steps of {step_flops:e} FLOPs; config {}", serde_json::to_string(&cfg).unwrap_or_default());
            let device = match device {
                DeviceArg::Cpu => backend::cpu(),
                #[cfg(feature = "gpu")]
                DeviceArg::Vulkan => backend::vulkan(),
                #[cfg(not(feature = "gpu"))]
                DeviceArg::Vulkan => return Err("this build has no GPU support: rebuild with --features gpu".into()),
            };
            let (train_ids, val_ids) = (tok.encode(&c.train), tok.encode(&c.validation));
            std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
            std::fs::write(out.join("train_config.json"), serde_json::to_string_pretty(&train_cfg).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            train(&cfg, &train_cfg, &train_ids, &val_ids, &device, &out, true, None)?;
            Ok(())
        }
        Command::Report { models, logs, sweep, out } => {
            let tok = load_tokenizer(&cli.tokenizer)?;
            let c = corpus::load(&cli.corpus)?;
            report::write(&tok, &c, &report::Paths { models, logs, sweep, out })
        }
        Command::Passages { models } => {
            let tok = load_tokenizer(&cli.tokenizer)?;
            let c = corpus::load(&cli.corpus)?;
            let weights = models.join("mod.safetensors");
            let bytes = std::fs::read(&weights).map_err(|e| format!("{}: {e}", weights.display()))?;
            let model = load_weights(&bytes, &backend::cpu()).map_err(|e| format!("{}: {e}", weights.display()))?;
            std::fs::write(models.join("heldout.json"), report::passages_json(&model, &tok.encode(&c.validation))?).map_err(|e| e.to_string())
        }
        Command::Quantize { models, out } => {
            let tok = load_tokenizer(&cli.tokenizer)?;
            let c = corpus::load(&cli.corpus)?;
            let comparisons = quantization::quantize_and_compare(&models, &tok.encode(&c.validation))?;
            for q in &comparisons {
                let percent = |x: Option<f64>| x.map_or("–".into(), |x| format!("{:.2}%", 100.0 * x));
                println!(
                    "{}: {} → {} bytes; over {} positions: top-k decisions same {}, predictor decisions same {}, top-1 same {:.2}%, top-5 set same {:.2}% (4 of 5 shared {:.2}%), loss {:.4} → {:.4}",
                    q.model, q.f16_bytes, q.int8_bytes, q.tokens, percent(q.topk_decisions_same), percent(q.predictor_decisions_same),
                    100.0 * q.top1_same, 100.0 * q.top5_same, 100.0 * q.top5_share_four, q.f16_loss, q.int8_loss
                );
            }
            let json = serde_json::to_string_pretty(&comparisons).map_err(|e| e.to_string())?;
            std::fs::write(out.join("quantization.json"), json + "\n").map_err(|e| e.to_string())
        }
    }
}
