//! A hundred randomly damaged copies of the shipped MoD weights: each is refused with a message
//! or, when the damage left every tensor as it was (a header edit that changes nothing the model
//! reads), gives exactly the original model's output. Nothing panics; nothing is silently wrong.

use burn::tensor::{Device, Int, Tensor, TensorData};
use modscope::model::{Model, ModelError, RoutingMode, load_weights};
use modscope::runtime::sample::Rng;
use sha2::Digest;

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/www/models/mod.safetensors");

fn logits(model: &Model, device: &Device) -> Vec<f32> {
    let ids: Vec<i64> = (0..48).map(|i| (i * 37) % 2048).collect();
    let input = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, 48]), device);
    let f = pollster::block_on(model.forward(input, RoutingMode::TopK { capacity: 0.125 })).unwrap();
    f.logits.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn header(bytes: &[u8]) -> (usize, serde_json::Value) {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (len, serde_json::from_slice(&bytes[8..8 + len]).unwrap())
}

fn with_header(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let (len, mut h) = header(bytes);
    edit(&mut h);
    let mut json = serde_json::to_vec(&h).unwrap();
    json.resize(json.len().next_multiple_of(8), b' ');
    [&(json.len() as u64).to_le_bytes()[..], &json, &bytes[8 + len..]].concat()
}

/// Overwrites one value with `bits` (f16) and records the new hash, as a diverged run saving
/// its weights would.
fn poisoned(bytes: &[u8], rng: &mut Rng, bits: u16) -> Vec<u8> {
    let (len, _) = header(bytes);
    let mut out = bytes.to_vec();
    let at = 8 + len + 2 * ((rng.next_f64() * ((bytes.len() - 8 - len) / 2) as f64) as usize);
    out[at..at + 2].copy_from_slice(&bits.to_le_bytes());
    let hash: String = sha2::Sha256::digest(&out[8 + len..]).iter().map(|b| format!("{b:02x}")).collect();
    with_header(&out, |h| h["__metadata__"]["modscope_sha256"] = hash.into())
}

fn damage(bytes: &[u8], kind: usize, rng: &mut Rng) -> Vec<u8> {
    let (len, h) = header(bytes);
    let pick = |rng: &mut Rng, n: usize| ((rng.next_f64() * n as f64) as usize).min(n - 1);
    let names: Vec<String> = h.as_object().unwrap().keys().filter(|k| *k != "__metadata__").cloned().collect();
    let mut out = bytes.to_vec();
    match kind {
        0 => out.truncate(pick(rng, bytes.len())),
        1 => out[8 + pick(rng, len)] ^= 1 << pick(rng, 8),
        2 => out[8 + len + pick(rng, bytes.len() - 8 - len)] ^= 1 << pick(rng, 8),
        3 => {
            let at = pick(rng, bytes.len() - 64);
            for b in &mut out[at..at + 1 + pick(rng, 63)] {
                *b = pick(rng, 256) as u8;
            }
        }
        4 => {
            let name = names[pick(rng, names.len())].clone();
            let edit = pick(rng, 5);
            out = with_header(bytes, |h| match edit {
                0 => h[&name]["dtype"] = ["BF16", "F32", "I64", "F64"][pick(rng, 4)].into(),
                1 => h[&name]["shape"][0] = (pick(rng, 4096) + 1).into(),
                2 => h[&name]["data_offsets"][1] = (h[&name]["data_offsets"][1].as_u64().unwrap() + 2).into(),
                3 => h["__metadata__"]["modscope_config"] = r#"{"vocab_size":2048,"d_model":128,"n_heads":4,"n_layers":8,"d_mlp":512,"context":256,"routed_layers":[1,3,5,7],"capacity":0.125,"predictor_width":32}"#.into(),
                _ => h["__metadata__"]["producer"] = "somebody else".into(),
            });
        }
        5 => out = poisoned(bytes, rng, 0x7e00),
        6 => out = poisoned(bytes, rng, 0x7c00),
        _ => out[..8].copy_from_slice(&(u64::MAX - pick(rng, 1 << 20) as u64).to_le_bytes()),
    }
    out
}

#[test]
fn damaged_copies_are_refused_or_harmless() {
    let device = Device::flex();
    let bytes = std::fs::read(SHIPPED).unwrap();
    let original = logits(&load_weights(&bytes, &device).unwrap(), &device);
    let mut rng = Rng::new(2026);
    let (mut refused, mut harmless) = (0, 0);
    for i in 0..100 {
        let kind = i % 8;
        let damaged = damage(&bytes, kind, &mut rng);
        match load_weights(&damaged, &device) {
            Err(ModelError::Weights(msg)) => {
                assert!(!msg.is_empty() && !msg.contains('\n'), "copy {i}: {msg:?}");
                refused += 1;
            }
            Err(other) => panic!("copy {i} (damage {kind}): wrong error kind: {other}"),
            Ok(model) => {
                assert_eq!(logits(&model, &device), original, "copy {i} (damage {kind}) loaded and computes something else");
                harmless += 1;
            }
        }
    }
    eprintln!("100 damaged copies: {refused} refused with a message, {harmless} loaded unchanged, 0 wrong, 0 panics");
    assert!(refused >= 85, "only {refused} refused");
}
