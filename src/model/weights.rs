//! Weights on disk: safetensors (readable from PyTorch, numpy, candle), f16 on disk, f32 in
//! memory, with the config, a format version and a SHA-256 of the tensor bytes in the file's
//! metadata.
//!
//! A file is verified before any of it reaches burn: the header must list exactly the tensors
//! the config's model has, each with its shape, as F16 or F32, laid out end to end; the tensor
//! bytes must hash to the recorded digest; every value must be finite. Anything else is a
//! [`ModelError::Weights`] that says what is wrong, never a panic and never a silently wrong model.

use std::collections::{BTreeMap, HashMap};

use burn::store::{HalfPrecisionAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use sha2::{Digest, Sha256};

use super::{Model, ModelConfig, ModelError};

/// Bumped whenever the tensor layout or the meaning of a metadata field changes.
/// 2: the tensor bytes' SHA-256 is recorded and checked.
pub const FORMAT_VERSION: &str = "2";
const FORMAT_KEY: &str = "modscope_format";
const CONFIG_KEY: &str = "modscope_config";
const HASH_KEY: &str = "modscope_sha256";

/// A safetensors header: tensor name (and `__metadata__`) → entry.
type Header = serde_json::Map<String, serde_json::Value>;

fn weights_error(e: impl std::fmt::Display) -> ModelError {
    ModelError::Weights(e.to_string())
}

/// Serialises the model (f16 tensors) with its config and the hash of its tensor bytes.
pub fn weights_to_bytes(model: &Model) -> Result<Vec<u8>, ModelError> {
    let config = serde_json::to_string(model.config()).map_err(weights_error)?;
    let mut store = SafetensorsStore::from_bytes(None)
        .metadata(FORMAT_KEY, FORMAT_VERSION)
        .metadata(CONFIG_KEY, config)
        .with_to_adapter(HalfPrecisionAdapter::new());
    model.save_into(&mut store).map_err(weights_error)?;
    seal(&store.get_bytes().map_err(weights_error)?)
}

pub fn save_weights(model: &Model, path: &std::path::Path) -> Result<(), ModelError> {
    std::fs::write(path, weights_to_bytes(model)?).map_err(|e| weights_error(format!("{}: {e}", path.display())))
}

/// Hex SHA-256 of the tensor bytes (everything after the header).
fn content_hash(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits a safetensors file into its header JSON and its tensor bytes.
fn split(bytes: &[u8]) -> Result<(Header, &[u8]), ModelError> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| weights_error("file is shorter than a safetensors header"))?;
    let claimed = u64::from_le_bytes(len_bytes);
    let len = usize::try_from(claimed)
        .ok()
        .filter(|len| len.checked_add(8).is_some_and(|end| end <= bytes.len()))
        .ok_or_else(|| weights_error(format!("header claims {claimed} bytes but the file is {} bytes", bytes.len())))?;
    let (header, data) = bytes[8..].split_at(len);
    let header: serde_json::Value = serde_json::from_slice(header).map_err(|e| weights_error(format!("header is not JSON: {e}")))?;
    let serde_json::Value::Object(header) = header else {
        return Err(weights_error("header is not a JSON object"));
    };
    Ok((header, data))
}

/// Adds the tensor bytes' hash to a safetensors file's metadata.
fn seal(bytes: &[u8]) -> Result<Vec<u8>, ModelError> {
    let (mut header, data) = split(bytes)?;
    let metadata = header
        .entry("__metadata__")
        .or_insert_with(|| serde_json::Value::Object(Default::default()))
        .as_object_mut()
        .ok_or_else(|| weights_error("__metadata__ is not an object"))?;
    metadata.insert(HASH_KEY.into(), content_hash(data).into());
    let mut json = serde_json::to_vec(&header).map_err(weights_error)?;
    // The format pads the header with spaces so the tensor bytes start 8-byte aligned.
    json.resize(json.len().next_multiple_of(8), b' ');
    Ok([&(json.len() as u64).to_le_bytes()[..], &json, data].concat())
}

/// A tensor as the header describes it.
#[derive(serde::Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// The config a weights file carries, read from its header alone (the tensors are verified when
/// the file is loaded).
pub fn config_of(bytes: &[u8]) -> Result<ModelConfig, ModelError> {
    let (mut header, _) = split(bytes)?;
    Ok(metadata_and_config(&mut header)?.1)
}

/// Takes the metadata out of the header and checks what it says: the format version, and a config
/// that is valid and of a sane size.
fn metadata_and_config(header: &mut Header) -> Result<(HashMap<String, String>, ModelConfig), ModelError> {
    let metadata: HashMap<String, String> = header
        .remove("__metadata__")
        .ok_or_else(|| weights_error("no __metadata__: not a modscope weights file"))
        .and_then(|m| serde_json::from_value(m).map_err(|e| weights_error(format!("bad __metadata__: {e}"))))?;
    match metadata.get(FORMAT_KEY).map(String::as_str) {
        Some(FORMAT_VERSION) => {}
        Some(other) => {
            return Err(weights_error(format!("format version {other}, this build reads version {FORMAT_VERSION}")));
        }
        None => return Err(weights_error("no format version: not a modscope weights file")),
    }
    let config: ModelConfig = metadata
        .get(CONFIG_KEY)
        .ok_or_else(|| weights_error("no config in the metadata"))
        .and_then(|c| serde_json::from_str(c).map_err(|e| weights_error(format!("bad config: {e}"))))?;
    config.validate().map_err(weights_error)?;
    check_config_size(&config)?;
    Ok((metadata, config))
}

