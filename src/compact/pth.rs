//! PyTorch `.pth` state dicts, as `torch.save` writes them since PyTorch 1.6: a zip archive of
//! stored (uncompressed) entries, `ARCHIVE/data.pkl` (a pickle of the dict) beside one entry
//! `ARCHIVE/data/KEY` per storage.
//!
//! A model file is untrusted, and a pickle is a program: Python's unpickler imports and calls
//! whatever it names. This one calls nothing. It knows the opcodes `torch.save` emits for a
//! (nested) dict of tensors and the seven globals such a dict names, builds plain values from
//! them, and refuses anything else by name. Every count and size (zip entries, pickle, memo,
//! stack, nesting, names, values) is bounded before anything is allocated from it.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::tensors::{Float, MAX_VALUES, NamedTensor};
use crate::{Error, Result};

/// Reads every float tensor of a `.pth` state dict, in the dict's order. Nested dicts' keys are
/// joined with '.' (`{'params_ema': {'body.0.weight': …}}` gives `params_ema.body.0.weight`);
/// values that are not tensors or dicts (ints, strings, lists) are skipped.
pub fn read(bytes: &[u8]) -> Result<Vec<NamedTensor>> {
    let archive = Archive::open(bytes)?;
    let (prefix, pickle) = archive.pickle()?;
    match archive.entry(&[prefix, b"byteorder"].concat())? {
        None | Some(b"little") => {}
        Some(b"big") => {
            return Err(invalid(
                "the model was saved on a big-endian machine; upres reads little-endian .pth files only",
            ));
        }
        Some(other) => {
            return Err(invalid(format!(
                "the archive's byteorder entry says {:?}, neither \"little\" nor \"big\"",
                String::from_utf8_lossy(other)
            )));
        }
    }
    let tensors = flatten(&Unpickler::new(pickle).run()?)?;

    // Every tensor is checked against its storage, and the values counted, before any is read.
    // Tensors may share a storage: each is read (and its checksum computed) once.
    let mut verified = HashMap::new();
    let mut storages = Vec::with_capacity(tensors.len());
    let mut total = 0usize;
    for (name, tensor) in &tensors {
        let key = &tensor.storage.key;
        let data = match verified.get(key) {
            Some(&data) => data,
            None => {
                let data = archive.entry(&[prefix, b"data/", key.as_bytes()].concat())?.ok_or_else(|| {
                    invalid(format!("the tensor {name} is stored in data/{key}, which the archive lacks"))
                })?;
                verified.insert(key.clone(), data);
                data
            }
        };
        total = total.saturating_add(tensor.check(name, data)?);
        storages.push(data);
    }
    if total > MAX_VALUES {
        return Err(invalid(format!("the model holds {total} values in all, over the limit of {MAX_VALUES}")));
    }
    Ok(tensors
        .iter()
        .zip(storages)
        .map(|((name, tensor), data)| NamedTensor {
            name: name.clone(),
            shape: tensor.shape.clone(),
            values: tensor.gather(data),
        })
        .collect())
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Model(message.into())
}

// The zip archive: only what torch.save writes (stored entries, zip64 records when the archive
// is large), read from the central directory, each entry's checksum verified when it is read.

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END_OF_DIRECTORY: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
/// The end record's fixed part; a comment of up to 65535 bytes may follow it.
const END_OF_DIRECTORY_BYTES: usize = 22;
/// One entry per storage, and a state dict has one storage per tensor: a Compact model has about
/// a hundred, the largest published state dicts a few thousand.
const MAX_ENTRIES: usize = 1 << 16;
/// A state dict's pickle is a few hundred bytes per tensor.
const MAX_PICKLE_BYTES: usize = 16 << 20;

/// One entry of the central directory.
struct Entry {
    encrypted: bool,
    method: u16,
    crc: u32,
    stored_size: usize,
    size: usize,
    local_header: usize,
}

struct Archive<'a> {
    bytes: &'a [u8],
    entries: HashMap<&'a [u8], Entry>,
}

