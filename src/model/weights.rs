//! Weights on disk: safetensors (readable from PyTorch, numpy, candle), f16 on disk (or, for the
//! page's downloads, 8-bit matrices with a scale per block of 32: [`quantize_int8`]), f32 in
//! memory, with the config, a format version and a SHA-256 of the tensor bytes in the metadata.
//!
//! A file is verified before any of it reaches burn: the header must list exactly the tensors
//! the config's model has (and a scale for each 8-bit one), each with its shape, as F16, F32 or
//! I8, laid out end to end; the tensor bytes must hash to the recorded digest; every value must be
//! finite. Anything else is a [`ModelError::Weights`] that says what is wrong, never a panic and
//! never a silently wrong model.

use std::collections::{BTreeMap, HashMap};

use burn::module::{Module, ModuleVisitor, Param};
use burn::store::{HalfPrecisionAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::{Device, Tensor, f16};
use sha2::{Digest, Sha256};

use super::{Model, ModelConfig, ModelError};

/// Bumped whenever the tensor layout or the meaning of a metadata field changes.
/// 2: the tensor bytes' SHA-256 is recorded and checked.
pub const FORMAT_VERSION: &str = "2";
const FORMAT_KEY: &str = "modscope_format";
const CONFIG_KEY: &str = "modscope_config";
const HASH_KEY: &str = "modscope_sha256";
const QUANTIZED_KEY: &str = "modscope_quantized";
/// Weights per 8-bit scale, along a matrix's input dimension.
const GROUP: usize = 32;

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
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a weights file's tensor bytes start (what its recorded SHA-256 covers), for callers
/// that hash them with [`load_weights_with_digest`]. Reads only the header's length: the loader
/// reads its JSON.
pub fn tensor_bytes_start(bytes: &[u8]) -> Result<usize, ModelError> {
    Ok(8 + header_len(bytes)?)
}

/// The length of a safetensors file's JSON header, checked against the file's size.
fn header_len(bytes: &[u8]) -> Result<usize, ModelError> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| weights_error("file is shorter than a safetensors header"))?;
    let claimed = u64::from_le_bytes(len_bytes);
    usize::try_from(claimed)
        .ok()
        .filter(|len| len.checked_add(8).is_some_and(|end| end <= bytes.len()))
        .ok_or_else(|| weights_error(format!("header claims {claimed} bytes but the file is {} bytes", bytes.len())))
}

