//! A tiny training run: the loss goes down, and a paused run resumes to the same state.

use burn::tensor::{Int, Tensor, TensorData};

use super::{TrainConfig, train};
use crate::model::{ModelConfig, RoutingMode};
use crate::runtime::backend;
use crate::tokenizer;

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
    let mut model = crate::model::Model::new(cfg, &device).unwrap();
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

/// The shipped weights still give the validation loss the model card reports (catches stale
/// weights or a drifted evaluation).
#[test]
fn shipped_weights_reproduce_the_model_card_losses() {
    use super::corpus;
    use super::evaluate::{evaluate, windows};
    use super::report::CHECK_WINDOWS;
    use crate::model::load_weights;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("docs/report.json")).unwrap()).unwrap();
    let tok = tokenizer::Tokenizer::from_json(&std::fs::read_to_string(root.join("www/models/tokenizer.json")).unwrap()).unwrap();
    let validation = corpus::read_book(&root.join("data/austen"), corpus::VALIDATION_BOOK).unwrap();
    let device = backend::cpu();
    for name in ["mod", "dense"] {
        let model = load_weights(&std::fs::read(root.join(format!("www/models/{name}.safetensors"))).unwrap(), &device).unwrap();
        let slice = windows(&tok.encode(&validation), model.config().context, CHECK_WINDOWS);
        let mode = RoutingMode::TopK { capacity: model.config().capacity };
        let loss = evaluate(&model, &slice, 8, mode, &device).unwrap().loss;
        let card = report["models"][name]["check_slice_loss"].as_f64().unwrap();
        assert!((loss - card).abs() < 1e-3, "{name}: validation loss {loss} but the model card says {card}");
    }
}

/// The shipped pair's row of the isoFLOP study: its loss on the whole held-out book.
#[test]
fn shipped_weights_reproduce_their_isoflop_row() {
    use super::corpus;
    use super::evaluate::{evaluate, windows};
    use crate::model::load_weights;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("docs/report.json")).unwrap()).unwrap();
    let tok = tokenizer::Tokenizer::from_json(&std::fs::read_to_string(root.join("www/models/tokenizer.json")).unwrap()).unwrap();
    let validation = tok.encode(&corpus::read_book(&root.join("data/austen"), corpus::VALIDATION_BOOK).unwrap());
    let device = backend::cpu();
    for name in ["mod", "dense"] {
        let row = report["sweep"].as_array().unwrap().iter().find(|r| r["source"] == "shipped" && r["model"] == name).unwrap();
        let model = load_weights(&std::fs::read(root.join(format!("www/models/{name}.safetensors"))).unwrap(), &device).unwrap();
        let book = windows(&validation, model.config().context, usize::MAX);
        let mode = RoutingMode::TopK { capacity: model.config().capacity };
        let loss = evaluate(&model, &book, 16, mode, &device).unwrap().loss;
        let card = row["heldout_loss"].as_f64().unwrap();
        assert!((loss - card).abs() < 1e-3, "{name}: whole-book loss {loss} but the isoFLOP row says {card}");
        assert_eq!(row["training_flops"], report["models"][name]["training_flops"]);
    }
}