impl<'a> Archive<'a> {
    fn open(bytes: &'a [u8]) -> Result<Self> {
        if !bytes.starts_with(b"PK\x03\x04") {
            // The legacy format is a bare pickle, protocol 2: 0x80 0x02.
            return Err(invalid(if bytes.first() == Some(&0x80) {
                "the legacy .pth format (PyTorch < 1.6) is not supported: load it in PyTorch and save it again with \
                 torch.save"
            } else {
                "not a PyTorch .pth file: it is not a zip archive"
            }));
        }
        let truncated = || invalid("the .pth archive is truncated: its central directory is missing or damaged");
        let end = (0..=bytes.len().saturating_sub(END_OF_DIRECTORY_BYTES))
            .rev()
            .take(u16::MAX as usize + 1)
            .find(|&at| read_u32(bytes, at) == Some(END_OF_DIRECTORY))
            .ok_or_else(truncated)?;
        let field = |offset, width| read_le(bytes, end + offset, width).ok_or_else(truncated);
        let (mut count, mut size, mut offset) = (field(10, 2)?, field(12, 4)?, field(16, 4)?);
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            // Zip64: the real values are in a record that a locator just before this one points to.
            let locator = end.checked_sub(20).filter(|&at| read_u32(bytes, at) == Some(ZIP64_LOCATOR));
            let record = locator
                .and_then(|at| read_le(bytes, at + 8, 8))
                .and_then(|at| usize::try_from(at).ok())
                .filter(|&at| read_u32(bytes, at) == Some(ZIP64_END_OF_DIRECTORY))
                .ok_or_else(truncated)?;
            let field = |offset| read_le(bytes, record.saturating_add(offset), 8).ok_or_else(truncated);
            (count, size, offset) = (field(32)?, field(40)?, field(48)?);
        }
        let count = usize::try_from(count).ok().filter(|&count| count <= MAX_ENTRIES).ok_or_else(|| {
            invalid(format!("the .pth archive lists {count} entries, more than the {MAX_ENTRIES} a state dict needs"))
        })?;
        let directory = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(offset, size)| bytes.get(offset..offset.checked_add(size)?))
            .ok_or_else(truncated)?;

        let mut entries = HashMap::new();
        let mut at = 0;
        for _ in 0..count {
            if read_u32(directory, at) != Some(CENTRAL_HEADER) {
                return Err(truncated());
            }
            let field = |offset, width| read_le(directory, at + offset, width).ok_or_else(truncated);
            let (name_len, extra_len, comment_len) = (field(28, 2)?, field(30, 2)?, field(32, 2)?);
            let name_start = at + 46;
            let extra_start = name_start + name_len as usize;
            let name = directory.get(name_start..extra_start).ok_or_else(truncated)?;
            let extra = directory.get(extra_start..extra_start + extra_len as usize).ok_or_else(truncated)?;
            let mut sizes = [field(24, 4)?, field(20, 4)?, field(42, 4)?];
            zip64_sizes(&mut sizes, extra).ok_or_else(truncated)?;
            let [size, stored_size, local_header] = sizes.map(|value| usize::try_from(value).unwrap_or(usize::MAX));
            let entry = Entry {
                encrypted: field(8, 2)? & 1 != 0,
                method: field(10, 2)? as u16,
                crc: field(16, 4)? as u32,
                stored_size,
                size,
                local_header,
            };
            entries.insert(name, entry);
            at = extra_start + extra_len as usize + comment_len as usize;
        }
        Ok(Self { bytes, entries })
    }

    /// The pickle, and the prefix (`ARCHIVE/`) of every entry beside it.
    fn pickle(&self) -> Result<(&'a [u8], &'a [u8])> {
        let mut pickles = self
            .entries
            .keys()
            .filter(|name| name.strip_suffix(b"/data.pkl").is_some_and(|archive| !archive.contains(&b'/')));
        let (Some(&name), None) = (pickles.next(), pickles.next()) else {
            return Err(invalid(
                "the .pth archive does not hold exactly one ARCHIVE/data.pkl: it is not a torch.save file",
            ));
        };
        if self.entries[name].size > MAX_PICKLE_BYTES {
            return Err(invalid(format!(
                "the .pth's pickle is {} bytes, over the {MAX_PICKLE_BYTES} a state dict needs",
                self.entries[name].size
            )));
        }
        let pickle = self.entry(name)?.ok_or_else(|| invalid("the .pth's pickle is missing"))?;
        Ok((&name[..name.len() - b"data.pkl".len()], pickle))
    }

    /// An entry's bytes, checksum verified; `None` when the archive has no such entry.
    fn entry(&self, name: &[u8]) -> Result<Option<&'a [u8]>> {
        let Some(entry) = self.entries.get(name) else { return Ok(None) };
        let shown = String::from_utf8_lossy(name);
        if entry.encrypted {
            return Err(invalid(format!("the .pth archive's entry {shown} is encrypted")));
        }
        if entry.method != 0 {
            return Err(invalid(format!(
                "the .pth archive's entry {shown} is compressed (zip method {}); torch.save stores entries \
                 uncompressed, so the file was repacked: load it in PyTorch and save it again with torch.save",
                entry.method
            )));
        }
        let damaged = || invalid(format!("the .pth archive's entry {shown} is truncated or damaged"));
        if entry.stored_size != entry.size || read_u32(self.bytes, entry.local_header) != Some(LOCAL_HEADER) {
            return Err(damaged());
        }
        // The local header's extra field differs from the central one's: torch.save pads it so
        // that each storage starts on a 64-byte boundary.
        let local = |offset| read_le(self.bytes, entry.local_header.saturating_add(offset), 2).map(|v| v as usize);
        let (name_len, extra_len) = local(26).zip(local(28)).ok_or_else(damaged)?;
        let start = entry.local_header.saturating_add(30 + name_len + extra_len);
        let data = self.bytes.get(start..start.saturating_add(entry.size)).ok_or_else(damaged)?;
        if crc32fast::hash(data) != entry.crc {
            return Err(invalid(format!("the .pth archive's entry {shown} is damaged: its checksum does not match")));
        }
        Ok(Some(data))
    }
}

