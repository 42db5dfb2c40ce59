//! `modscope`: the model from the command line. Every FLOPs figure comes with the config it used.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use modscope::flops::{FlopsBreakdown, Routing, Term, forward_flops};
use modscope::model::{Model, ModelConfig, RoutingMode, load_weights};
use modscope::runtime::backend;
use modscope::runtime::figure::heatmap_svg;
use modscope::runtime::generate::Generator;
use modscope::runtime::sample::Rng;
use modscope::runtime::session::{analyse, monotonic_ms, window};
use modscope::tokenizer::{Piece, Tokenizer};

#[derive(Parser)]
#[command(name = "modscope", version, about = "Watch a Mixture-of-Depths transformer route its tokens")]
struct Cli {
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// FLOPs of one forward pass, MoD against its dense twin, per layer and per term.
    Flops {
        /// A config JSON file; the shipped MoD shape when omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value_t = 256)]
        tokens: usize,
        /// Overrides the config's capacity.
        #[arg(long, allow_negative_numbers = true)]
        capacity: Option<f64>,
    },
    /// Which tokens each routed block processes, for a text.
    Route {
        #[command(flatten)]
        input: Input,
        #[command(flatten)]
        assets: Assets,
        #[arg(long, value_enum, default_value_t = Mode::Topk)]
        mode: Mode,
        /// Fraction of tokens each routed block takes, in (0, 1]; the model's own when omitted.
        #[arg(long, allow_negative_numbers = true)]
        capacity: Option<f64>,
        /// Draw a coloured heatmap instead of a table.
        #[arg(long)]
        heatmap: bool,
        /// Also write the heatmap as an SVG figure (the page's "Download SVG") to this file.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Continue a text with the MoD model (KV cache, causal routing).
    Generate {
        #[command(flatten)]
        input: Input,
        #[command(flatten)]
        assets: Assets,
        #[arg(long, default_value_t = 60)]
        max_tokens: usize,
        /// 0 is greedy.
        #[arg(long, default_value_t = 0.8, allow_negative_numbers = true)]
        temperature: f32,
        #[arg(long, default_value_t = 40)]
        top_k: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Time the forward pass of the MoD model and its dense twin on the CPU.
    Bench {
        #[command(flatten)]
        assets: Assets,
        #[arg(long, default_value_t = 256)]
        tokens: usize,
        #[arg(long, default_value_t = 10)]
        iterations: usize,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
    },
}

#[derive(clap::Args)]
struct Input {
    /// The text (any UTF-8). Longer than the context: the last `context` tokens are used.
    #[arg(long, conflicts_with = "file")]
    text: Option<String>,
    /// Read the text from a file.
    #[arg(long)]
    file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct Assets {
    #[arg(long, default_value = "www/models/mod.safetensors")]
    weights: PathBuf,
    #[arg(long, default_value = "www/models/dense.safetensors")]
    dense_weights: PathBuf,
    #[arg(long, default_value = "www/models/tokenizer.json")]
    tokenizer: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Cpu,
    /// wgpu on Vulkan (builds with the `gpu` feature).
    Vulkan,
}

impl DeviceArg {
    fn device(self) -> Result<burn::tensor::Device, Failure> {
        match self {
            DeviceArg::Cpu => Ok(backend::cpu()),
            #[cfg(feature = "gpu")]
            DeviceArg::Vulkan => Ok(backend::vulkan()),
            #[cfg(not(feature = "gpu"))]
            DeviceArg::Vulkan => Err("this build has no GPU support: rebuild with --features gpu".into()),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Topk,
    Causal,
}

type Failure = String;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("modscope: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn load_model(path: &PathBuf) -> Result<Model, Failure> {
    load_model_on(path, &backend::cpu())
}

fn load_model_on(path: &PathBuf, device: &burn::tensor::Device) -> Result<Model, Failure> {
    load_weights(&read(path)?, device).map_err(|e| format!("{}: {e}", path.display()))
}

fn load_tokenizer(path: &PathBuf) -> Result<Tokenizer, Failure> {
    let json = String::from_utf8(read(path)?).map_err(|_| format!("{}: not UTF-8", path.display()))?;
    Tokenizer::from_json(&json).map_err(|e| format!("{}: {e}", path.display()))
}

impl Input {
    fn text(&self) -> Result<String, Failure> {
        match (&self.text, &self.file) {
            (Some(t), _) => Ok(t.clone()),
            (None, Some(path)) => String::from_utf8(read(path)?).map_err(|_| format!("{}: not UTF-8 text", path.display())),
            (None, None) => Err("give the text with --text or --file".into()),
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    println!("{}", serde_json::to_string_pretty(value).map_err(|e| e.to_string())?);
    Ok(())
}

/// `--capacity` as the model defines it: a fraction in (0, 1].
fn check_capacity(capacity: Option<f64>) -> Result<(), Failure> {
    match capacity {
        Some(c) if !(c.is_finite() && c > 0.0 && c <= 1.0) => Err(format!("--capacity must be in (0, 1], got {c}")),
        _ => Ok(()),
    }
}

fn check_positive(flag: &str, value: usize) -> Result<(), Failure> {
    if value == 0 { Err(format!("{flag} must be at least 1")) } else { Ok(()) }
}

/// Refuses nonsense numbers before any file is read, with one line naming the flag.
fn validate(command: &Command) -> Result<(), Failure> {
    match command {
        Command::Flops { tokens, capacity, .. } => {
            check_positive("--tokens", *tokens)?;
            check_capacity(*capacity)
        }
        Command::Route { capacity, .. } => check_capacity(*capacity),
        Command::Generate { max_tokens, temperature, .. } => {
            check_positive("--max-tokens", *max_tokens)?;
            if !(temperature.is_finite() && *temperature >= 0.0) {
                return Err(format!("--temperature must be 0 (greedy) or positive, got {temperature}"));
            }
            Ok(())
        }
        Command::Bench { tokens, iterations, .. } => {
            check_positive("--tokens", *tokens)?;
            check_positive("--iterations", *iterations)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    validate(&cli.command)?;
    match cli.command {
        Command::Flops { config, tokens, capacity } => flops(config, tokens, capacity, cli.json),
        Command::Route { input, assets, mode, capacity, heatmap, svg } => route(&input, &assets, mode, capacity, heatmap, svg.as_deref(), cli.json),
        Command::Generate { input, assets, max_tokens, temperature, top_k, seed } => {
            generate(&input, &assets, max_tokens, temperature, top_k, seed, cli.json)
        }
        Command::Bench { assets, tokens, iterations, device } => bench(&assets, tokens, iterations, device, cli.json),
    }
}

fn flops(config: Option<PathBuf>, tokens: usize, capacity: Option<f64>, json: bool) -> Result<(), Failure> {
    let mut cfg = match config {
        Some(path) => {
            serde_json::from_slice::<ModelConfig>(&read(&path)?).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => ModelConfig::mod_default(2048),
    };
    if let Some(c) = capacity {
        cfg.capacity = c;
    }
    cfg.validate().map_err(|e| e.to_string())?;
    let routing = Routing::TopK { capacity: cfg.capacity };
    let mod_flops = forward_flops(&cfg, tokens, &routing);
    let dense = forward_flops(&cfg.dense_twin(), tokens, &routing);
    if json {
        return print_json(&serde_json::json!({ "config": cfg, "tokens": tokens, "mod": mod_flops, "dense": dense,
            "ratio": mod_flops.total() as f64 / dense.total() as f64 }));
    }
    println!("config: {}", serde_json::to_string(&cfg).map_err(|e| e.to_string())?);
    print_flops_table(&mod_flops, &dense);
    Ok(())
}

fn print_flops_table(m: &FlopsBreakdown, d: &FlopsBreakdown) {
    println!("{:>5} {:>6} {:>6} {:>14} {:>14}", "layer", "routed", "tokens", "MoD FLOPs", "dense FLOPs");
    for (lm, ld) in m.layers.iter().zip(&d.layers) {
        println!("{:>5} {:>6} {:>6} {:>14} {:>14}", lm.layer, lm.routed, lm.tokens_processed, lm.total(), ld.total());
    }
    println!("{:>5} {:>6} {:>6} {:>14} {:>14}", "head", "", "", m.lm_head, d.lm_head);
    for term in Term::ALL {
        println!("{:>20} {:>14} {:>14}", term.label(), m.term(term), d.term(term));
    }
    println!(
        "total: MoD {} vs dense {} FLOPs ({:.1}% of dense, {:.1}% saved; embeddings, norms, softmax and top-k not counted)",
        m.total(),
        d.total(),
        100.0 * m.total() as f64 / d.total() as f64,
        100.0 * (1.0 - m.total() as f64 / d.total() as f64)
    );
}

fn route(input: &Input, assets: &Assets, mode: Mode, capacity: Option<f64>, heatmap: bool, svg: Option<&Path>, json: bool) -> Result<(), Failure> {
    let text = input.text()?;
    let tokenizer = load_tokenizer(&assets.tokenizer)?;
    let model = load_model(&assets.weights)?;
    let cfg = model.config().clone();
    let win = window(&tokenizer, &text, cfg.context);
    if win.tokens.is_empty() {
        return Err("the text is empty: nothing to route".into());
    }
    let mode = match mode {
        Mode::Topk => RoutingMode::TopK { capacity: capacity.unwrap_or(cfg.capacity) },
        Mode::Causal => RoutingMode::Causal,
    };
    let device = backend::cpu();
    let a = pollster::block_on(analyse(&model, &win.tokens, mode, &device, &monotonic_ms)).map_err(|e| e.to_string())?;
    let dense = forward_flops(&cfg.dense_twin(), win.tokens.len(), &Routing::TopK { capacity: 1.0 });
    let pieces: Vec<String> = win.tokens.iter().map(|&t| tokenizer.token_text(t)).collect();
    if let Some(path) = svg {
        let labels: Vec<String> = tokenizer.pieces(&win.tokens).iter().map(Piece::label).collect();
        std::fs::write(path, heatmap_svg(&a.trace, &labels)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if json {
        return print_json(&serde_json::json!({ "config": cfg, "tokens": pieces, "dropped_tokens": win.dropped,
            "trace": a.trace, "entropy": a.entropy, "flops": a.flops, "dense_flops": dense,
            "predictor_agreement": a.trace.predictor_agreement(), "stages": a.stages }));
    }
    if win.dropped > 0 {
        println!("(text longer than the context: the first {} tokens were dropped)", win.dropped);
    }
    println!("config: {}", serde_json::to_string(&cfg).map_err(|e| e.to_string())?);
    if heatmap {
        for layer in &a.trace.layers {
            let mut line = format!("L{:<2}{} ", layer.layer, if layer.routed { 'r' } else { ' ' });
            for (i, piece) in pieces.iter().enumerate() {
                let shown: String = piece.chars().map(|c| if c.is_control() { '·' } else { c }).collect();
                // Blue (processed, brighter = larger router weight) vs grey (skipped): colour-blind safe.
                let colour = match (layer.processed[i], layer.routed) {
                    (true, false) => "48;5;24".to_string(),
                    (true, true) => format!("48;5;{}", 25 + (layer.router_score[i] * 5.0).round() as u8),
                    (false, _) => "48;5;236".to_string(),
                };
                line.push_str(&format!("\x1b[{colour}m{shown}\x1b[0m"));
            }
            println!("{line}");
        }
    } else {
        println!("{:>4} {:>16} {:>5} {}", "pos", "token", "depth", "routed layers: processed? (router weight, rank, predictor p)");
        let depth = a.trace.depth();
        for (i, piece) in pieces.iter().enumerate() {
            let cells: Vec<String> = a
                .trace
                .layers
                .iter()
                .filter(|l| l.routed)
                .map(|l| {
                    format!("L{}:{}({:.2},{},{:.2})", l.layer, if l.processed[i] { "■" } else { "·" }, l.router_weight[i], l.rank[i], l.predictor_prob[i])
                })
                .collect();
            println!("{:>4} {:>16} {:>5} {}", i, format!("{piece:?}"), depth[i], cells.join(" "));
        }
    }
    if let Some(agree) = a.trace.predictor_agreement() {
        println!("predictor agrees with top-k on {:.1}% of routed decisions", 100.0 * agree);
    }
    print_flops_table(&a.flops, &dense);
    Ok(())
}

fn generate(input: &Input, assets: &Assets, max_tokens: usize, temperature: f32, top_k: usize, seed: u64, json: bool) -> Result<(), Failure> {
    let text = input.text()?;
    let tokenizer = load_tokenizer(&assets.tokenizer)?;
    let model = load_model(&assets.weights)?;
    let device = backend::cpu();
    let context = model.config().context;
    // Keep the end of a long prompt, leaving room in the context for what we generate.
    let win = window(&tokenizer, &text, context.saturating_sub(max_tokens.min(context / 2)).max(1));
    if win.tokens.is_empty() {
        return Err("the prompt is empty: give at least one character".into());
    }
    let started = Instant::now();
    let mut generator = pollster::block_on(Generator::new(&model, &win.tokens, &device)).map_err(|e| e.to_string())?;
    let mut rng = Rng::new(seed);
    let (mut out, mut blocks) = (Vec::new(), 0usize);
    while out.len() < max_tokens {
        let Some((token, step)) = pollster::block_on(generator.next(temperature, top_k, &mut rng)).map_err(|e| e.to_string())? else {
            break;
        };
        out.push(token);
        blocks += step.processed.iter().filter(|&&p| p).count();
        if !json {
            use std::io::Write;
            print!("{}", tokenizer.token_text(token));
            std::io::stdout().flush().ok();
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let per_token = blocks as f64 / out.len().max(1) as f64;
    if json {
        return print_json(&serde_json::json!({ "config": model.config(), "prompt_tokens": win.tokens.len(),
            "dropped_tokens": win.dropped, "generated": tokenizer.decode(&out), "tokens": out.len(),
            "tokens_per_second": out.len() as f64 / seconds, "mean_blocks_per_token": per_token }));
    }
    println!();
    eprintln!(
        "{} tokens in {seconds:.2}s ({:.1} tokens/s, prefill included); {per_token:.2} of {} blocks processed each token on average",
        out.len(),
        out.len() as f64 / seconds,
        model.config().n_layers
    );
    Ok(())
}

fn bench(assets: &Assets, tokens: usize, iterations: usize, device: DeviceArg, json: bool) -> Result<(), Failure> {
    let device = device.device()?;
    let mod_model = load_model_on(&assets.weights, &device)?;
    let dense_model = load_model_on(&assets.dense_weights, &device)?;
    let (t, context) = (tokens, mod_model.config().context);
    if t > context {
        return Err(format!("--tokens {t} is longer than the model's context of {context}"));
    }
    let ids: Vec<i64> = (0..t as i64).map(|i| (i * 7919) % mod_model.config().vocab_size as i64).collect();
    let input = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(burn::tensor::TensorData::new(ids, [1, t]), &device);
    let time = |model: &Model| -> Result<f64, Failure> {
        let once = || -> Result<(), Failure> {
            let f = pollster::block_on(model.forward(input.clone(), RoutingMode::TopK { capacity: model.config().capacity }))
                .map_err(|e| e.to_string())?;
            f.logits.into_data();
            Ok(())
        };
        // Warm-up: kernel compilation and autotuning happen on the first calls of each shape.
        for _ in 0..3 {
            once()?;
        }
        let start = Instant::now();
        for _ in 0..iterations.max(1) {
            once()?;
        }
        Ok(start.elapsed().as_secs_f64() * 1e3 / iterations.max(1) as f64)
    };
    let (mod_ms, dense_ms) = (time(&mod_model)?, time(&dense_model)?);
    let routing = Routing::TopK { capacity: mod_model.config().capacity };
    let flops_ratio = forward_flops(mod_model.config(), t, &routing).total() as f64
        / forward_flops(dense_model.config(), t, &routing).total() as f64;
    if json {
        return print_json(&serde_json::json!({ "config": mod_model.config(), "tokens": t, "mod_ms": mod_ms,
            "dense_ms": dense_ms, "time_ratio": mod_ms / dense_ms, "flops_ratio": flops_ratio }));
    }
    println!("config: {}", serde_json::to_string(mod_model.config()).map_err(|e| e.to_string())?);
    println!("device: {device:?}");
    println!("T={t}: MoD {mod_ms:.2} ms, dense {dense_ms:.2} ms; time ratio {:.3}, FLOPs ratio {flops_ratio:.3}", mod_ms / dense_ms);
    Ok(())
}
