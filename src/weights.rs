//! Model cards and weights: what a shipped network is, proof that its weights are the ones the
//! card describes, and loading them into [`Net`] without reading any tensor back (WebGPU in a
//! browser cannot read synchronously).
//!
//! Each model is two files in `models/`: `NAME.bpk` (burn's burnpack record of the fused network)
//! and `NAME.json` (its card: architecture, SHA-256 of the weights, cost, training, measured
//! quality). The native CLI embeds every model found there at build time.
//!
//! A model a person brings ([`ModelFile::import`]: a Compact network as `.pth`, `.safetensors` or
//! ncnn) gets a card made from its tensors, and its weights in one form whatever it came as
//! (safetensors, fp32), which is what the browser's workers are handed.

use std::path::Path;

use burn::module::Module;
use burn::prelude::Device;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compact::{self, CompactModel};
use crate::model::{Architecture, Net, NetConfig};
use crate::route::{InputKind, Look};
use crate::{Error, Result};

/// Everything a person (or the web page) needs to know about a model, stored beside its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub name: String,
    pub config: NetConfig,
    #[serde(default, skip_serializing_if = "Architecture::is_upres")]
    pub architecture: Architecture,
    /// File name of the weights, relative to the card.
    pub weights: String,
    /// Lower-case hex SHA-256 of the weights file.
    pub sha256: String,
    /// Parameters of the deployed (fused) network.
    pub parameters: usize,
    pub macs_per_input_pixel: usize,
    /// The inputs it was trained for (cards from before compression-aware models say nothing:
    /// clean).
    #[serde(default)]
    pub input: InputKind,
    /// The JPEG qualities a compression-aware model was trained on, lowest and highest; none:
    /// all of them (or none, for a clean model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jpeg_qualities: Option<[u8; 2]>,
    /// The look it gives (cards from before the looks say nothing: faithful).
    #[serde(default)]
    pub look: Look,
    pub training: Training,
    /// Quality measured by `upres eval` with these weights.
    #[serde(default)]
    pub evaluation: Vec<Evaluation>,
    /// Where a model a person brought came from; none for upres's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

/// The file an imported model was read from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    pub file: String,
    /// The format it was read as (`compact::Format::name`).
    pub format: String,
    /// Lower-case hex SHA-256 of the file that holds the weights (the `.bin` of an ncnn model),
    /// so that a person can check it against where they got it.
    pub sha256: String,
}

/// How a model was trained.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Training {
    pub data: String,
    pub backend: String,
    pub steps: u64,
    pub batch: usize,
    pub patch: usize,
    pub wall_seconds: f64,
    /// Free-form: initialisation, schedule, anything notable.
    #[serde(default)]
    pub notes: String,
}

/// One row of the measured quality table (PSNR/SSIM on Y, the standard protocol).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub set: String,
    pub scale: usize,
    pub psnr: f64,
    pub ssim: f64,
    pub bicubic_psnr: f64,
    pub bicubic_ssim: f64,
}

impl ModelCard {
    pub fn from_json(json: &str) -> Result<Self> {
        let card: Self =
            serde_json::from_str(json).map_err(|e| Error::Model(format!("the model card is not valid: {e}")))?;
        card.architecture.validate(&card.config)?;
        Ok(card)
    }