/// Replaces the sizes and offset (`[size, stored size, local header offset]`) that the central
/// directory saturated at 2³² − 1 by their zip64 values, which follow in that order in the extra
/// field 0x0001.
fn zip64_sizes(sizes: &mut [u64; 3], mut extra: &[u8]) -> Option<()> {
    while extra.len() >= 4 {
        let (id, len) = (read_le(extra, 0, 2)?, read_le(extra, 2, 2)? as usize);
        let data = extra.get(4..4 + len)?;
        if id == 1 {
            let mut at = 0;
            for value in sizes.iter_mut().filter(|value| **value == 0xFFFF_FFFF) {
                *value = read_le(data, at, 8)?;
                at += 8;
            }
            return Some(());
        }
        extra = &extra[4 + len..];
    }
    Some(())
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    read_le(bytes, at, 4).map(|value| value as u32)
}

/// The little-endian integer of `width` bytes at `at`, if the bytes hold it.
fn read_le(bytes: &[u8], at: usize, width: usize) -> Option<u64> {
    let field = bytes.get(at..at.checked_add(width)?)?;
    Some(field.iter().rev().fold(0, |value, &byte| value << 8 | u64::from(byte)))
}

// The restricted unpickler.

/// How deeply containers may nest: a state dict is two or three levels deep; the bound also
/// keeps dropping and walking the values' recursion shallow.
const MAX_NESTING: u32 = 64;
const MAX_STACK: usize = 1 << 16;
/// torch.save memoizes about ten values per tensor.
const MAX_MEMO: usize = 1 << 18;
/// Values placed in tuples, lists and dicts over the whole pickle, about thirty per tensor: with
/// the stack and the memo, this bounds the values alive at once (a byte of pickle can place one).
const MAX_ITEMS: usize = 1 << 20;
const MAX_DIMS: usize = 8;
/// Dict entries walked, and bytes of tensor names made, while flattening: a shared dict can make
/// a short pickle describe an exponentially large tree.
const MAX_DICT_ENTRIES: usize = 1 << 16;
const MAX_NAME_BYTES: usize = 4 << 20;

/// The only functions and classes a state dict's pickle may name.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Global {
    OrderedDict,
    RebuildTensor,
    RebuildParameter,
    Storage(Float),
}

fn global(module: &str, name: &str) -> Result<Global> {
    Ok(match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensor,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch", "FloatStorage") => Global::Storage(Float::F32),
        ("torch", "HalfStorage") => Global::Storage(Float::F16),
        ("torch", "BFloat16Storage") => Global::Storage(Float::BF16),
        ("torch", "DoubleStorage") => Global::Storage(Float::F64),
        ("torch", storage) if storage.ends_with("Storage") => {
            return Err(invalid(format!(
                "the model file holds a tensor of torch.{storage}: only float tensors (fp32, fp16, bf16, fp64) are read"
            )));
        }
        _ => {
            return Err(invalid(format!(
                "the model file's pickle calls {module}.{name}, which upres never runs: only tensors are read from a \
                 .pth (save the model's state_dict(), not the model)"
            )));
        }
    })
}

