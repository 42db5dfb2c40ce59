//! Properties of the model that the paper (and its re-implementations' bugs) make matter.

use burn::tensor::{Device, Int, Tensor, TensorData};
use proptest::prelude::*;
use sha2::Digest;

use super::*;
use crate::flops::{Routing, counter, decode_step_flops, forward_flops};

fn tiny(routed: Vec<usize>, capacity: f64) -> ModelConfig {
    ModelConfig {
        vocab_size: 50,
        d_model: 16,
        n_heads: 2,
        n_layers: 4,
        d_mlp: 32,
        context: 64,
        routed_layers: routed,
        capacity,
        predictor_width: 8,
        update_weight: Default::default(),
    }
}

fn device() -> Device {
    Device::flex()
}

fn tokens(rows: &[Vec<u32>]) -> Tensor<2, Int> {
    let t = rows[0].len();
    let flat: Vec<i64> = rows.iter().flatten().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), t]), &device())
}

fn run(model: &Model, rows: &[Vec<u32>], mode: RoutingMode) -> Forward {
    pollster::block_on(model.forward(tokens(rows), mode)).unwrap()
}

fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn traces(f: Forward) -> Vec<RoutingTrace> {
    pollster::block_on(f.trace.read()).unwrap()
}

fn seq(len: usize, seed: u32) -> Vec<u32> {
    (0..len as u32).map(|i| (i.wrapping_mul(7919) ^ seed.wrapping_mul(31)) % 50).collect()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "element {i}: {x} vs {y}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn routed_layers_process_exactly_k_tokens_per_sequence(
        t in 1usize..40, capacity in 0.05f64..=1.0, batch in 1usize..4, seed in 0u32..1000,
    ) {
        let model = Model::new(&tiny(vec![1, 3], 0.125), &device()).unwrap();
        let rows: Vec<Vec<u32>> = (0..batch as u32).map(|b| seq(t, seed + b)).collect();
        for trace in traces(run(&model, &rows, RoutingMode::TopK { capacity })) {
            for layer in &trace.layers {
                let expected = if layer.routed { capacity_k(capacity, t) } else { t };
                prop_assert_eq!(layer.processed_count(), expected);
                if layer.routed {
                    let top: Vec<bool> = layer.rank.iter().map(|&r| r < expected).collect();
                    prop_assert_eq!(&layer.processed, &top);
                }
            }
        }
    }

    #[test]
    fn causal_outputs_never_depend_on_later_tokens(
        t in 2usize..30, cut in 1usize..29, seed in 0u32..1000,
    ) {
        let cut = cut.min(t - 1);
        let model = Model::new(&tiny(vec![1, 3], 0.25), &device()).unwrap();
        let a = seq(t, seed);
        let mut b = a.clone();
        for tok in &mut b[cut..] {
            *tok = (*tok + 17) % 50;
        }
        let la = floats(run(&model, &[a], RoutingMode::Causal).logits.narrow(1, 0, cut));
        let lb = floats(run(&model, &[b], RoutingMode::Causal).logits.narrow(1, 0, cut));
        // Equal up to float noise: a different later token changes the matmul shapes, not the maths.
        let worst = la.iter().zip(&lb).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        prop_assert!(worst < 1e-5, "earlier logits moved by {}", worst);
    }
}

#[test]
fn skipped_tokens_pass_through_bit_for_bit() {
    let model = Model::new(&tiny(vec![1, 3], 0.25), &device()).unwrap();
    let f = run(&model, &[seq(24, 3)], RoutingMode::TopK { capacity: 0.25 });
    let residuals: Vec<Vec<f32>> = f.residuals.iter().map(|r| floats(r.clone())).collect();
    let trace = traces(f).remove(0);
    let d = 16;
    for layer in trace.layers.iter().filter(|l| l.routed) {
        let (before, after) = (&residuals[layer.layer], &residuals[layer.layer + 1]);
        for (i, &processed) in layer.processed.iter().enumerate() {
            let row = i * d..(i + 1) * d;
            let same = before[row.clone()].iter().zip(&after[row]).all(|(a, b)| a.to_bits() == b.to_bits());
            assert_eq!(same, !processed, "layer {} token {i}", layer.layer);
        }
    }
}

#[test]
fn chosen_tokens_are_updated_at_their_true_positions() {
    chosen_tokens_are_updated_at_their_true_positions_with(UpdateWeight::Sigmoid);
}

#[test]
fn raw_update_weight_scales_by_the_router_score_itself() {
    chosen_tokens_are_updated_at_their_true_positions_with(UpdateWeight::Raw);
}