    pub fn to_json(&self) -> String {
        // A card holds only plain data; serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The network in words: "Compact (RGB), 64 channels × 32 hidden layers".
    pub fn shape(&self) -> String {
        let blocks = self.config.blocks;
        let plural = if blocks == 1 { "" } else { "s" };
        format!("{}, {} channels × {blocks} hidden layer{plural}", self.architecture.name(), self.config.channels)
    }

    /// The first 12 hex digits of the weights' hash: enough to tell builds apart in a log line.
    pub fn short_hash(&self) -> &str {
        &self.sha256[..self.sha256.len().min(12)]
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A card with the weights it describes, not yet on a device.
#[derive(Clone, Debug)]
pub struct ModelFile {
    pub card: ModelCard,
    pub weights: Vec<u8>,
}

impl ModelFile {
    /// Pairs a card with its weights, refusing weights whose hash differs from the card's.
    pub fn new(card: ModelCard, weights: Vec<u8>) -> Result<Self> {
        let actual = sha256_hex(&weights);
        if actual != card.sha256 {
            return Err(Error::Model(format!(
                "the weights of {} do not match its card (SHA-256 {} expected, {} found): \
                 the file is damaged or belongs to another model",
                card.name, card.sha256, actual
            )));
        }
        Ok(Self { card, weights })
    }

    /// Reads a model a person brought: `bytes` is the file named `name` (`.pth`, `.safetensors` or
    /// an ncnn `.param`), `weights` the `.bin` of an ncnn model. The card names it after the file.
    pub fn import(name: &str, bytes: &[u8], weights: Option<&[u8]>) -> Result<Self> {
        let (model, format) = CompactModel::read(name, bytes, weights)?;
        if model.scale < 2 {
            return Err(Error::Model(format!(
                "{name} is a ×1 model (a restorer, not an upscaler): upres runs models of ×2 to ×8"
            )));
        }
        let canonical = compact::safetensors::write(&model.to_state_dict());
        let stem = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let stem = stem.rsplit_once('.').map_or(stem, |(stem, _)| stem).to_owned();
        let card = ModelCard {
            config: NetConfig::new(model.scale, model.width, model.depth),
            architecture: Architecture::Compact { colours: model.channels },
            weights: format!("{stem}.safetensors"),
            sha256: sha256_hex(&canonical),
            parameters: model.parameters(),
            macs_per_input_pixel: model.macs_per_input_pixel(),
            input: InputKind::default(),
            jpeg_qualities: None,
            look: Look::default(),
            training: Training { notes: format!("imported from {name} ({})", format.name()), ..Training::default() },
            evaluation: Vec::new(),
            imported: Some(Imported {
                file: name.to_owned(),
                format: format.name().to_owned(),
                sha256: sha256_hex(weights.unwrap_or(bytes)),
            }),
            name: stem,
        };
        Ok(Self { card, weights: canonical })
    }

    /// The imported Compact network this file holds.
    pub fn compact(&self) -> Result<CompactModel> {
        CompactModel::from_state_dict(compact::safetensors::read(&self.weights)?)
    }

    /// Reads `card_path` and the weights file it names (beside it).
    pub fn read(card_path: &Path) -> Result<Self> {
        let json = std::fs::read_to_string(card_path)
            .map_err(|e| Error::Model(format!("cannot read model card {}: {e}", card_path.display())))?;
        let card = ModelCard::from_json(&json)?;
        let weights_path = card_path.with_file_name(&card.weights);
        let weights = std::fs::read(&weights_path)
            .map_err(|e| Error::Model(format!("cannot read weights {}: {e}", weights_path.display())))?;
        Self::new(card, weights)
    }

    /// Every model card (`*.json`) in `dir` with its weights, sorted by file name.
    pub fn read_dir(dir: &Path) -> Result<Vec<Self>> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::Model(format!("cannot list models in {}: {e}", dir.display())))?;
        let mut cards: Vec<_> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        cards.sort();
        cards.iter().map(|path| Self::read(path)).collect()
    }

    /// Pairs each card among `(file name, contents)` with the weights file it names.
    pub fn from_named_files(files: &[(&str, &[u8])]) -> Result<Vec<Self>> {
        files
            .iter()
            .filter(|(name, _)| name.ends_with(".json"))
            .map(|(name, json)| {
                let json = std::str::from_utf8(json).map_err(|_| Error::Model(format!("{name} is not UTF-8 text")))?;
                let card = ModelCard::from_json(json)?;
                let weights = files
                    .iter()
                    .find(|(other, _)| *other == card.weights)
                    .ok_or_else(|| Error::Model(format!("{name} names missing weights {}", card.weights)))?
                    .1
                    .to_vec();
                Self::new(card, weights)
            })
            .collect()
    }

    /// Builds the network on `device` and loads the weights into it.
    pub fn load(&self, device: &Device) -> Result<Net> {
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(self.weights.clone()))
            .map_err(|e| Error::Model(format!("{}: unreadable weights: {e}", self.card.name)))?;
        self.card.config.init(device).try_load_record(record).map_err(|e| {
            Error::Model(format!("{}: the weights do not fit the architecture in its card: {e}", self.card.name))
        })
    }
}

/// Serialises a network's weights (burnpack bytes).
pub fn to_bytes(net: Net) -> Result<Vec<u8>> {
    net.into_record()
        .into_bytes()
        .map(|bytes| bytes.to_vec())
        .map_err(|e| Error::Model(format!("cannot serialise weights: {e}")))
}
