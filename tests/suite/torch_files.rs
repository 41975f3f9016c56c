//! PyTorch `.pth` and `.safetensors` state dicts: a writer of torch.save's format (PyTorch is not
//! needed to make them), round trips through both readers, and hostile files, each refused with a
//! message that says what is wrong.
//!
//! The writer follows what torch.save (PyTorch 2.x) writes, checked byte by byte against a real
//! file: pickle protocol 2, with strings and globals memoized and fetched again; each tensor
//! `_rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())` of a persistent id
//! `('storage', torch.FloatStorage, KEY, 'cpu', numel)`; the state dict an `OrderedDict` given
//! its `_metadata` by BUILD; a zip of stored entries, each storage 64-byte aligned by a padding
//! field in its local header only, closed by a zip64 end record, its locator and the end record.

use std::collections::HashMap;

use upres::compact::tensors::NamedTensor;
use upres::compact::{pth, safetensors};

/// One tensor as the pickle describes it: a view of a storage.
pub struct TorchTensor {
    pub name: String,
    pub storage: String,
    /// The storage's length in values, as its persistent id says.
    pub storage_len: usize,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
}

/// A torch.save file of contiguous tensors, each in a storage of its own (`data/0`, `data/1`, …),
/// in fp16 when `half`; the state dict inside `{wrap: state_dict}` when `wrap` is given, as
/// Real-ESRGAN saves `params` or `params_ema`.
pub fn write_pth(tensors: &[NamedTensor], half: bool, wrap: Option<&str>) -> Vec<u8> {
    let views: Vec<_> = tensors
        .iter()
        .enumerate()
        .map(|(index, tensor)| TorchTensor {
            name: tensor.name.clone(),
            storage: index.to_string(),
            storage_len: tensor.values.len(),
            offset: 0,
            shape: tensor.shape.clone(),
            strides: contiguous(&tensor.shape),
        })
        .collect();
    let storages: Vec<_> = tensors
        .iter()
        .enumerate()
        .map(|(index, tensor)| {
            let bytes = if half {
                tensor.values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect()
            } else {
                tensor.values.iter().flat_map(|v| v.to_le_bytes()).collect()
            };
            (index.to_string(), bytes)
        })
        .collect();
    archive(&pickle(&views, if half { "HalfStorage" } else { "FloatStorage" }, wrap), &storages)
}

fn contiguous(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for dim in (0..shape.len().saturating_sub(1)).rev() {
        strides[dim] = strides[dim + 1] * shape[dim + 1];
    }
    strides
}

/// Pickle protocol 2 as Python's pickler writes it, memoizing every string and global and
/// fetching the repeated ones back.
#[derive(Default)]
struct Pickler {
    bytes: Vec<u8>,
    memo: HashMap<String, u32>,
    next: u32,
}

impl Pickler {
    /// BINPUT or LONG_BINPUT.
    fn memoize(&mut self) {
        self.index(b'q', b'r', self.next);
        self.next += 1;
    }

    /// BINGET or LONG_BINGET of `key` when it was memoized before; else `key` will be next.
    fn fetched(&mut self, key: &str) -> bool {
        let Some(&index) = self.memo.get(key) else {
            self.memo.insert(key.to_owned(), self.next);
            return false;
        };
        self.index(b'h', b'j', index);
        true
    }

    fn index(&mut self, short: u8, long: u8, index: u32) {
        match u8::try_from(index) {
            Ok(index) => self.bytes.extend([short, index]),
            Err(_) => self.bytes.extend([&[long][..], &index.to_le_bytes()].concat()),
        }
    }

    fn string(&mut self, text: &str) {
        if !self.fetched(text) {
            self.bytes.push(b'X');
            self.bytes.extend((text.len() as u32).to_le_bytes());
            self.bytes.extend(text.as_bytes());
            self.memoize();
        }
    }

    fn global(&mut self, module: &str, name: &str) {
        if !self.fetched(&format!("{module}\n{name}\n")) {
            self.bytes.extend(format!("c{module}\n{name}\n").as_bytes());
            self.memoize();
        }
    }