/// Splits a safetensors file into its header JSON and its tensor bytes.
fn split(bytes: &[u8]) -> Result<(Header, &[u8]), ModelError> {
    let len = header_len(bytes)?;
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

/// The scale entry that goes with an 8-bit tensor.
fn scale_name(name: &str) -> String {
    format!("{name}.scale")
}

/// Bytes per element of a stored dtype this build reads.
fn dtype_width(dtype: &str) -> Option<usize> {
    match dtype {
        "F16" => Some(2),
        "F32" => Some(4),
        "I8" => Some(1),
        _ => None,
    }
}

/// Checks the tensors against the model that will receive them (`expected`: name → shape) before
/// any of their bytes reach burn: names, dtypes, shapes, layout, hash, finiteness. Returns them as
/// an f32 safetensors file for burn's loader (f16 widened, 8-bit tensors times their scales).
fn verify_tensors(header: Header, data: &[u8], digest: Option<&[u8; 32]>, metadata: &HashMap<String, String>, expected: &BTreeMap<String, Vec<usize>>) -> Result<Vec<u8>, ModelError> {
    let mut entries = BTreeMap::new();
    for (name, value) in header {
        let entry: Entry = serde_json::from_value(value).map_err(|e| weights_error(format!("tensor {name}: bad header entry: {e}")))?;
        entries.insert(name, entry);
    }
    if let Some(name) = expected.keys().find(|n| !entries.contains_key(*n)) {
        return Err(weights_error(format!("tensor {name} is missing")));
    }
    // An 8-bit matrix's scale: an F16 or F32 matrix with one value per block of it (its shape
    // divides the matrix's: [1, columns] is one scale per column, [rows / 32, columns] one per 32
    // rows of each column).
    for (name, entry) in &entries {
        if expected.contains_key(name) {
            continue;
        }
        let matrix = name.strip_suffix(".scale").and_then(|base| Some((expected.get(base)?, entries.get(base).filter(|e| e.dtype == "I8")?)));
        let Some((shape, _)) = matrix else {
            return Err(weights_error(format!("unexpected tensor {name}: the file does not match its config")));
        };
        let fits = matches!((entry.shape.as_slice(), shape.as_slice()), ([r, c], [rows, columns]) if *r > 0 && *c > 0 && rows % r == 0 && columns % c == 0);
        if !fits || entry.dtype == "I8" {
            return Err(weights_error(format!("scale {name} is {} {:?}: it must be F16 or F32 with a shape that divides {shape:?}", entry.dtype, entry.shape)));
        }
    }
    let mut layout: Vec<(usize, usize, &str)> = Vec::with_capacity(entries.len());
    for (name, entry) in &entries {
        let width = dtype_width(&entry.dtype)
            .ok_or_else(|| weights_error(format!("tensor {name} is stored as {}; this build reads F16, F32, or I8 with a scale", entry.dtype)))?;
        if let Some(shape) = expected.get(name) {
            if entry.shape != *shape {
                return Err(weights_error(format!("tensor {name} has shape {:?}, the config needs {shape:?}", entry.shape)));
            }
            if entry.dtype == "I8" && !entries.contains_key(&scale_name(name)) {
                return Err(weights_error(format!("tensor {name} is stored as I8 without its scale {}", scale_name(name))));
            }
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
    let actual = digest.map_or_else(|| content_hash(data), |d| hex(d));
    match metadata.get(HASH_KEY) {
        Some(hash) if *hash == actual => {}
        Some(_) => return Err(weights_error("the tensor bytes do not match the file's SHA-256: the file is damaged")),
        None => return Err(weights_error("no content hash in the metadata")),
    }
    // One f32 safetensors buffer for burn's loader, written in place (the shapes fix every offset,
    // so the header comes first): each tensor widened, and scaled if 8-bit, straight into it.
    let mut header = Header::new();
    let mut size = 0;
    for (name, shape) in expected {
        let end = size + 4 * shape.iter().product::<usize>();
        header.insert(name.clone(), serde_json::json!({ "dtype": "F32", "shape": shape, "data_offsets": [size, end] }));
        size = end;
    }
    let mut json = serde_json::to_vec(&header).map_err(weights_error)?;
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + size);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    let stored = |entry: &Entry| decode(&data[entry.data_offsets[0]..entry.data_offsets[1]], &entry.dtype);
    for (name, shape) in expected {
        let entry = &entries[name];
        let scale = (entry.dtype == "I8").then(|| {
            let scale = &entries[&scale_name(name)];
            (stored(scale), Blocks::new(shape[0], shape[1], [scale.shape[0], scale.shape[1]]))
        });
        for (i, v) in stored(entry).into_iter().enumerate() {
            let v = scale.as_ref().map_or(v, |(s, blocks)| v * s[blocks.of(i)]);
            if !v.is_finite() {
                return Err(weights_error(format!("tensor {name} holds a NaN or infinite value at element {i}")));
            }
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(out)
}

/// Rows of 8-bit values per scale block, and columns: element `i` of a `rows × columns` matrix
/// uses scale `of(i)` of a `scale_shape` matrix whose shape divides it.
struct Blocks {
    columns: usize,
    block_rows: usize,
    block_columns: usize,
    scale_columns: usize,
}

impl Blocks {
    fn new(rows: usize, columns: usize, scale_shape: [usize; 2]) -> Self {
        Blocks { columns, block_rows: rows / scale_shape[0], block_columns: columns / scale_shape[1], scale_columns: scale_shape[1] }
    }
    fn of(&self, i: usize) -> usize {
        (i / self.columns / self.block_rows) * self.scale_columns + (i % self.columns) / self.block_columns
    }
}

/// Little-endian F16, F32 or I8 bytes as f32 values.
fn decode(bytes: &[u8], dtype: &str) -> Vec<f32> {
    match dtype {
        "F16" => bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        "F32" => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        _ => bytes.iter().map(|&b| f32::from(b as i8)).collect(),
    }
}

/// Stores a weights file's matrices as 8-bit integers with one f16 scale per 32 weights along
/// the input dimension (per 32 rows of each column of an `[in, out]` linear weight, per 32 columns
/// of each token's row of the embedding), nearly halving the bytes a reader downloads. The router's and predictor's small matrices stay f16: routing decisions are a
/// top-k over the router's scores, and they are 0.2% of the bytes. The result is a format-2 file
/// whose config and metadata are the input's; its own hash is recorded.
pub fn quantize_int8(bytes: &[u8]) -> Result<Vec<u8>, ModelError> {
    let (mut header, data) = split(bytes)?;
    let (metadata, config) = metadata_and_config(&mut header)?;
    let expected = shapes_of(&Model::new(&config, &burn::tensor::Device::flex())?);
    let originals: BTreeMap<String, Entry> = header
        .iter()
        .map(|(name, value)| Ok((name.clone(), serde_json::from_value(value.clone()).map_err(|e| weights_error(format!("tensor {name}: {e}")))?)))
        .collect::<Result<_, ModelError>>()?;
    let f32_file = verify_tensors(header, data, None, &metadata, &expected)?;
    let (widened, widened_data) = split(&f32_file)?;
    let mut out_header = Header::new();
    let mut out = Vec::new();
    let mut push = |name: String, dtype: &str, shape: &[usize], bytes: &[u8]| {
        let start = out.len();
        out.extend_from_slice(bytes);
        out_header.insert(name, serde_json::json!({ "dtype": dtype, "shape": shape, "data_offsets": [start, out.len()] }));
    };
    for (name, shape) in &expected {
        let entry: Entry = serde_json::from_value(widened[name].clone()).map_err(weights_error)?;
        let values = decode(&widened_data[entry.data_offsets[0]..entry.data_offsets[1]], "F32");
        if let ([rows, columns], false) = (shape.as_slice(), name.contains(".router.")) {
            // Blocks of GROUP along the input dimension: rows of a linear weight, columns of the
            // embedding (whose rows are tokens).
            let scale_shape = match name == "embed.weight" {
                true => [*rows, columns / GROUP.min(*columns)],
                false => [rows / GROUP.min(*rows), *columns],
            };
            let (blocks, scale_shape) = if rows % (rows / scale_shape[0]) == 0 && columns % (columns / scale_shape[1]) == 0 {
                (Blocks::new(*rows, *columns, scale_shape), scale_shape)
            } else {
                (Blocks::new(*rows, *columns, [1, *columns]), [1, *columns])
            };
            let mut scale = vec![0f32; scale_shape[0] * scale_shape[1]];
            for (i, v) in values.iter().enumerate() {
                let b = blocks.of(i);
                scale[b] = scale[b].max(v.abs() / 127.0);
            }
            // Divide by the scale as stored (f16), so the rounding is to the grid the loader uses.
            let scale: Vec<f32> = scale.iter().map(|s| f16::from_f32(*s).to_f32()).collect();
            let quantized: Vec<u8> = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let s = scale[blocks.of(i)];
                    (if s > 0.0 { (v / s).round().clamp(-127.0, 127.0) } else { 0.0 }) as i8 as u8
                })
                .collect();
            push(name.clone(), "I8", shape, &quantized);
            push(scale_name(name), "F16", &scale_shape, &scale.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect::<Vec<_>>());
        } else {
            let original = &originals[name];
            push(name.clone(), &original.dtype, shape, &data[original.data_offsets[0]..original.data_offsets[1]]);
        }
    }
    let mut kept: serde_json::Map<String, serde_json::Value> = metadata.into_iter().filter(|(k, _)| k != HASH_KEY).map(|(k, v)| (k, v.into())).collect();
    kept.insert(QUANTIZED_KEY.into(), format!("int8, one f16 scale per {GROUP} weights along the input dimension").into());
    out_header.insert("__metadata__".into(), kept.into());
    let mut json = serde_json::to_vec(&out_header).map_err(weights_error)?;
    json.resize(json.len().next_multiple_of(8), b' ');
    seal(&[&(json.len() as u64).to_le_bytes()[..], &json, &out].concat())
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

/// Tensor names and shapes of a model, read without initialising its parameters (burn's
/// `collect` would fill every lazy parameter with random values the file then overwrites: a
/// quarter of the page's load time in a profile).
pub(super) fn shapes_of(model: &Model) -> BTreeMap<String, Vec<usize>> {
    #[derive(Default)]
    struct Shapes {
        path: Vec<String>,
        shapes: BTreeMap<String, Vec<usize>>,
    }
    impl ModuleVisitor for Shapes {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.shapes.insert(self.path.join("."), param.lazy_shape().to_vec());
        }
    }
    let mut shapes = Shapes::default();
    model.visit(&mut shapes);
    shapes.shapes
}

/// Loads a weights file (as bytes) onto `device`, building the model from the config it carries.
pub fn load_weights(bytes: &[u8], device: &Device) -> Result<Model, ModelError> {
    load(bytes, None, device)
}

/// [`load_weights`] with the SHA-256 of the tensor bytes (from [`tensor_bytes_start`] to the
/// end) computed by the caller: the page's workers ask the browser's SubtleCrypto, which hashes
/// natively while wasm's SHA-256 would still run in the baseline compiler. The digest is
/// checked against the file's record exactly as one computed here would be.
pub fn load_weights_with_digest(bytes: &[u8], digest: &[u8; 32], device: &Device) -> Result<Model, ModelError> {
    load(bytes, Some(digest), device)
}

fn load(bytes: &[u8], digest: Option<&[u8; 32]>, device: &Device) -> Result<Model, ModelError> {
    let (mut header, data) = split(bytes)?;
    let (metadata, config) = metadata_and_config(&mut header)?;
    let mut model = Model::new(&config, device)?;
    let widened = verify_tensors(header, data, digest, &metadata, &shapes_of(&model))?;
    let mut store = SafetensorsStore::from_bytes(Some(widened));
    let applied = model.load_from(&mut store).map_err(weights_error)?;
    if !applied.errors.is_empty() {
        return Err(weights_error(format!("{:?}", applied.errors)));
    }
    Ok(model)
}