/// Checks the tensors against the model that will receive them (`expected`: name → shape) before
/// any of their bytes reach burn: names, dtypes, shapes, layout, hash, finiteness. Returns whether
/// they are stored as f16 (else f32).
fn verify_tensors(header: Header, data: &[u8], metadata: &HashMap<String, String>, expected: &BTreeMap<String, Vec<usize>>) -> Result<bool, ModelError> {
    let mut entries = BTreeMap::new();
    for (name, value) in header {
        let entry: Entry = serde_json::from_value(value).map_err(|e| weights_error(format!("tensor {name}: bad header entry: {e}")))?;
        entries.insert(name, entry);
    }
    if let Some(name) = expected.keys().find(|n| !entries.contains_key(*n)) {
        return Err(weights_error(format!("tensor {name} is missing")));
    }
    if let Some(name) = entries.keys().find(|n| !expected.contains_key(*n)) {
        return Err(weights_error(format!("unexpected tensor {name}: the file does not match its config")));
    }
    let half = entries.values().next().is_some_and(|e| e.dtype == "F16");
    let mut layout: Vec<(usize, usize, &str)> = Vec::with_capacity(entries.len());
    for (name, entry) in &entries {
        let width = match entry.dtype.as_str() {
            "F16" => 2,
            "F32" => 4,
            other => return Err(weights_error(format!("tensor {name} is stored as {other}; this build reads F16 or F32"))),
        };
        if (entry.dtype == "F16") != half {
            return Err(weights_error("tensors mix F16 and F32; a modscope file uses one"));
        }
        if entry.shape != expected[name] {
            return Err(weights_error(format!("tensor {name} has shape {:?}, the config needs {:?}", entry.shape, expected[name])));
        }
        let [start, end] = entry.data_offsets;
        let size = entry.shape.iter().product::<usize>() * width;
        if end.checked_sub(start) != Some(size) {
            return Err(weights_error(format!("tensor {name} spans bytes {start}..{end}, its shape needs {size}")));
        }
        layout.push((start, end, name));
    }
    layout.sort_unstable();
    let mut cursor = 0;
    for &(start, end, name) in &layout {
        if start != cursor {
            return Err(weights_error(format!("tensor {name} starts at byte {start}, expected {cursor}: overlapping or gapped data")));
        }
        cursor = end;
    }
    if cursor != data.len() {
        return Err(weights_error(format!("the header describes {cursor} bytes of tensors, the file holds {}: truncated or padded", data.len())));
    }
    match metadata.get(HASH_KEY) {
        Some(hash) if *hash == content_hash(data) => {}
        Some(_) => return Err(weights_error("the tensor bytes do not match the file's SHA-256: the file is damaged")),
        None => return Err(weights_error("no content hash in the metadata")),
    }
    for &(start, end, name) in &layout {
        if let Some(i) = first_non_finite(&data[start..end], half) {
            return Err(weights_error(format!("tensor {name} holds a NaN or infinite value at element {i}")));
        }
    }
    Ok(half)
}

/// Refuses configs whose model would be absurdly large before anything is allocated (a damaged
/// config could otherwise ask for terabytes).
fn check_config_size(config: &ModelConfig) -> Result<(), ModelError> {
    const MAX_PARAMETERS: u128 = 1 << 30;
    let (d, h, v) = (config.d_model as u128, config.d_mlp as u128, config.vocab_size as u128);
    let per_layer = 4 * d * d + 2 * d * h + config.predictor_width as u128 * d;
    let total = config.n_layers as u128 * per_layer + 2 * v * d;
    if total > MAX_PARAMETERS || config.context > 1 << 20 {
        return Err(weights_error(format!("the config describes a model of ~{total} parameters and a context of {}: not a modscope model", config.context)));
    }
    Ok(())
}

/// Tensor names and shapes of a model.
fn shapes_of(model: &Model) -> BTreeMap<String, Vec<usize>> {
    model.collect(None, None, false).into_iter().map(|t| (t.name.clone(), t.shape.to_vec())).collect()
}

/// Index of the first NaN or infinite value in little-endian f16 or f32 bytes.
fn first_non_finite(bytes: &[u8], half: bool) -> Option<usize> {
    if half {
        // f16: exponent bits all ones.
        bytes.chunks_exact(2).position(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7c00 == 0x7c00)
    } else {
        bytes.chunks_exact(4).position(|c| !f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite())
    }
}

/// Loads a weights file (as bytes) onto `device`, building the model from the config it carries.
pub fn load_weights(bytes: &[u8], device: &Device) -> Result<Model, ModelError> {
    let (mut header, data) = split(bytes)?;
    let (metadata, config) = metadata_and_config(&mut header)?;
    let mut model = Model::new(&config, device)?;
    let half = verify_tensors(header, data, &metadata, &shapes_of(&model))?;
    let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()));
    if half {
        // Widen f16 on disk to f32 for compute (the adapter casts in whichever direction it finds).
        store = store.with_from_adapter(HalfPrecisionAdapter::new());
    }
    let applied = model.load_from(&mut store).map_err(weights_error)?;
    if !applied.errors.is_empty() {
        return Err(weights_error(format!("{:?}", applied.errors)));
    }
    Ok(model)
}