    fn int(&mut self, value: usize) {
        match value {
            0..=0xFF => self.bytes.extend([b'K', value as u8]),
            0x100..=0xFFFF => self.bytes.extend([&[b'M'][..], &(value as u16).to_le_bytes()].concat()),
            _ => self.bytes.extend([&[b'J'][..], &(value as u32).to_le_bytes()].concat()),
        }
    }

    fn tuple(&mut self, items: &[usize]) {
        if items.is_empty() {
            self.bytes.push(b')');
            return;
        }
        if items.len() > 3 {
            self.bytes.push(b'(');
        }
        items.iter().for_each(|&item| self.int(item));
        self.bytes.push(match items.len() {
            1 => 0x85,
            2 => 0x86,
            3 => 0x87,
            _ => b't',
        });
        self.memoize();
    }

    fn ordered_dict(&mut self) {
        self.global("collections", "OrderedDict");
        self.bytes.extend(b")R");
        self.memoize();
    }

    /// A dict's items: SETITEM for one, MARK … SETITEMS for more.
    fn items(&mut self, count: usize, mut item: impl FnMut(&mut Self, usize)) {
        if count > 1 {
            self.bytes.push(b'(');
        }
        (0..count).for_each(|index| item(self, index));
        self.bytes.push(if count > 1 { b'u' } else { b's' });
    }
}

/// torch.save's pickle of a state dict of `tensors` in storages of type `torch.{storage}`.
pub fn pickle(tensors: &[TorchTensor], storage: &str, wrap: Option<&str>) -> Vec<u8> {
    let mut p = Pickler::default();
    p.bytes.extend(b"\x80\x02");
    if let Some(key) = wrap {
        p.bytes.push(b'}');
        p.memoize();
        p.string(key);
    }
    p.ordered_dict();
    if !tensors.is_empty() {
        p.items(tensors.len(), |p, index| {
            let tensor = &tensors[index];
            p.string(&tensor.name);
            p.global("torch._utils", "_rebuild_tensor_v2");
            p.bytes.extend(b"((");
            p.string("storage");
            p.global("torch", storage);
            p.string(&tensor.storage);
            p.string("cpu");
            p.int(tensor.storage_len);
            p.bytes.push(b't');
            p.memoize();
            p.bytes.push(b'Q');
            p.int(tensor.offset);
            p.tuple(&tensor.shape);
            p.tuple(&tensor.strides);
            p.bytes.push(0x89);
            p.ordered_dict();
            p.bytes.push(b't');
            p.memoize();
            p.bytes.push(b'R');
            p.memoize();
        });
    }
    // The state dict's `_metadata`, set by BUILD: the version of each module, which are the
    // prefixes of the tensors' names here.
    let mut modules = vec![String::new()];
    for tensor in tensors {
        for (at, _) in tensor.name.match_indices('.') {
            if !modules.iter().any(|module| *module == tensor.name[..at]) {
                modules.push(tensor.name[..at].to_owned());
            }
        }
    }
    p.bytes.push(b'}');
    p.memoize();
    p.string("_metadata");
    p.ordered_dict();
    p.items(modules.len(), |p, index| {
        p.string(&modules[index]);
        p.bytes.push(b'}');
        p.memoize();
        p.items(1, |p, _| {
            p.string("version");
            p.int(1);
        });
    });
    p.bytes.extend(b"sb");
    if wrap.is_some() {
        p.bytes.push(b's');
    }
    p.bytes.push(b'.');
    p.bytes
}

/// torch.save's archive `archive/` around a pickle and its storages, its entries in torch.save's
/// order.
pub fn archive(pickle: &[u8], storages: &[(String, Vec<u8>)]) -> Vec<u8> {
    let entry = |name: &str, bytes: &[u8]| (format!("archive/{name}"), bytes.to_vec());
    let mut entries = vec![
        entry("data.pkl", pickle),
        entry(".format_version", b"1"),
        entry(".storage_alignment", b"64"),
        entry("byteorder", b"little"),
    ];
    entries.extend(storages.iter().map(|(key, bytes)| entry(&format!("data/{key}"), bytes)));
    entries.push(entry("version", b"3\n"));
    entries.push(entry(".data/serialization_id", b"0123456789012345678901234567890123456789"));
    zip(&entries)
}

