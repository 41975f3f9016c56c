//! Model cards and weights: what a shipped network is, proof that its weights are the ones the
//! card describes, and loading them into [`Net`] without reading any tensor back (WebGPU in a
//! browser cannot read synchronously).
//!
//! Each model is two files in `models/`: `NAME.bpk` (burn's burnpack record of the fused network)
//! and `NAME.json` (its card: architecture, SHA-256 of the weights, cost, training, measured
//! quality). The native CLI embeds every model found there at build time.

use std::path::Path;

use burn::module::Module;
use burn::prelude::Device;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{Net, NetConfig};
use crate::route::{InputKind, Look};
use crate::{Error, Result};

/// Everything a person (or the web page) needs to know about a model, stored beside its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub name: String,
    pub config: NetConfig,
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
        card.config.validate()?;
        Ok(card)
    }

    pub fn to_json(&self) -> String {
        // A card holds only plain data; serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
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
