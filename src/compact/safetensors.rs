//! `.safetensors` state dicts: a little-endian u64 header length, a JSON header naming each
//! tensor's dtype, shape and byte range, then the data. Community models come in it, and it is
//! the form an imported model is handed to the web workers in (fp32, written by [`write`]).
//!
//! A model file is untrusted: the header's length is bounded before it is parsed, the `safetensors`
//! crate checks that the ranges tile the data exactly, and the values are counted against
//! [`MAX_VALUES`] before any is converted.

use std::borrow::Cow;

use safetensors::tensor::SafeTensorError;
use safetensors::{Dtype, SafeTensors, View};

use super::tensors::{Float, MAX_VALUES, NamedTensor};
use crate::{Error, Result};

/// A state dict's header is about a hundred bytes per tensor.
const MAX_HEADER_BYTES: u64 = 16 << 20;

/// Reads every tensor of a `.safetensors` file, in the order of their data; F32, F16, BF16 and
/// F64 are converted to `f32`, other dtypes refused.
pub fn read(bytes: &[u8]) -> Result<Vec<NamedTensor>> {
    let header = bytes.get(..8).map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
    let header = header.ok_or_else(|| invalid("the .safetensors file is shorter than its 8-byte header length"))?;
    if header > MAX_HEADER_BYTES {
        return Err(invalid(format!(
            "the .safetensors header claims {header} bytes, over the {MAX_HEADER_BYTES} a state dict needs"
        )));
    }
    if header + 8 > bytes.len() as u64 {
        return Err(invalid(format!(
            "the .safetensors header claims {header} bytes but the file holds {}: it is truncated",
            bytes.len()
        )));
    }
    let (header, metadata) = SafeTensors::read_metadata(bytes).map_err(refusal)?;
    let tensors: Vec<_> =
        metadata.offset_keys().into_iter().filter_map(|name| Some((metadata.info(&name)?, name))).collect();

    // The dtypes and the values in all, before any value is converted.
    let mut total = 0usize;
    for (info, name) in &tensors {
        if !matches!(info.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64) {
            return Err(invalid(format!(
                "the tensor {name} is {}: only float tensors (F32, F16, BF16, F64) are read",
                info.dtype
            )));
        }
        let values = info.shape.iter().try_fold(1usize, |product, &dim| product.checked_mul(dim));
        total = values.and_then(|values| total.checked_add(values)).unwrap_or(usize::MAX);
        if total > MAX_VALUES {
            return Err(invalid(format!("the model holds over {MAX_VALUES} values, the limit")));
        }
    }

    let data = &bytes[8 + header..];
    tensors
        .into_iter()
        .map(|(info, name)| {
            let (start, end) = info.data_offsets;
            let bytes = data
                .get(start..end)
                .ok_or_else(|| invalid(format!("the tensor {name} lies past the end of the file")))?;
            let float = match info.dtype {
                Dtype::F16 => Float::F16,
                Dtype::BF16 => Float::BF16,
                Dtype::F64 => Float::F64,
                // F32: the other dtypes were refused above.
                _ => Float::F32,
            };
            let values = float.read_all(bytes);
            Ok(NamedTensor { name, shape: info.shape.clone(), values })
        })
        .collect()
}

/// The tensors as F32 `.safetensors`, in name order (the crate's canonical order), so that the
/// same state dict always gives the same bytes.
///
/// # Panics
/// If two tensors share a name, or a tensor's values do not fill its shape: the caller's state
/// dict is malformed (every one [`read`] or [`super::pth::read`] returns is well formed).
pub fn write(tensors: &[NamedTensor]) -> Vec<u8> {
    safetensors::serialize(tensors.iter().map(|tensor| (tensor.name.as_str(), F32(tensor))), None)
        .expect("a state dict of unique names and values that fill their shapes")
}

/// A tensor as the crate writes it.
struct F32<'a>(&'a NamedTensor);

impl View for F32<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        self.0.values.iter().flat_map(|value| value.to_le_bytes()).collect()
    }

    fn data_len(&self) -> usize {
        4 * self.0.values.len()
    }
}

fn refusal(error: SafeTensorError) -> Error {
    invalid(match error {
        SafeTensorError::MetadataIncompleteBuffer => {
            "the .safetensors file's tensors do not end where the file does: it is truncated, or its offsets are wrong"
                .to_owned()
        }
        SafeTensorError::InvalidOffset(name) => {
            format!("the .safetensors tensor {name} does not start where the one before it ends")
        }
        SafeTensorError::TensorInvalidInfo => {
            "a .safetensors tensor's byte range does not match its shape and dtype".to_owned()
        }
        other => format!("not a valid .safetensors file: {other}"),
    })
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Model(message.into())
}
