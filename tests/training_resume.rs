//! A tiny training run: the loss goes down, and a paused run resumes to the same state, bit for
//! bit. Its own test binary (so its own process): burn's CPU backend seeds one process-wide
//! generator, and model tests running beside it in the library's test binary would draw from it
//! between a run's seeding and its initialisation.
#![cfg(feature = "train")]

use burn::tensor::{Int, Tensor, TensorData};
use modscope::model::{ModelConfig, RoutingMode};
use modscope::runtime::backend;
use modscope::tokenizer;
use modscope::training::{TrainConfig, train};

const TEXT: &str = "It is a truth universally acknowledged, that a single man in possession of a good \
fortune, must be in want of a wife. However little known the feelings or views of such a man may be \
on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding \
families, that he is considered the rightful property of some one or other of their daughters. ";

fn setup() -> (ModelConfig, TrainConfig, Vec<u32>) {
    let corpus = TEXT.repeat(8);
    let tok = tokenizer::train(&corpus, 300).unwrap();
    let model = ModelConfig {
        vocab_size: 300,
        d_model: 32,
        n_heads: 2,
        n_layers: 2,
        d_mlp: 64,
        context: 32,
        routed_layers: vec![1],
        capacity: 0.25,
        predictor_width: 8,
        update_weight: Default::default(),
    };
    let train_cfg = TrainConfig {
        batch_size: 4,
        learning_rate: 3e-3,
        min_learning_rate: 3e-4,
        warmup_steps: 2,
        steps: 24,
        weight_decay: 0.1,
        grad_clip: 1.0,
        seed: 1,
        eval_every: 8,
        eval_windows: 4,
        checkpoint_every: 8,
    };
    (model, train_cfg, tok.encode(&corpus))
}

fn logits(dir: &std::path::Path, tokens: &[u32], cfg: &ModelConfig) -> Vec<f32> {
    use burn::store::{BurnpackStore, ModuleSnapshot};
    let device = backend::cpu();
    let mut model = modscope::model::Model::new(cfg, &device).unwrap();
    model.load_from(&mut BurnpackStore::from_file(dir.join("checkpoint/model.bpk"))).unwrap();
    let ids: Vec<i64> = tokens[..16].iter().map(|&t| t as i64).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, 16]), &device);
    let f = pollster::block_on(model.forward(input, RoutingMode::TopK { capacity: 0.25 })).unwrap();
    f.logits.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn validation_losses(dir: &std::path::Path) -> Vec<f64> {
    std::fs::read_to_string(dir.join("log.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_tiny_run_learns_and_resumes_to_the_same_state() {
    let (model_cfg, train_cfg, tokens) = setup();
    let device = backend::cpu();
    let root = std::env::temp_dir().join(format!("modscope-train-test-{}", std::process::id()));
    let (straight, paused) = (root.join("straight"), root.join("paused"));
    let _ = std::fs::remove_dir_all(&root);

    train(&model_cfg, &train_cfg, &tokens, &tokens, &device, &straight, false, None).unwrap();
    let losses = validation_losses(&straight);
    assert!(losses.last().unwrap() < &(losses[0] - 0.3), "loss did not go down: {losses:?}");

    train(&model_cfg, &train_cfg, &tokens, &tokens, &device, &paused, false, Some(12)).unwrap();
    assert!(!paused.join("model.safetensors").exists(), "a paused run is not finished");
    train(&model_cfg, &train_cfg, &tokens, &tokens, &device, &paused, false, None).unwrap();
    let (a, b) = (logits(&straight, &tokens, &model_cfg), logits(&paused, &tokens, &model_cfg));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst == 0.0, "resumed run diverged by up to {worst}");
    assert_eq!(validation_losses(&straight), validation_losses(&paused));
    let _ = std::fs::remove_dir_all(&root);
}
