//! A state dict as the model files of the community hold it: named tensors of `f32`, whatever
//! the file stored (fp16, bf16, fp32), read from PyTorch's `.pth` ([`pth`](super::pth)) or
//! `.safetensors` ([`safetensors`](super::safetensors)).

/// One named tensor of a state dict.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// The state dict's key, e.g. `body.0.weight`.
    pub name: String,
    pub shape: Vec<usize>,
    /// Row-major (C order), `shape.iter().product()` values.
    pub values: Vec<f32>,
}

/// The float formats model files store values in, little-endian: what every reader converts to
/// `f32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Float {
    F32,
    F16,
    BF16,
    F64,
}

impl Float {
    /// Bytes per value.
    pub fn bytes(self) -> usize {
        match self {
            Float::F16 | Float::BF16 => 2,
            Float::F32 => 4,
            Float::F64 => 8,
        }
    }

    /// The value held by `bytes` ([`Float::bytes`] of them).
    pub fn read(self, b: &[u8]) -> f32 {
        match self {
            Float::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Float::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
            Float::BF16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            Float::F64 => f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
        }
    }

    /// Every whole value in `bytes`.
    pub fn read_all(self, bytes: &[u8]) -> Vec<f32> {
        bytes.chunks_exact(self.bytes()).map(|b| self.read(b)).collect()
    }
}

/// The most values a model file may declare in all, before anything is allocated from it: 16 M
/// (64 MiB as `f32`), 13× the largest published Compact model (64 × 32, 1.2 M parameters).
pub const MAX_VALUES: usize = 16 << 20;