fn chosen_tokens_are_updated_at_their_true_positions_with(update_weight: UpdateWeight) {
    let model = Model::new(&ModelConfig { update_weight, ..tiny(vec![1], 0.25) }, &device()).unwrap();
    let dev = device();
    let f = run(&model, &[seq(20, 5)], RoutingMode::TopK { capacity: 0.25 });
    let (x, out) = (f.residuals[1].clone(), floats(f.residuals[2].clone()));
    let trace = traces(f).remove(0);
    let layer = &trace.layers[1];
    let chosen: Vec<i64> = (0..20).filter(|&i| layer.processed[i]).map(|i| i as i64).collect();
    let k = chosen.len();
    assert_eq!(k, 5);
    for (w, &r) in layer.router_weight.iter().zip(&layer.router_logit) {
        let expected = if update_weight == UpdateWeight::Raw { r } else { 1.0 / (1.0 + (-r).exp()) };
        assert!((w - expected).abs() < 1e-6, "weight {w} for score {r} under {update_weight:?}");
    }
    // The reference: gather by hand, run f at the true positions, scale by the traced weight.
    let expected = |positions: Vec<i64>| {
        let idx = Tensor::<2, Int>::from_data(TensorData::new(chosen.clone(), [1, k]), &dev);
        let pos = Tensor::<2, Int>::from_data(TensorData::new(positions, [1, k]), &dev);
        let x_sel = x.clone().gather(1, idx.reshape([1, k, 1]).expand([1, k, 16]));
        let (delta, _) = model.blocks[1].residual(x_sel.clone(), &pos, &model.rope(&dev), None);
        let w: Vec<f32> = chosen.iter().map(|&i| layer.router_weight[i as usize]).collect();
        let w = Tensor::<1>::from_data(TensorData::new(w, [k]), &dev).reshape([1, k, 1]);
        floats(x_sel + delta * w)
    };
    let got: Vec<f32> = chosen.iter().flat_map(|&i| out[i as usize * 16..(i as usize + 1) * 16].to_vec()).collect();
    assert_close(&got, &expected(chosen.clone()), 1e-5);
    // The classic bug (slots 0..k-1 as positions) gives a measurably different answer.
    let wrong = expected((0..k as i64).collect());
    assert!(got.iter().zip(&wrong).any(|(a, b)| (a - b).abs() > 1e-4));
}

#[test]
fn each_sequence_of_a_batch_routes_on_its_own() {
    let model = Model::new(&tiny(vec![1, 3], 0.125), &device()).unwrap();
    let (a, b) = (seq(32, 1), seq(32, 2));
    let batched = run(&model, &[a.clone(), b.clone()], RoutingMode::TopK { capacity: 0.125 });
    let logits = floats(batched.logits.clone());
    let both = traces(batched);
    for (i, row) in [a, b].into_iter().enumerate() {
        let alone = run(&model, &[row], RoutingMode::TopK { capacity: 0.125 });
        assert_close(&logits[i * 32 * 50..(i + 1) * 32 * 50], &floats(alone.logits.clone()), 1e-5);
        assert_eq!(both[i].processed_counts(), traces(alone)[0].processed_counts());
    }
    assert_ne!(both[0].layers[1].processed, both[1].layers[1].processed);
}

#[test]
fn batched_causal_routing_matches_sequences_run_alone() {
    let model = Model::new(&tiny(vec![1, 3], 0.25), &device()).unwrap();
    let rows = [seq(18, 7), seq(18, 8), seq(18, 9)];
    let batched = floats(run(&model, &rows, RoutingMode::Causal).logits);
    for (i, row) in rows.iter().enumerate() {
        let alone = floats(run(&model, std::slice::from_ref(row), RoutingMode::Causal).logits);
        assert_close(&batched[i * 18 * 50..(i + 1) * 18 * 50], &alone, 1e-5);
    }
}

