//! Weights on disk: safetensors (readable from PyTorch, numpy, candle), f16 on disk, f32 in
//! memory, with the config and a format version in the file's metadata.

use std::collections::HashMap;

use burn::store::{HalfPrecisionAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;

use super::{Model, ModelConfig, ModelError};

/// Bumped whenever the tensor layout or the meaning of a config field changes.
pub const FORMAT_VERSION: &str = "1";
const FORMAT_KEY: &str = "modscope_format";
const CONFIG_KEY: &str = "modscope_config";

fn weights_error(e: impl std::fmt::Display) -> ModelError {
    ModelError::Weights(e.to_string())
}

/// Serialises the model (f16 tensors) with its config.
pub fn weights_to_bytes(model: &Model) -> Result<Vec<u8>, ModelError> {
    let config = serde_json::to_string(model.config()).map_err(weights_error)?;
    let mut store = SafetensorsStore::from_bytes(None)
        .metadata(FORMAT_KEY, FORMAT_VERSION)
        .metadata(CONFIG_KEY, config)
        .with_to_adapter(HalfPrecisionAdapter::new());
    model.save_into(&mut store).map_err(weights_error)?;
    store.get_bytes().map_err(weights_error)
}

pub fn save_weights(model: &Model, path: &std::path::Path) -> Result<(), ModelError> {
    std::fs::write(path, weights_to_bytes(model)?).map_err(|e| weights_error(format!("{}: {e}", path.display())))
}

/// Reads the safetensors header: its `__metadata__`, and whether the tensors are stored as f16.
fn read_header(bytes: &[u8]) -> Result<(HashMap<String, String>, bool), ModelError> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| weights_error("file is shorter than a safetensors header"))?;
    let len = u64::from_le_bytes(len_bytes);
    let header = usize::try_from(len)
        .ok()
        .and_then(|len| bytes.get(8..8usize.checked_add(len)?))
        .ok_or_else(|| weights_error(format!("header claims {len} bytes but the file is {} bytes", bytes.len())))?;
    let header: serde_json::Value = serde_json::from_slice(header).map_err(|e| weights_error(format!("header is not JSON: {e}")))?;
    let metadata = header
        .get("__metadata__")
        .cloned()
        .ok_or_else(|| weights_error("no __metadata__: not a modscope weights file"))?;
    let half = header.as_object().is_some_and(|h| h.values().any(|t| t.get("dtype").and_then(|d| d.as_str()) == Some("F16")));
    let metadata = serde_json::from_value(metadata).map_err(|e| weights_error(format!("bad __metadata__: {e}")))?;
    Ok((metadata, half))
}

/// Loads a weights file (as bytes) onto `device`, building the model from the config it carries.
pub fn load_weights(bytes: &[u8], device: &Device) -> Result<Model, ModelError> {
    let (metadata, half) = read_header(bytes)?;
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
    let mut model = Model::new(&config, device)?;
    let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()));
    if half {
        // Widen f16 on disk to f32 for compute (the adapter casts in whichever direction it finds).
        store = store.with_from_adapter(HalfPrecisionAdapter::new());
    }
    // The store panics on some malformed tensor payloads; a bad file must stay an error.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.load_from(&mut store)))
        .map_err(|_| weights_error("tensor data is malformed"))?;
    let applied = result.map_err(weights_error)?;
    if !applied.errors.is_empty() {
        return Err(weights_error(format!("{:?}", applied.errors)));
    }
    Ok(model)
}