/// A storage, as a persistent id names it: `('storage', torch.FloatStorage, KEY, location, len)`.
#[derive(Debug, PartialEq)]
struct Storage {
    dtype: Float,
    key: Rc<str>,
    /// Values (not bytes).
    len: usize,
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, …)`: a strided view of a storage, checked
/// against it by [`TensorRef::check`] once the archive's entry is at hand.
#[derive(Debug, PartialEq)]
struct TensorRef {
    storage: Rc<Storage>,
    offset: usize,
    shape: Vec<usize>,
    strides: Vec<usize>,
}

impl TensorRef {
    /// Checks the view against its storage's bytes; returns its number of values.
    fn check(&self, name: &str, data: &[u8]) -> Result<usize> {
        let Storage { dtype, key, len } = &*self.storage;
        let values = self.shape.iter().try_fold(1usize, |product, &dim| product.checked_mul(dim));
        let values = values.filter(|&values| values <= MAX_VALUES).ok_or_else(|| {
            invalid(format!("the tensor {name} has shape {:?}, over the limit of {MAX_VALUES} values", self.shape))
        })?;
        if len.checked_mul(dtype.bytes()).is_none_or(|bytes| bytes > data.len()) {
            return Err(invalid(format!(
                "the storage data/{key} of tensor {name} should hold {len} values but has {} bytes",
                data.len()
            )));
        }
        if values > 0 {
            let last = self
                .shape
                .iter()
                .zip(&self.strides)
                .try_fold(self.offset, |last, (&dim, &stride)| last.checked_add((dim - 1).checked_mul(stride)?));
            if last.is_none_or(|last| last >= *len) {
                return Err(invalid(format!(
                    "the tensor {name} (offset {}, shape {:?}, strides {:?}) reaches past the end of its storage \
                     data/{key}, which holds {len} values",
                    self.offset, self.shape, self.strides
                )));
            }
        }
        Ok(values)
    }

    /// The view's values in row-major order, read by stride; `check` has passed.
    fn gather(&self, data: &[u8]) -> Vec<f32> {
        let dtype = self.storage.dtype;
        let size = dtype.bytes();
        let count = self.shape.iter().product();
        let mut values = Vec::with_capacity(count);
        let mut index = vec![0; self.shape.len()];
        let mut at = self.offset;
        for _ in 0..count {
            let b = &data[at * size..][..size];
            values.push(dtype.read(b));
            // The last dimension advances first. A dimension of size 1 may have any stride, so the
            // running position may pass usize::MAX for a moment: it wraps and unwraps exactly.
            for dim in (0..self.shape.len()).rev() {
                index[dim] += 1;
                at = at.wrapping_add(self.strides[dim]);
                if index[dim] < self.shape[dim] {
                    break;
                }
                at = at.wrapping_sub(self.strides[dim].wrapping_mul(self.shape[dim]));
                index[dim] = 0;
            }
        }
        values
    }
}

/// What a pickle builds. Containers are shared, as Python's objects are, so that a memo entry
/// fetched again costs nothing; they know how deeply they nest.
#[derive(Clone, Debug)]
enum Value {
    /// None, booleans, floats: values a state dict's tensors never need.
    Opaque,
    Int(i64),
    Str(Rc<str>),
    Global(Global),
    Tuple(Rc<Items<Value>>),
    List(Rc<Items<Value>>),
    Dict(Rc<Items<(Value, Value)>>),
    Storage(Rc<Storage>),
    Tensor(Rc<TensorRef>),
}

#[derive(Clone, Debug)]
struct Items<T> {
    nesting: u32,
    items: Vec<T>,
}

impl<T> Default for Items<T> {
    fn default() -> Self {
        Self { nesting: 1, items: Vec::new() }
    }
}

impl Value {
    fn nesting(&self) -> u32 {
        match self {
            Value::Tuple(items) | Value::List(items) => items.nesting,
            Value::Dict(items) => items.nesting,
            _ => 0,
        }
    }

    fn tuple(items: Vec<Value>) -> Result<Self> {
        let nesting = 1 + items.iter().map(Value::nesting).max().unwrap_or(0);
        check_nesting(nesting)?;
        Ok(Value::Tuple(Rc::new(Items { nesting, items })))
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::Opaque => "a constant",
            Value::Int(_) => "an integer",
            Value::Str(_) => "a string",
            Value::Global(_) => "a function",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
            Value::Storage(_) => "a storage",
            Value::Tensor(_) => "a tensor",
        }
    }
}

fn check_nesting(nesting: u32) -> Result<()> {
    if nesting > MAX_NESTING {
        return Err(invalid(format!("the model file's pickle nests containers over {MAX_NESTING} deep")));
    }
    Ok(())
}

/// A container about to receive items: its own when nothing else holds it yet. torch.save fills
/// each dict and list right after making it, so a shared one is either still empty (its other
/// holder is the memo, which keeps the empty one) or a sign of a crafted file.
fn writable<T: Clone>(items: &mut Rc<Items<T>>) -> Result<&mut Items<T>> {
    if Rc::strong_count(items) > 1 && !items.items.is_empty() {
        return Err(invalid("the model file's pickle adds to a dict or list it has already shared"));
    }
    Ok(Rc::make_mut(items))
}

mod opcode {
    pub const PROTO: u8 = 0x80;
    pub const FRAME: u8 = 0x95;
    pub const STOP: u8 = b'.';
    pub const MARK: u8 = b'(';
    pub const EMPTY_DICT: u8 = b'}';
    pub const EMPTY_LIST: u8 = b']';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const TUPLE: u8 = b't';
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const BINUNICODE: u8 = b'X';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const BININT2: u8 = b'M';
    pub const LONG1: u8 = 0x8a;
    pub const BINFLOAT: u8 = b'G';
    pub const NONE: u8 = b'N';
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const MEMOIZE: u8 = 0x94;
    pub const BINGET: u8 = b'h';
    pub const LONG_BINGET: u8 = b'j';
    pub const GLOBAL: u8 = b'c';
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const BINPERSID: u8 = b'Q';
    pub const REDUCE: u8 = b'R';
    pub const BUILD: u8 = b'b';
    pub const SETITEM: u8 = b's';
    pub const SETITEMS: u8 = b'u';
    pub const APPEND: u8 = b'a';
    pub const APPENDS: u8 = b'e';
}

struct Unpickler<'a> {
    pickle: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    /// Where each open MARK left the stack.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    /// Values placed in containers so far.
    items: usize,
}

impl<'a> Unpickler<'a> {
    fn new(pickle: &'a [u8]) -> Self {
        Self { pickle, at: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new(), items: 0 }
    }

    /// Runs the pickle to its STOP; returns the value it built.
    fn run(mut self) -> Result<Value> {
        use opcode::*;
        loop {
            let start = self.at;
            let code = self.take(1)?[0];
            match code {
                PROTO => {
                    let version = self.take(1)?[0];
                    if !(2..=5).contains(&version) {
                        return Err(self.damaged(start, &format!("pickle protocol {version}")));
                    }
                }
                FRAME => {
                    self.take(8)?;
                }
                STOP => return self.pop(),
                MARK => {
                    if self.marks.len() >= MAX_STACK {
                        return Err(invalid(format!("the model file's pickle opens over {MAX_STACK} marks")));
                    }
                    self.marks.push(self.stack.len());
                }
                EMPTY_DICT => self.push(Value::Dict(Rc::default()))?,
                EMPTY_LIST => self.push(Value::List(Rc::default()))?,
                EMPTY_TUPLE => self.push(Value::tuple(Vec::new())?)?,
                TUPLE => {
                    let items = self.pop_mark()?;
                    self.place(items.len())?;
                    self.push(Value::tuple(items)?)?;
                }
                TUPLE1 | TUPLE2 | TUPLE3 => {
                    let mut items = (TUPLE1..=code).map(|_| self.pop()).collect::<Result<Vec<_>>>()?;
                    items.reverse();
                    self.place(items.len())?;
                    self.push(Value::tuple(items)?)?;
                }
                BINUNICODE | SHORT_BINUNICODE => {
                    let len = if code == BINUNICODE { self.le(4)? } else { self.le(1)? };
                    let bytes = self.take(usize::try_from(len).unwrap_or(usize::MAX))?;
                    let text = std::str::from_utf8(bytes).map_err(|_| self.damaged(start, "a string not in UTF-8"))?;
                    self.push(Value::Str(text.into()))?;
                }
                BININT => {
                    let value = self.le(4)? as u32 as i32;
                    self.push(Value::Int(value.into()))?;
                }
                BININT1 | BININT2 => {
                    let value = self.le(if code == BININT1 { 1 } else { 2 })?;
                    self.push(Value::Int(value as i64))?;
                }
                LONG1 => {
                    let len = usize::from(self.take(1)?[0]);
                    if len > 8 {
                        return Err(self.damaged(start, &format!("an integer of {len} bytes")));
                    }
                    // Two's complement, little-endian: shifted to the top, then back with its sign.
                    let value = self.le(len)?;
                    let shift = 64 - 8 * len as u32;
                    let value = if len == 0 { 0 } else { ((value << shift) as i64) >> shift };
                    self.push(Value::Int(value))?;
                }
                BINFLOAT => {
                    self.take(8)?;
                    self.push(Value::Opaque)?;
                }
                NONE | NEWTRUE | NEWFALSE => self.push(Value::Opaque)?,
                BINPUT | LONG_BINPUT | MEMOIZE => {
                    let index = match code {
                        BINPUT => self.le(1)? as u32,
                        LONG_BINPUT => self.le(4)? as u32,
                        _ => self.memo.len() as u32,
                    };
                    let top = self.stack.last().ok_or_else(|| self.damaged(start, "empty stack"))?.clone();
                    if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&index) {
                        return Err(invalid(format!("the model file's pickle memoizes over {MAX_MEMO} values")));
                    }
                    self.memo.insert(index, top);
                }
                BINGET | LONG_BINGET => {
                    let index = if code == BINGET { self.le(1)? } else { self.le(4)? } as u32;
                    let value = self.memo.get(&index).cloned();
                    let value = value.ok_or_else(|| self.damaged(start, &format!("memo entry {index} is not set")))?;
                    self.push(value)?;
                }
                GLOBAL => {
                    let module = self.line(start)?;
                    let name = self.line(start)?;
                    self.push(Value::Global(global(module, name)?))?;
                }
                STACK_GLOBAL => {
                    let (name, module) = (self.pop()?, self.pop()?);
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return Err(self.damaged(start, "a global named by something other than strings"));
                    };
                    self.push(Value::Global(global(&module, &name)?))?;
                }
                BINPERSID => {
                    let id = self.pop()?;
                    self.push(Value::Storage(Rc::new(storage(&id)?)))?;
                }
                REDUCE => {
                    let arguments = self.pop()?;
                    let function = self.pop()?;
                    self.push(call(&function, &arguments)?)?;
                }
                BUILD => {
                    // The state an object is built with, e.g. a state dict's `_metadata` (its
                    // modules' versions): nothing a tensor needs.
                    self.pop()?;
                    if self.stack.is_empty() {
                        return Err(self.damaged(start, "BUILD without an object"));
                    }
                }
                SETITEM | SETITEMS => {
                    let items = if code == SETITEM {
                        let value = self.pop()?;
                        vec![self.pop()?, value]
                    } else {
                        self.pop_mark()?
                    };
                    if items.len() % 2 != 0 {
                        return Err(self.damaged(start, "a key without a value"));
                    }
                    self.place(items.len())?;
                    let Some(Value::Dict(dict)) = self.stack.last_mut() else {
                        return Err(self.damaged(start, "items set on something other than a dict"));
                    };
                    let dict = writable(dict)?;
                    let mut items = items.into_iter();
                    while let (Some(key), Some(value)) = (items.next(), items.next()) {
                        dict.nesting = dict.nesting.max(1 + key.nesting().max(value.nesting()));
                        dict.items.push((key, value));
                    }
                    check_nesting(dict.nesting)?;
                }
                APPEND | APPENDS => {
                    let items = if code == APPEND { vec![self.pop()?] } else { self.pop_mark()? };
                    self.place(items.len())?;
                    let Some(Value::List(list)) = self.stack.last_mut() else {
                        return Err(self.damaged(start, "items appended to something other than a list"));
                    };
                    let list = writable(list)?;
                    list.nesting = list.nesting.max(1 + items.iter().map(Value::nesting).max().unwrap_or(0));
                    list.items.extend(items);
                    check_nesting(list.nesting)?;
                }
                other => {
                    return Err(invalid(format!(
                        "the model file's pickle uses opcode {other:#04x} at byte {start}, which a torch.save state \
                         dict does not"
                    )));
                }
            }
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let bytes = self.at.checked_add(len).and_then(|end| self.pickle.get(self.at..end));
        let bytes = bytes.ok_or_else(|| invalid("the model file's pickle ends early: it is truncated"))?;
        self.at += len;
        Ok(bytes)
    }

    fn le(&mut self, width: usize) -> Result<u64> {
        let bytes = self.take(width)?;
        Ok(read_le(bytes, 0, width).unwrap_or_default())
    }

    /// A GLOBAL's module or name, ended by a newline.
    fn line(&mut self, start: usize) -> Result<&'a str> {
        let rest = &self.pickle[self.at..];
        let len = rest.iter().take(256).position(|&b| b == b'\n').ok_or_else(|| self.damaged(start, "GLOBAL"))?;
        let line = std::str::from_utf8(&rest[..len]).map_err(|_| self.damaged(start, "GLOBAL"))?;
        self.at += len + 1;
        Ok(line)
    }

    fn place(&mut self, count: usize) -> Result<()> {
        self.items += count;
        if self.items > MAX_ITEMS {
            return Err(invalid(format!("the model file's pickle places over {MAX_ITEMS} values in containers")));
        }
        Ok(())
    }

    fn push(&mut self, value: Value) -> Result<()> {
        if self.stack.len() >= MAX_STACK {
            return Err(invalid(format!("the model file's pickle stacks over {MAX_STACK} values")));
        }
        self.stack.push(value);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value> {
        if self.marks.last().is_some_and(|&mark| mark >= self.stack.len()) {
            return Err(self.damaged(self.at - 1, "a value taken from below a MARK"));
        }
        self.stack.pop().ok_or_else(|| self.damaged(self.at - 1, "empty stack"))
    }

    /// The values above the last MARK.
    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let mark = self.marks.pop().filter(|&mark| mark <= self.stack.len());
        let mark = mark.ok_or_else(|| self.damaged(self.at - 1, "no MARK"))?;
        Ok(self.stack.split_off(mark))
    }

    fn damaged(&self, at: usize, what: &str) -> Error {
        invalid(format!("the model file's pickle is damaged at byte {at}: {what}"))
    }
}

/// A persistent id: the storage it names.
fn storage(id: &Value) -> Result<Storage> {
    if let Value::Tuple(id) = id
        && let [Value::Str(kind), Value::Global(Global::Storage(dtype)), Value::Str(key), _location, Value::Int(len)] =
            id.items.as_slice()
        && &**kind == "storage"
        && let Ok(len) = usize::try_from(*len)
    {
        return Ok(Storage { dtype: *dtype, key: key.clone(), len });
    }
    Err(invalid("the model file's pickle refers to something other than a tensor storage"))
}

/// REDUCE: calls one of the allowed functions, on arguments of the shapes torch.save gives them.
fn call(function: &Value, arguments: &Value) -> Result<Value> {
    let (Value::Global(function), Value::Tuple(arguments)) = (function, arguments) else {
        return Err(invalid(format!(
            "the model file's pickle calls {} with {}, which torch.save never does",
            function.kind(),
            arguments.kind()
        )));
    };
    let arguments = arguments.items.as_slice();
    match (function, arguments) {
        (Global::OrderedDict, []) => Ok(Value::Dict(Rc::default())),
        // (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
        (
            Global::RebuildTensor,
            [Value::Storage(storage), Value::Int(offset), Value::Tuple(shape), Value::Tuple(strides), rest @ ..],
        ) if (2..=3).contains(&rest.len()) => {
            let (shape, strides) = (dims(&shape.items)?, dims(&strides.items)?);
            let offset = usize::try_from(*offset).map_err(|_| invalid(format!("a tensor at offset {offset}")))?;
            if shape.len() != strides.len() {
                return Err(invalid(format!("a tensor of shape {shape:?} with strides {strides:?}")));
            }
            Ok(Value::Tensor(Rc::new(TensorRef { storage: storage.clone(), offset, shape, strides })))
        }
        (Global::RebuildParameter, [tensor @ Value::Tensor(_), ..]) => Ok(tensor.clone()),
        (function, arguments) => Err(invalid(format!(
            "the model file's pickle calls {function:?} with {} arguments of a shape torch.save never gives",
            arguments.len()
        ))),
    }
}

/// A tensor's shape or strides: up to [`MAX_DIMS`] integers, none negative.
fn dims(items: &[Value]) -> Result<Vec<usize>> {
    if items.len() > MAX_DIMS {
        return Err(invalid(format!("a tensor of {} dimensions, over the {MAX_DIMS} a model needs", items.len())));
    }
    items
        .iter()
        .map(|item| match item {
            Value::Int(value) => usize::try_from(*value).map_err(|_| invalid(format!("a tensor dimension of {value}"))),
            other => Err(invalid(format!("a tensor dimension that is {}", other.kind()))),
        })
        .collect()
}

/// The tensors of the dict a pickle built, named by their keys joined with '.'.
fn flatten(root: &Value) -> Result<Vec<(String, Rc<TensorRef>)>> {
    let Value::Dict(dict) = root else {
        return Err(invalid(format!("the .pth holds {}, not a state dict (a dict of tensors)", root.kind())));
    };
    let mut walk = Walk { tensors: Vec::new(), entries: 0, name_bytes: 0 };
    walk.dict(&dict.items, "")?;
    let mut seen = HashSet::new();
    if let Some((name, _)) = walk.tensors.iter().find(|(name, _)| !seen.insert(name.as_str())) {
        return Err(invalid(format!("the state dict names {name} twice")));
    }
    Ok(walk.tensors)
}

struct Walk {
    tensors: Vec<(String, Rc<TensorRef>)>,
    entries: usize,
    name_bytes: usize,
}

impl Walk {
    fn dict(&mut self, items: &[(Value, Value)], prefix: &str) -> Result<()> {
        for (key, value) in items {
            self.entries += 1;
            if self.entries > MAX_DICT_ENTRIES {
                return Err(invalid(format!("the state dict has over {MAX_DICT_ENTRIES} entries")));
            }
            if !matches!(value, Value::Tensor(_) | Value::Dict(_)) {
                continue;
            }
            let key = match key {
                Value::Str(key) => key.to_string(),
                Value::Int(key) => key.to_string(),
                other => return Err(invalid(format!("the state dict has a key that is {}", other.kind()))),
            };
            let name = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
            self.name_bytes += name.len();
            if self.name_bytes > MAX_NAME_BYTES {
                return Err(invalid(format!("the state dict's names take over {MAX_NAME_BYTES} bytes")));
            }
            match value {
                Value::Tensor(tensor) => self.tensors.push((name, tensor.clone())),
                Value::Dict(inner) => self.dict(&inner.items, &name)?,
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensors(pickle: &[u8]) -> Result<Vec<(String, Rc<TensorRef>)>> {
        flatten(&Unpickler::new(pickle).run()?)
    }

    fn refusal(pickle: &[u8]) -> String {
        tensors(pickle).expect_err("must be refused").to_string()
    }

    /// What torch.save(`{'params_ema': model.state_dict()}`) pickles for a model of one 3×3
    /// convolution from 1 to 2 channels, written out by hand opcode by opcode: the state dict is
    /// an OrderedDict with its `_metadata` set by BUILD; repeated strings and globals come back
    /// from the memo; the 4-D shape takes MARK … TUPLE, the 1-D ones TUPLE1.
    const TORCH_SAVE_PICKLE: &[u8] = b"\x80\x02}q\x00X\n\x00\x00\x00params_emaq\x01\
        ccollections\nOrderedDict\nq\x02)Rq\x03(\
        X\x0b\x00\x00\x00conv.weightq\x04ctorch._utils\n_rebuild_tensor_v2\nq\x05(\
        (X\x07\x00\x00\x00storageq\x06ctorch\nFloatStorage\nq\x07X\x01\x00\x00\x000q\x08X\x03\x00\x00\x00cpuq\tK\x12tq\nQ\
        K\x00(K\x02K\x01K\x03K\x03tq\x0b(K\tK\tK\x03K\x01tq\x0c\x89h\x02)Rq\rtq\x0eRq\x0f\
        X\t\x00\x00\x00conv.biasq\x10h\x05((h\x06h\x07X\x01\x00\x00\x001q\x11h\tK\x02tq\x12Q\
        K\x00K\x02\x85q\x13K\x01\x85q\x14\x89h\x02)Rq\x15tq\x16Rq\x17\
        u}q\x18X\t\x00\x00\x00_metadataq\x19h\x02)Rq\x1a(X\x00\x00\x00\x00q\x1b}q\x1cX\x07\x00\x00\x00versionq\x1dK\x01s\
        X\x04\x00\x00\x00convq\x1e}q\x1fh\x1dK\x01susbs.";

    #[test]
    fn reads_a_torch_save_pickle_by_hand() {
        let tensors = tensors(TORCH_SAVE_PICKLE).unwrap();
        let names: Vec<_> = tensors.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["params_ema.conv.weight", "params_ema.conv.bias"]);
        let (weight, bias) = (&tensors[0].1, &tensors[1].1);
        assert_eq!(*weight.storage, Storage { dtype: Float::F32, key: "0".into(), len: 18 });
        assert_eq!((weight.offset, &weight.shape[..], &weight.strides[..]), (0, &[2, 1, 3, 3][..], &[9, 9, 3, 1][..]));
        assert_eq!(*bias.storage, Storage { dtype: Float::F32, key: "1".into(), len: 2 });
        assert_eq!((&bias.shape[..], &bias.strides[..]), (&[2][..], &[1][..]));
    }

    #[test]
    fn gathers_by_stride_and_converts_each_dtype() {
        let tensor = |dtype, offset, shape: &[usize], strides: &[usize]| TensorRef {
            storage: Rc::new(Storage { dtype, key: "0".into(), len: 12 }),
            offset,
            shape: shape.to_vec(),
            strides: strides.to_vec(),
        };
        let data: Vec<u8> = (0..12).flat_map(|v| (v as f32).to_le_bytes()).collect();
        // A transposed 3×4 view of a 4×3 storage, and a view from offset 2 with a size-1
        // dimension of an absurd stride.
        let transposed = tensor(Float::F32, 0, &[3, 4], &[1, 3]);
        assert_eq!(transposed.check("t", &data).unwrap(), 12);
        assert_eq!(transposed.gather(&data), [0., 3., 6., 9., 1., 4., 7., 10., 2., 5., 8., 11.]);
        let odd = tensor(Float::F32, 2, &[1, 2, 2], &[usize::MAX, 4, 2]);
        assert_eq!(odd.check("o", &data).unwrap(), 4);
        assert_eq!(odd.gather(&data), [2., 4., 6., 8.]);

        let halves: Vec<u8> = (0..12).flat_map(|v| half::f16::from_f32(v as f32 * 0.5).to_le_bytes()).collect();
        assert_eq!(tensor(Float::F16, 10, &[2], &[1]).gather(&halves), [5.0, 5.5]);
        let brains: Vec<u8> = (0..12).flat_map(|v| half::bf16::from_f32(v as f32).to_le_bytes()).collect();
        assert_eq!(tensor(Float::BF16, 0, &[3], &[4]).gather(&brains), [0.0, 4.0, 8.0]);
        let doubles: Vec<u8> = (0..12).flat_map(|v| (f64::from(v) + 0.25).to_le_bytes()).collect();
        assert_eq!(tensor(Float::F64, 11, &[], &[]).gather(&doubles), [11.25]);

        // Past the storage: by offset, by stride, and a storage shorter than it says.
        let message = |tensor: TensorRef, data: &[u8]| tensor.check("w", data).unwrap_err().to_string();
        assert!(message(tensor(Float::F32, 1, &[3, 4], &[4, 1]), &data).contains("reaches past the end"));
        assert!(message(tensor(Float::F32, 0, &[2, 2], &[usize::MAX, 1]), &data).contains("reaches past the end"));
        assert!(message(tensor(Float::F32, 0, &[2], &[1]), &data[..40]).contains("should hold 12 values"));
        assert!(message(tensor(Float::F32, 0, &[1 << 20, 1 << 20], &[0, 0]), &data).contains("over the limit"));
    }

    #[test]
    fn refuses_every_other_global_by_name() {
        for (module, name) in [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("subprocess", "Popen")] {
            let pickle = [b"\x80\x02c", module.as_bytes(), b"\n", name.as_bytes(), b"\nX\x02\x00\x00\x00lsR."].concat();
            let message = refusal(&pickle);
            assert!(message.contains(&format!("calls {module}.{name}, which upres never runs")), "{message}");
        }
        // Protocol 4's STACK_GLOBAL names it from the stack.
        let message = refusal(b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.");
        assert!(message.contains("builtins.eval"), "{message}");
        assert!(refusal(b"\x80\x02ctorch\nLongStorage\n.").contains("only float tensors"));
    }

    #[test]
    fn refuses_damaged_and_crafted_pickles_saying_why() {
        let cut = &TORCH_SAVE_PICKLE[..TORCH_SAVE_PICKLE.len() / 2];
        assert!(refusal(cut).contains("truncated"));
        assert!(refusal(b"\x80\x02h\x07.").contains("memo entry 7 is not set"));
        assert!(refusal(b"\x80\x02K\x01.").contains("not a state dict"));
        assert!(refusal(b"\x80\x02(.").contains("damaged"));
        assert!(refusal(b"\x80\x02\x8a\x09\0\0\0\0\0\0\0\0\0.").contains("integer of 9 bytes"));
        assert!(refusal(b"\x80\x02V.").contains("opcode 0x56"));
        // A tuple in a tuple in a tuple …: refused at the limit, long before the stack is at risk.
        let nested = [&b"\x80\x02)"[..], &[0x85; 100_000], b"."].concat();
        assert!(refusal(&nested).contains("nests containers over 64 deep"));
        // A list of two million empty tuples, from a pickle of 4 MB.
        let wide = [&b"\x80\x02]"[..], &b")a".repeat(2 << 20), b"."].concat();
        assert!(refusal(&wide).contains("places over 1048576 values"));
        // A dict filled, memoized, fetched and filled again.
        assert!(refusal(b"\x80\x02}K\x01K\x02sq\x00h\x00K\x03K\x04s.").contains("already shared"));
        // The same key twice; a tensor's storage that is not a persistent id; a persistent id
        // that is not a storage.
        let twice = b"\x80\x02}(X\x01\x00\x00\x00a}X\x01\x00\x00\x00a}u.";
        assert_eq!(tensors(twice).unwrap().len(), 0);
        let pid =
            b"\x80\x02(X\x07\x00\x00\x00storagectorch\nHalfStorage\nX\x01\x00\x00\x00kX\x03\x00\x00\x00cpuK\x04tQ";
        let tensor = |name: &[u8]| {
            [
                b"X\x01\x00\x00\x00".as_slice(),
                name,
                b"ctorch._utils\n_rebuild_tensor_v2\n(",
                &pid[2..],
                b"K\x00K\x04\x85K\x01\x85\x89NtR",
            ]
            .concat()
        };
        let duplicated = [&b"\x80\x02}("[..], &tensor(b"a"), &tensor(b"a"), b"u."].concat();
        assert!(refusal(&duplicated).contains("names a twice"));
        let read = tensors(&[&b"\x80\x02}("[..], &tensor(b"a"), b"u."].concat()).unwrap();
        assert_eq!(*read[0].1.storage, Storage { dtype: Float::F16, key: "k".into(), len: 4 });
        let not_storage = b"\x80\x02(X\x03\x00\x00\x00fooK\x01tQ.";
        assert!(refusal(not_storage).contains("other than a tensor storage"));
    }
}