#[test]
fn incremental_decoding_matches_a_full_causal_forward() {
    let model = Model::new(&tiny(vec![1, 3], 0.25), &device()).unwrap();
    let dev = device();
    let text = seq(30, 11);
    let full = floats(run(&model, &[text.clone()], RoutingMode::Causal).logits);
    // From scratch, one token at a time.
    let mut state = DecodeState::new(&model, &dev);
    for (i, &tok) in text.iter().enumerate() {
        let step = pollster::block_on(model.decode_step(&mut state, tok)).unwrap();
        assert_close(&floats(step.logits), &full[i * 50..(i + 1) * 50], 1e-4);
    }
    // After a prefill of the first half.
    let prefill = run(&model, &[text[..15].to_vec()], RoutingMode::Causal);
    let mut state = DecodeState::from_prefill(&model, &prefill, &dev).unwrap();
    for (i, &tok) in text.iter().enumerate().skip(15) {
        let step = pollster::block_on(model.decode_step(&mut state, tok)).unwrap();
        assert_close(&floats(step.logits), &full[i * 50..(i + 1) * 50], 1e-4);
    }
    assert_eq!(
        pollster::block_on(model.decode_step(&mut DecodeState::from_prefill(&model, &prefill, &dev).unwrap(), 1)).is_ok(),
        true
    );
}

#[test]
fn counted_flops_equal_the_formula() {
    for cfg in [tiny(vec![1, 3], 0.125), tiny(vec![], 0.125), tiny(vec![0, 1, 2, 3], 0.5)] {
        let model = Model::new(&cfg, &device()).unwrap();
        for t in [1, 7, 33, 64] {
            for capacity in [0.125, 0.5, 1.0] {
                let (_, counted) = counter::count(|| run(&model, &[seq(t, 3)], RoutingMode::TopK { capacity }));
                let formula = forward_flops(&cfg, t, &Routing::TopK { capacity });
                assert_eq!(counted, formula.by_call_site(), "t={t} capacity={capacity} routed={:?}", cfg.routed_layers);
            }
            let (f, counted) = counter::count(|| run(&model, &[seq(t, 4)], RoutingMode::Causal));
            let processed = traces(f).remove(0).processed_counts();
            let formula = forward_flops(&cfg, t, &Routing::Processed(processed));
            assert_eq!(counted, formula.by_call_site(), "causal t={t}");
        }
        let dev = device();
        let mut state = DecodeState::new(&model, &dev);
        for tok in seq(10, 5) {
            let (step, counted) = counter::count(|| pollster::block_on(model.decode_step(&mut state, tok)).unwrap());
            assert_eq!(counted, decode_step_flops(&cfg, &step.attended, &step.processed).by_call_site());
        }
    }
}

#[test]
fn empty_and_too_long_inputs_are_errors() {
    let model = Model::new(&tiny(vec![1], 0.5), &device()).unwrap();
    let too_long = pollster::block_on(model.forward(tokens(&[seq(65, 1)]), RoutingMode::Causal));
    assert!(matches!(too_long, Err(ModelError::TooLong { len: 65, context: 64 })));
    let empty = Tensor::<2, Int>::from_data(TensorData::new(Vec::<i64>::new(), [1, 0]), &device());
    assert!(matches!(pollster::block_on(model.forward(empty, RoutingMode::Causal)), Err(ModelError::EmptyInput)));
}