/// Stored entries as PyTorch's miniz writes them: the local header without checksum or sizes
/// (flag 3: a data descriptor follows the data; flag 11: UTF-8 names), the central one with them.
pub fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut directory = Vec::new();
    for (name, data) in entries {
        let offset = bytes.len() as u32;
        // The padding field ("FB") brings the data to a multiple of 64 bytes.
        let unpadded = bytes.len() + 30 + name.len() + 4;
        let padding = (64 - unpadded % 64) % 64;
        let (crc, size) = (crc32fast::hash(data).to_le_bytes(), (data.len() as u32).to_le_bytes());
        // Versions, flags, method (stored), time and date.
        let versions_to_date = [0, 0, 0, 0, 0x08, 0x08, 0, 0, 0, 0, 0, 0];
        bytes.extend(0x0403_4b50u32.to_le_bytes());
        bytes.extend(&versions_to_date[2..]);
        bytes.extend([0; 12]);
        bytes.extend((name.len() as u16).to_le_bytes());
        bytes.extend(((4 + padding) as u16).to_le_bytes());
        bytes.extend(name.as_bytes());
        bytes.extend(b"FB");
        bytes.extend((padding as u16).to_le_bytes());
        bytes.extend(std::iter::repeat_n(b'Z', padding));
        bytes.extend(data);
        bytes.extend(0x0807_4b50u32.to_le_bytes());
        bytes.extend([crc, size, size].concat());

        directory.extend(0x0201_4b50u32.to_le_bytes());
        directory.extend(versions_to_date);
        directory.extend([crc, size, size].concat());
        directory.extend((name.len() as u16).to_le_bytes());
        directory.extend([0; 12]); // extra and comment lengths, disk, attributes
        directory.extend(offset.to_le_bytes());
        directory.extend(name.as_bytes());
    }
    let (start, size, count) = (bytes.len() as u64, directory.len() as u64, entries.len() as u64);
    bytes.extend(directory);
    let zip64_end = bytes.len() as u64;
    bytes.extend(0x0606_4b50u32.to_le_bytes());
    bytes.extend(44u64.to_le_bytes());
    bytes.extend([0x1e, 0x03, 0x2d, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]); // versions, disks
    [count, count, size, start].iter().for_each(|field| bytes.extend(field.to_le_bytes()));
    bytes.extend(0x0706_4b50u32.to_le_bytes());
    bytes.extend(0u32.to_le_bytes());
    bytes.extend(zip64_end.to_le_bytes());
    bytes.extend(1u32.to_le_bytes());
    bytes.extend(0x0605_4b50u32.to_le_bytes());
    bytes.extend([0; 4]);
    bytes.extend((count as u16).to_le_bytes());
    bytes.extend((count as u16).to_le_bytes());
    bytes.extend((size as u32).to_le_bytes());
    bytes.extend((start as u32).to_le_bytes());
    bytes.extend([0; 2]);
    bytes
}

/// A small Compact-shaped state dict (Real-ESRGAN's `body.N` names), in name order.
fn state_dict() -> Vec<NamedTensor> {
    let tensor = |name: &str, shape: &[usize]| {
        let count = shape.iter().product::<usize>();
        let values = (0..count).map(|i| ((i * 7 + name.len()) % 23) as f32 / 16.0 - 0.7).collect();
        NamedTensor { name: name.to_owned(), shape: shape.to_vec(), values }
    };
    vec![
        tensor("body.0.bias", &[4]),
        tensor("body.0.weight", &[4, 3, 3, 3]),
        tensor("body.1.weight", &[4]),
        tensor("body.2.bias", &[12]),
        tensor("body.2.weight", &[12, 4, 3, 3]),
    ]
}

fn renamed(tensors: &[NamedTensor], prefix: &str) -> Vec<NamedTensor> {
    tensors.iter().map(|t| NamedTensor { name: format!("{prefix}{}", t.name), ..t.clone() }).collect()
}

fn pth_refusal(bytes: &[u8]) -> String {
    pth::read(bytes).expect_err("must be refused").to_string()
}

