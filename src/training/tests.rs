//! The shipped weights against the model card's report. (The training loop's own test, a run that
//! learns and resumes exactly, is `tests/training_resume.rs`: it needs a process of its own.)

use crate::model::RoutingMode;
use crate::runtime::backend;
use crate::tokenizer;

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

/// The page downloads 8-bit files: they must be the shipped f16 files quantized (not stale), and
/// on the fixed held-out slice they must route and rank next tokens as the f16 models do.
#[test]
fn shipped_int8_files_are_the_f16_files_quantized() {
    use super::corpus;
    use super::evaluate::windows;
    use super::quantization::compare;
    use super::report::CHECK_WINDOWS;
    use crate::model::{load_weights, quantize_int8};

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tok = tokenizer::Tokenizer::from_json(&std::fs::read_to_string(root.join("www/models/tokenizer.json")).unwrap()).unwrap();
    let validation = tok.encode(&corpus::read_book(&root.join("data/austen"), corpus::VALIDATION_BOOK).unwrap());
    let device = backend::cpu();
    for name in ["mod", "dense"] {
        let f16_file = std::fs::read(root.join(format!("www/models/{name}.safetensors"))).unwrap();
        let int8_file = std::fs::read(root.join(format!("www/models/{name}.q8.safetensors"))).unwrap();
        assert!(quantize_int8(&f16_file).unwrap() == int8_file, "{name}.q8.safetensors is stale: run `modscope-train quantize`");
        let (full, small) = (load_weights(&f16_file, &device).unwrap(), load_weights(&int8_file, &device).unwrap());
        let c = compare(&full, &small, &windows(&validation, full.config().context, CHECK_WINDOWS)).unwrap();
        assert!(c.topk_decisions_same.is_none_or(|same| same > 0.995), "{name}: {c:?}");
        assert!(c.predictor_decisions_same.is_none_or(|same| same > 0.995), "{name}: {c:?}");
        assert!(c.top1_same > 0.97 && c.top5_share_four > 0.99, "{name}: {c:?}");
        assert!((c.f16_loss - c.int8_loss).abs() < 0.01, "{name}: {c:?}");
    }
}

/// The passages the page pools are the model card's correlation windows, with its number (not stale).
#[test]
fn shipped_passages_are_the_correlation_windows() {
    use super::corpus;
    use super::report::passages_json;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tok = tokenizer::Tokenizer::from_json(&std::fs::read_to_string(root.join("www/models/tokenizer.json")).unwrap()).unwrap();
    let validation = tok.encode(&corpus::read_book(&root.join("data/austen"), corpus::VALIDATION_BOOK).unwrap());
    let model = crate::model::load_weights(&std::fs::read(root.join("www/models/mod.safetensors")).unwrap(), &backend::cpu()).unwrap();
    let shipped: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root.join("www/models/heldout.json")).unwrap()).unwrap();
    let fresh: serde_json::Value = serde_json::from_str(&passages_json(&model, &validation).unwrap()).unwrap();
    let stale = "www/models/heldout.json is stale: run `modscope-train passages`";
    assert!(shipped["passages"] == fresh["passages"] && shipped["about"] == fresh["about"], "{stale}");
    // r is recomputed from the entropies, whose last digits depend on the CPU kernels' rounding.
    let r = |v: &serde_json::Value| v["model_card_correlation"].as_f64().unwrap();
    assert!((r(&shipped) - r(&fresh)).abs() < 1e-4, "{stale}: r {} vs {}", r(&shipped), r(&fresh));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("docs/report.json")).unwrap()).unwrap();
    let card = report["depth_entropy_correlation"].as_f64().unwrap();
    assert!((r(&shipped) - card).abs() < 1e-4, "the page's r {} but the model card's {card}", r(&shipped));
}