fn rewrite_metadata(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> Vec<u8> {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    edit(header["__metadata__"].as_object_mut().unwrap());
    let mut new_header = serde_json::to_vec(&header).unwrap();
    while new_header.len() % 8 != 0 {
        new_header.push(b' ');
    }
    [&(new_header.len() as u64).to_le_bytes()[..], &new_header, &bytes[8 + len..]].concat()
}

#[test]
fn weights_round_trip_through_f16_safetensors() {
    let model = Model::new(&tiny(vec![1, 3], 0.125), &device()).unwrap();
    let bytes = weights_to_bytes(&model).unwrap();
    let loaded = load_weights(&bytes, &device()).unwrap();
    assert_eq!(loaded.config(), model.config());
    // At capacity 1 every token is processed: f16 rounding can flip a near-tie in top-k (the model
    // is randomly initialised), which would make a routed comparison flaky, not wrong.
    let every_token = RoutingMode::TopK { capacity: 1.0 };
    let a = floats(run(&model, &[seq(20, 1)], every_token).logits);
    let b = floats(run(&loaded, &[seq(20, 1)], every_token).logits);
    assert_close(&a, &b, 0.05);
    // f16 → f32 → f16 loses nothing more: a second round trip is exact.
    let again = load_weights(&weights_to_bytes(&loaded).unwrap(), &device()).unwrap();
    let mode = RoutingMode::TopK { capacity: 0.5 };
    assert_eq!(floats(run(&loaded, &[seq(20, 1)], mode).logits), floats(run(&again, &[seq(20, 1)], mode).logits));
}

/// 8-bit files: about half the bytes, the same config, outputs close to the f16 file's, scales in
/// blocks of 32 rows, the router kept in f16, and damage refused with a message.
#[test]
fn int8_weights_load_close_to_f16_and_are_verified() {
    let config = ModelConfig { d_model: 64, d_mlp: 128, ..tiny(vec![1, 3], 0.25) };
    let model = Model::new(&config, &device()).unwrap();
    let f16_file = weights_to_bytes(&model).unwrap();
    let int8_file = quantize_int8(&f16_file).unwrap();
    assert!(int8_file.len() * 10 < f16_file.len() * 6, "{} vs {} bytes", int8_file.len(), f16_file.len());
    let (full, small) = (load_weights(&f16_file, &device()).unwrap(), load_weights(&int8_file, &device()).unwrap());
    assert_eq!(small.config(), full.config());
    // Every token processed: 8-bit rounding may flip a near-tie in top-k of a random model (the
    // shipped models' routing is compared in `shipped_int8_files_are_the_f16_files_quantized`).
    let every_token = RoutingMode::TopK { capacity: 1.0 };
    let (a, b) = (run(&full, &[seq(20, 1)], every_token), run(&small, &[seq(20, 1)], every_token));
    assert_close(&floats(a.logits), &floats(b.logits), 0.05);

    let len = u64::from_le_bytes(int8_file[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&int8_file[8..8 + len]).unwrap();
    assert_eq!(header["blocks.0.qkv.weight"]["dtype"], "I8");
    assert_eq!(header["blocks.0.qkv.weight.scale"]["shape"], serde_json::json!([2, 192]));
    assert_eq!(header["embed.weight.scale"]["shape"], serde_json::json!([50, 2]));
    assert_eq!(header["blocks.1.router.score.weight"]["dtype"], "F16");

    let scale = "blocks.0.qkv.weight.scale";
    let misfit = rewrite_entry(&int8_file, scale, |e| e["shape"] = serde_json::json!([3, 192]));
    assert!(weights_error(&misfit).contains("divides [64, 192]"), "{}", weights_error(&misfit));
    let unscaled = rewrite_entry(&int8_file, "blocks.1.norm_attn.gamma", |e| e["dtype"] = "I8".into());
    assert!(weights_error(&unscaled).contains("without its scale"), "{}", weights_error(&unscaled));
    assert!(weights_error(&with_nan(&int8_file, scale)).contains("NaN"));
    let mut flipped = int8_file.clone();
    flipped[tensor_bytes(&int8_file, "blocks.0.qkv.weight").start] ^= 0x10;
    assert!(weights_error(&flipped).contains("SHA-256"));
}

fn weights_error(bytes: &[u8]) -> String {
    match load_weights(bytes, &device()) {
        Err(ModelError::Weights(msg)) => msg,
        Err(other) => panic!("wrong error kind: {other}"),
        Ok(_) => panic!("bad file accepted"),
    }
}

/// Rewrites one tensor's header entry.
fn rewrite_entry(bytes: &[u8], name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    edit(&mut header[name]);
    let mut new_header = serde_json::to_vec(&header).unwrap();
    new_header.resize(new_header.len().next_multiple_of(8), b' ');
    [&(new_header.len() as u64).to_le_bytes()[..], &new_header, &bytes[8 + len..]].concat()
}

/// Byte range of a tensor's data in the file.
fn tensor_bytes(bytes: &[u8], name: &str) -> std::ops::Range<usize> {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    let offsets = &header[name]["data_offsets"];
    8 + len + offsets[0].as_u64().unwrap() as usize..8 + len + offsets[1].as_u64().unwrap() as usize
}

/// Writes NaN into a tensor and re-records the hash, as a file written from a diverged run would be.
fn with_nan(bytes: &[u8], name: &str) -> Vec<u8> {
    let mut damaged = bytes.to_vec();
    let range = tensor_bytes(bytes, name);
    damaged[range.start..range.start + 2].copy_from_slice(&0x7e00u16.to_le_bytes());
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let hash: String = sha2::Sha256::digest(&damaged[8 + len..]).iter().map(|b| format!("{b:02x}")).collect();
    rewrite_metadata(&damaged, |m| {
        m.insert("modscope_sha256".into(), hash.into());
    })
}

#[test]
fn bad_weight_files_are_clear_errors() {
    let model = Model::new(&tiny(vec![1, 3], 0.125), &device()).unwrap();
    let bytes = weights_to_bytes(&model).unwrap();
    let err = weights_error;
    assert!(err(&[]).contains("shorter"));
    assert!(err(b"garbage that is not safetensors").contains("header"));
    assert!(err(&[&u64::MAX.to_le_bytes()[..], b"{}"].concat()).contains("header claims"));
    assert!(err(&bytes[..bytes.len() / 2]).contains("truncated"));
    let future = rewrite_metadata(&bytes, |m| {
        m.insert("modscope_format".into(), "99".into());
    });
    assert!(err(&future).contains("version 99"));
    let reshaped = rewrite_metadata(&bytes, |m| {
        let mut cfg = tiny(vec![1, 3], 0.125);
        cfg.d_model = 32;
        m.insert("modscope_config".into(), serde_json::to_string(&cfg).unwrap().into());
    });
    assert!(err(&reshaped).contains("shape"));
    let huge = rewrite_metadata(&bytes, |m| {
        let mut cfg = tiny(vec![1, 3], 0.125);
        cfg.d_model = 1 << 20;
        cfg.n_heads = 1 << 10;
        m.insert("modscope_config".into(), serde_json::to_string(&cfg).unwrap().into());
    });
    assert!(err(&huge).contains("not a modscope model"));
    let unhashed = rewrite_metadata(&bytes, |m| {
        m.remove("modscope_sha256");
    });
    assert!(err(&unhashed).contains("hash"));
}

#[test]
fn weights_are_verified_before_they_reach_burn() {
    let model = Model::new(&tiny(vec![1, 3], 0.125), &device()).unwrap();
    let bytes = weights_to_bytes(&model).unwrap();
    let name = "blocks.1.norm_attn.gamma";
    // A dtype burn would accept and then trip over inside layer_norm.
    let bf16 = rewrite_entry(&bytes, name, |e| e["dtype"] = "BF16".into());
    assert!(weights_error(&bf16).contains("stored as BF16"));
    let transposed = rewrite_entry(&bytes, "blocks.0.up.weight", |e| e["shape"] = serde_json::json!([32, 16]));
    assert!(weights_error(&transposed).contains("shape [32, 16]"));
    let renamed = rewrite_entry(&bytes, name, |e| *e = serde_json::Value::Null);
    assert!(weights_error(&renamed).contains(name));
    let mut flipped = bytes.clone();
    let range = tensor_bytes(&bytes, name);
    flipped[range.start] ^= 0x10;
    assert!(weights_error(&flipped).contains("SHA-256"));
    assert!(weights_error(&with_nan(&bytes, name)).contains("NaN"));
    let overlapping = rewrite_entry(&bytes, name, |e| e["data_offsets"] = serde_json::json!([0, 32]));
    assert!(weights_error(&overlapping).contains("overlapping"), "{}", weights_error(&overlapping));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random damage — truncation, a flipped bit anywhere, a run of garbage — is either refused
    /// with a message or harmless (a header edit that leaves every tensor as it was).
    #[test]
    fn damaged_weight_files_never_load_wrong_and_never_panic(
        kind in 0..3usize, at in 0.0..1.0f64, bit in 0..8u8, garbage in proptest::collection::vec(any::<u8>(), 1..64), int8 in any::<bool>(),
    ) {
        let model = Model::new(&tiny(vec![1, 3], 0.125), &device()).unwrap();
        let bytes = weights_to_bytes(&model).unwrap();
        let bytes = if int8 { quantize_int8(&bytes).unwrap() } else { bytes };
        // Files hold f16 or 8 bits: "harmless" means the same output as the undamaged file, not as `model`.
        let reference = load_weights(&bytes, &device()).unwrap();
        let i = ((bytes.len() - 1) as f64 * at) as usize;
        let damaged = match kind {
            0 => bytes[..i].to_vec(),
            1 => { let mut b = bytes.clone(); b[i] ^= 1 << bit; b }
            _ => { let mut b = bytes.clone(); let end = (i + garbage.len()).min(b.len()); b[i..end].copy_from_slice(&garbage[..end - i]); b }
        };
        match load_weights(&damaged, &device()) {
            Err(ModelError::Weights(_)) => {}
            Err(other) => prop_assert!(false, "wrong error kind: {other}"),
            Ok(loaded) => {
                let rows = [seq(12, 3)];
                let mode = RoutingMode::TopK { capacity: 0.25 };
                prop_assert_eq!(floats(run(&reference, &rows, mode).logits), floats(run(&loaded, &rows, mode).logits));
            }
        }
    }
}

/// Zero router weights give every token the same score: the tie rule (earlier position wins)
/// must decide, the same way in the kernel, the trace's ranks and the predictor's agreement.
#[test]
fn top_k_ties_go_to_the_earliest_positions() {
    // Row 1: two clear winners, then a three-way tie for the last place; row 2: a four-way tie.
    let scores = Tensor::<2>::from_data(TensorData::new(vec![5f32, 1., 1., 5., 1., 0., 3., 3., 3., 3.], [2, 5]), &device());
    let s = routing::select_top_k(&scores, 3);
    assert_eq!(s.indices.into_data().convert::<i64>().try_to_vec::<i64>().unwrap(), vec![0, 1, 3, 1, 2, 3]);
    assert_eq!(floats(s.member), vec![1., 1., 0., 1., 0., 0., 1., 1., 1., 0.]);

    let mut model = Model::new(&tiny(vec![1, 3], 0.25), &device()).unwrap();
    for block in &mut model.blocks {
        if let Some(router) = block.router.as_mut() {
            router.score.weight = router.score.weight.clone().map(|w| w.zeros_like());
        }
    }
    let trace = traces(run(&model, &[seq(16, 5)], RoutingMode::TopK { capacity: 0.25 })).remove(0);
    for layer in trace.layers.iter().filter(|l| l.routed) {
        let expected: Vec<bool> = (0..16).map(|i| i < 4).collect();
        assert_eq!(layer.processed, expected, "layer {}", layer.layer);
        assert_eq!(layer.rank, (0..16).collect::<Vec<_>>(), "layer {}", layer.layer);
    }
    let agreement = trace.predictor_agreement().unwrap();
    let by_hand = trace.layers.iter().filter(|l| l.routed).flat_map(|l| (0..16).map(|i| (l.predictor_prob[i] > 0.5) == l.processed[i])).filter(|&a| a).count();
    assert_eq!(agreement, by_hand as f64 / 32.0);
}

#[cfg(feature = "train")]
#[test]
fn gradients_reach_the_router() {
    let dev = device().autodiff();
    let model = Model::new(&tiny(vec![1, 3], 0.25), &dev).unwrap();
    let ids: Vec<i64> = seq(16, 2).iter().map(|&i| i as i64).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, 16]), &dev);
    let f = pollster::block_on(model.forward(input, RoutingMode::TopK { capacity: 0.25 })).unwrap();
    let grads = f.logits.powi_scalar(2).mean().backward();
    for l in [1, 3] {
        let router = model.blocks[l].router.as_ref().unwrap();
        let g = router.score.weight.grad(&grads).expect("router weight has a gradient");
        assert!(floats(g).iter().any(|v| v.abs() > 0.0), "layer {l}");
    }
}