fn safetensors_refusal(bytes: &[u8]) -> String {
    safetensors::read(bytes).expect_err("must be refused").to_string()
}

/// The central directory record of entry `name`.
fn central_record(bytes: &[u8], name: &str) -> usize {
    (0..bytes.len() - 46)
        .find(|&at| bytes[at..].starts_with(b"PK\x01\x02") && bytes[at + 46..].starts_with(name.as_bytes()))
        .expect("the entry is in the central directory")
}

/// The pickle torch.save (PyTorch 2.x) wrote for the state dict of `nn.Linear(3, 64)` named
/// `feature` and `nn.Linear(64, 10)` named `classifier`: `data.pkl` of burn-store 0.22.1's test
/// file `model_without_enum_variants.pt` (MIT or Apache-2.0).
const TORCH_SAVE_PICKLE: &[u8] =
    b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(X\x0e\x00\x00\x00feature.weightq\x02ctorch._utils\n_\
    rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05X\x01\x00\x00\x000\
    q\x06X\x03\x00\x00\x00cpuq\x07K\xc0tq\x08QK\x00K@K\x03\x86q\tK\x03K\x01\x86q\n\x89h\x00)Rq\x0btq\x0c\
    Rq\x0dX\x0c\x00\x00\x00feature.biasq\x0eh\x03((h\x04h\x05X\x01\x00\x00\x001q\x0fh\x07K@tq\x10QK\x00K\
    @\x85q\x11K\x01\x85q\x12\x89h\x00)Rq\x13tq\x14Rq\x15X\x11\x00\x00\x00classifier.weightq\x16h\x03((h\
    \x04h\x05X\x01\x00\x00\x002q\x17h\x07M\x80\x02tq\x18QK\x00K\nK@\x86q\x19K@K\x01\x86q\x1a\x89h\x00)Rq\
    \x1btq\x1cRq\x1dX\x0f\x00\x00\x00classifier.biasq\x1eh\x03((h\x04h\x05X\x01\x00\x00\x003q\x1fh\x07K\
    \ntq QK\x00K\n\x85q!K\x01\x85q\"\x89h\x00)Rq#tq$Rq%u}q&X\t\x00\x00\x00_metadataq'h\x00)Rq((X\x00\x00\
    \x00\x00q)}q*X\x07\x00\x00\x00versionq+K\x01sX\x07\x00\x00\x00featureq,}q-h+K\x01sX\n\x00\x00\x00cla\
    ssifierq.}q/h+K\x01susb.";

#[test]
fn writer_matches_torch_save_byte_for_byte_and_the_reader_reads_it() {
    let linear = |name: &str, storage: usize, shape: &[usize]| TorchTensor {
        name: name.to_owned(),
        storage: storage.to_string(),
        storage_len: shape.iter().product(),
        offset: 0,
        shape: shape.to_vec(),
        strides: contiguous(shape),
    };
    let tensors = [
        linear("feature.weight", 0, &[64, 3]),
        linear("feature.bias", 1, &[64]),
        linear("classifier.weight", 2, &[10, 64]),
        linear("classifier.bias", 3, &[10]),
    ];
    assert_eq!(pickle(&tensors, "FloatStorage", None), TORCH_SAVE_PICKLE);

    let storages: Vec<_> = tensors
        .iter()
        .map(|t| (t.storage.clone(), (0..t.storage_len).flat_map(|v| (v as f32).to_le_bytes()).collect()))
        .collect();
    let read = pth::read(&archive(TORCH_SAVE_PICKLE, &storages)).unwrap();
    let names: Vec<_> = read.iter().map(|t| (t.name.as_str(), t.shape.as_slice())).collect();
    assert_eq!(
        names,
        [
            ("feature.weight", &[64, 3][..]),
            ("feature.bias", &[64][..]),
            ("classifier.weight", &[10, 64][..]),
            ("classifier.bias", &[10][..])
        ]
    );
    assert_eq!(read[2].values[639], 639.0);
}

#[test]
fn pth_round_trips_in_fp32_and_fp16_plain_or_nested() {
    let tensors = state_dict();
    assert_eq!(pth::read(&write_pth(&tensors, false, None)).unwrap(), tensors);
    assert_eq!(pth::read(&write_pth(&tensors, false, Some("params_ema"))).unwrap(), renamed(&tensors, "params_ema."));

    let halved: Vec<_> = tensors
        .iter()
        .map(|t| NamedTensor {
            values: t.values.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect(),
            ..t.clone()
        })
        .collect();
    assert_eq!(pth::read(&write_pth(&tensors, true, Some("params"))).unwrap(), renamed(&halved, "params."));
}

#[test]
fn pth_reads_views_of_shared_storages_by_stride() {
    // A 3×2 transposed view and a 2-value slice of one storage of 6 values.
    let view = |name: &str, offset, shape: &[usize], strides: &[usize]| TorchTensor {
        name: name.to_owned(),
        storage: "0".to_owned(),
        storage_len: 6,
        offset,
        shape: shape.to_vec(),
        strides: strides.to_vec(),
    };
    let views = [view("t", 0, &[3, 2], &[1, 3]), view("s", 4, &[2], &[1])];
    let storage: Vec<u8> = (0..6).flat_map(|v| (v as f32).to_le_bytes()).collect();
    let read = pth::read(&archive(&pickle(&views, "FloatStorage", None), &[("0".to_owned(), storage)])).unwrap();
    assert_eq!(read[0], NamedTensor { name: "t".into(), shape: vec![3, 2], values: vec![0., 3., 1., 4., 2., 5.] });
    assert_eq!(read[1], NamedTensor { name: "s".into(), shape: vec![2], values: vec![4., 5.] });
}

#[test]
fn safetensors_round_trip_the_same_tensors_as_pth() {
    let tensors = state_dict();
    let bytes = safetensors::write(&tensors);
    assert_eq!(safetensors::read(&bytes).unwrap(), tensors);
    // Whatever order the tensors come in, the same bytes.
    let mut reversed = tensors.clone();
    reversed.reverse();
    assert_eq!(safetensors::write(&reversed), bytes);
    let from_pth = pth::read(&write_pth(&tensors, false, None)).unwrap();
    assert_eq!(safetensors::read(&safetensors::write(&from_pth)).unwrap(), tensors);
}

#[test]
fn safetensors_converts_f16_bf16_and_f64() {
    let file = |dtype: &str, data: Vec<u8>| {
        let header = format!(r#"{{"w":{{"dtype":"{dtype}","shape":[2],"data_offsets":[0,{}]}}}}"#, data.len());
        [&(header.len() as u64).to_le_bytes()[..], header.as_bytes(), &data].concat()
    };
    let values = [0.5f32, -2.0];
    let f16 = values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
    let bf16 = values.iter().flat_map(|&v| half::bf16::from_f32(v).to_le_bytes()).collect();
    let f64 = values.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect();
    for bytes in [file("F16", f16), file("BF16", bf16), file("F64", f64)] {
        assert_eq!(safetensors::read(&bytes).unwrap()[0].values, values);
    }
}

#[test]
fn pth_with_zip64_sizes_in_its_end_record_is_read() {
    // The end record saturated, its values in the zip64 record only, as a large archive has them.
    let tensors = state_dict();
    let mut bytes = write_pth(&tensors, false, None);
    let end = bytes.len() - 22;
    bytes[end + 8..end + 20].fill(0xFF);
    assert_eq!(pth::read(&bytes).unwrap(), tensors);
}

#[test]
fn hostile_pth_files_are_refused_saying_why() {
    let good = write_pth(&state_dict(), false, Some("params"));

    // Every truncation, from nothing to one byte short.
    for len in 0..good.len() {
        pth::read(&good[..len]).expect_err("a truncated file must be refused");
    }
    assert!(pth_refusal(&good[..good.len() / 2]).contains("truncated"));
    assert!(pth_refusal(b"").contains("not a zip archive"));
    assert!(pth_refusal(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.").contains("legacy .pth format (PyTorch < 1.6)"));

    // A deflated entry, in the central directory (where the reader looks).
    let mut compressed = good.clone();
    let record = central_record(&compressed, "archive/data/0");
    compressed[record + 10] = 8;
    let message = pth_refusal(&compressed);
    assert!(message.contains("archive/data/0 is compressed"), "{message}");

    // A flipped bit in a storage.
    let mut damaged = good.clone();
    let data = damaged.windows(16).position(|w| w.starts_with(b"archive/data/1FB")).unwrap() + 100;
    damaged[data] ^= 1;
    assert!(pth_refusal(&damaged).contains("checksum"));

    // Big-endian storages.
    let empty = pickle(&[], "FloatStorage", None);
    let big = zip(&[("archive/data.pkl".to_owned(), empty), ("archive/byteorder".to_owned(), b"big".to_vec())]);
    assert!(pth_refusal(&big).contains("big-endian"));

    // A pickle that runs a shell command.
    let shell = archive(b"\x80\x02cposix\nsystem\nX\x05\x00\x00\x00rm -rq\x00\x85R.", &[]);
    let message = pth_refusal(&shell);
    assert!(message.contains("calls posix.system, which upres never runs"), "{message}");
    let eval = archive(b"\x80\x02cbuiltins\neval\nX\x01\x00\x00\x001\x85R.", &[]);
    assert!(pth_refusal(&eval).contains("calls builtins.eval"));

    let view = |storage: &str, storage_len, shape: &[usize], strides: &[usize]| TorchTensor {
        name: "body.0.weight".to_owned(),
        storage: storage.to_owned(),
        storage_len,
        offset: 0,
        shape: shape.to_vec(),
        strides: strides.to_vec(),
    };
    let file = |tensor: TorchTensor| {
        archive(&pickle(&[tensor], "FloatStorage", Some("params")), &[("0".to_owned(), vec![0; 36])])
    };
    // 10⁹ values, claimed by the tensor and by its storage.
    let message = pth_refusal(&file(view("0", 1_000_000_000, &[1_000_000_000], &[1])));
    assert!(message.contains("over the limit of 16777216 values"), "{message}");
    let message = pth_refusal(&file(view("0", 1_000_000_000, &[9], &[1])));
    assert!(message.contains("should hold 1000000000 values but has 36 bytes"), "{message}");
    // A stride reaching past the storage; a storage the archive lacks.
    let message = pth_refusal(&file(view("0", 9, &[3, 3], &[3, 2])));
    assert!(message.contains("params.body.0.weight") && message.contains("reaches past the end"), "{message}");
    let message = pth_refusal(&file(view("7", 9, &[9], &[1])));
    assert!(message.contains("stored in data/7, which the archive lacks"), "{message}");
    // Integer tensors.
    let longs = archive(&pickle(&[view("0", 9, &[9], &[1])], "LongStorage", None), &[]);
    assert!(pth_refusal(&longs).contains("only float tensors"));
}

#[test]
fn hostile_safetensors_files_are_refused_saying_why() {
    let good = safetensors::write(&state_dict());
    for len in 0..good.len() {
        safetensors::read(&good[..len]).expect_err("a truncated file must be refused");
    }

    let file = |header: &str, data: &[u8]| [&(header.len() as u64).to_le_bytes()[..], header.as_bytes(), data].concat();
    let message = safetensors_refusal(&[&(1u64 << 60).to_le_bytes()[..], b"{}"].concat());
    assert!(message.contains("header claims 1152921504606846976 bytes, over the 16777216"), "{message}");
    let message = safetensors_refusal(&(1u64 << 20).to_le_bytes());
    assert!(message.contains("truncated"), "{message}");
    let past_end = file(r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, &[0; 8]);
    let message = safetensors_refusal(&past_end);
    assert!(message.contains("do not end where the file does"), "{message}");
    let far_past_end = file(r#"{"w":{"dtype":"F32","shape":[268435456],"data_offsets":[0,1073741824]}}"#, &[0; 8]);
    assert!(safetensors_refusal(&far_past_end).contains("do not end where the file does"));
    let longs = file(r#"{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, &[0; 8]);
    let message = safetensors_refusal(&longs);
    assert!(message.contains("the tensor n is I64: only float tensors"), "{message}");
    let message = safetensors_refusal(&file("not json", &[]));
    assert!(message.contains("not a valid .safetensors file"), "{message}");
}