#[test]
fn parameter_shapes_are_read_without_initialising_the_model() {
    use burn::store::ModuleSnapshot;
    let cfg = tiny(vec![1, 3], 0.125);
    let model = Model::new(&cfg, &device()).unwrap();
    let lazy = super::weights::shapes_of(&model);
    assert!(!model.embed.weight.is_initialized() && !model.blocks[1].qkv.weight.is_initialized());
    let collected: std::collections::BTreeMap<String, Vec<usize>> = Model::new(&cfg, &device())
        .unwrap()
        .collect(None, None, false)
        .into_iter()
        .map(|t| (t.name.clone(), t.shape.to_vec()))
        .collect();
    assert_eq!(lazy, collected);
}

/// A digest the caller computed (the browser's SubtleCrypto) is checked like one computed here.
#[test]
fn a_callers_digest_is_verified_like_our_own() {
    let model = Model::new(&tiny(vec![1], 0.5), &device()).unwrap();
    let bytes = weights_to_bytes(&model).unwrap();
    let start = tensor_bytes_start(&bytes).unwrap();
    let digest: [u8; 32] = sha2::Sha256::digest(&bytes[start..]).into();
    let loaded = load_weights_with_digest(&bytes, &digest, &device()).unwrap();
    let mode = RoutingMode::TopK { capacity: 0.5 };
    assert_eq!(floats(run(&loaded, &[seq(12, 3)], mode).logits), floats(run(&load_weights(&bytes, &device()).unwrap(), &[seq(12, 3)], mode).logits));
    let mut wrong = digest;
    wrong[0] ^= 1;
    let refused = load_weights_with_digest(&bytes, &wrong, &device()).err().expect("a wrong digest is refused");
    assert!(refused.to_string().contains("do not match the file's SHA-256"), "{refused}");
    // The digest covers the tensor bytes only, so a damaged header is still caught by its checks.
    assert!(tensor_bytes_start(&bytes[..4]).is_err());
}
