//! 7z archives written byte by byte (the layout of 7-Zip's 7zFormat.txt),
//! for tests that need what no 7z tool writes: a blank start header, a
//! header that decodes to more than any bound, coders we do not decode.
//! Shared by src/attachments/tests.rs, tests/hostile.rs and the archive
//! fuzz target; each uses a part of it.
#![allow(dead_code)]

use std::io::Write;

pub const COPY: &[u8] = &[0x00];
pub const LZMA2: &[u8] = &[0x21];
pub const AES: &[u8] = &[0x06, 0xF1, 0x07, 0x01];
/// LZMA2's dictionary byte for 1 MiB: (2 | (b & 1)) << (b / 2 + 11).
pub const DICT_1M: u8 = 16;

const K_END: u8 = 0x00;
const K_HEADER: u8 = 0x01;
const K_MAIN_STREAMS_INFO: u8 = 0x04;
const K_FILES_INFO: u8 = 0x05;
const K_PACK_INFO: u8 = 0x06;
const K_UNPACK_INFO: u8 = 0x07;
const K_SUBSTREAMS_INFO: u8 = 0x08;
const K_SIZE: u8 = 0x09;
const K_FOLDER: u8 = 0x0B;
const K_CODERS_UNPACK_SIZE: u8 = 0x0C;
const K_NAME: u8 = 0x11;
const K_ENCODED_HEADER: u8 = 0x17;

/// A 7z number in its widest form, 0xFF and eight bytes little-endian:
/// readers accept it, and it keeps small values from looking like the
/// property ids the end-header guessing looks for.
pub fn number(v: u64) -> Vec<u8> {
    let mut b = vec![0xFF];
    b.extend(v.to_le_bytes());
    b
}

pub struct Coder<'a> {
    pub id: &'a [u8],
    pub props: &'a [u8],
}

/// Pack info and unpack info for one packed stream at `pack_pos` (from the
/// end of the signature header) read by one block of `coders`: the first
/// gives the block's output, each reads the next one's, the last reads the
/// packed stream. `unpack_sizes` has one size per coder, in that order.
pub fn streams_info(
    pack_pos: u64,
    pack_size: u64,
    coders: &[Coder],
    unpack_sizes: &[u64],
) -> Vec<u8> {
    let mut b = vec![K_PACK_INFO];
    b.extend(number(pack_pos));
    b.extend(number(1));
    b.push(K_SIZE);
    b.extend(number(pack_size));
    b.push(K_END);
    b.extend([K_UNPACK_INFO, K_FOLDER]);
    b.extend(number(1));
    b.push(0); // not external
    b.extend(number(coders.len() as u64));
    for c in coders {
        let attrs = if c.props.is_empty() { 0 } else { 0x20 };
        b.push(c.id.len() as u8 | attrs);
        b.extend(c.id);
        if !c.props.is_empty() {
            b.extend(number(c.props.len() as u64));
            b.extend(c.props);
        }
    }
    for i in 1..coders.len() as u64 {
        // Coder i-1's input stream is coder i's output stream.
        b.extend(number(i - 1));
        b.extend(number(i));
    }
    b.push(K_CODERS_UNPACK_SIZE);
    for s in unpack_sizes {
        b.extend(number(*s));
    }
    b.push(K_END);
    b.push(K_END);
    b
}

/// Files info naming `names`, the first of which owns the one stream.
pub fn files_info(names: &[&str]) -> Vec<u8> {
    let mut b = vec![K_FILES_INFO];
    b.extend(number(names.len() as u64));
    let mut n = vec![0u8]; // not external
    for name in names {
        for u in name.encode_utf16() {
            n.extend(u.to_le_bytes());
        }
        n.extend([0, 0]);
    }
    b.push(K_NAME);
    b.extend(number(n.len() as u64));
    b.extend(n);
    b.push(K_END);
    b
}

/// A plain (not encoded) header: the streams of [`streams_info`], given
/// the (empty: one stream per block) substreams info that files need, then
/// the files.
pub fn header(streams: &[u8], files: &[u8]) -> Vec<u8> {
    let mut b = vec![K_HEADER, K_MAIN_STREAMS_INFO];
    let (end, unpack) = streams.split_last().expect("streams info");
    b.extend(unpack);
    b.extend([K_SUBSTREAMS_INFO, K_END, *end]);
    b.extend(files);
    b.push(K_END);
    b
}

/// An encoded header: the streams that decode to the real header.
pub fn encoded_header(streams: &[u8]) -> Vec<u8> {
    let mut b = vec![K_ENCODED_HEADER];
    b.extend(streams);
    b
}

/// The signature header naming `next` at `offset` with a correct CRC.
pub fn signature(offset: u64, next: &[u8]) -> Vec<u8> {
    let mut start = offset.to_le_bytes().to_vec();
    start.extend((next.len() as u64).to_le_bytes());
    start.extend(crc32(next).to_le_bytes());
    let mut b = b"7z\xBC\xAF\x27\x1C\x00\x04".to_vec();
    b.extend(crc32(&start).to_le_bytes());
    b.extend(start);
    b
}

/// An archive: signature header, `packed`, then `header`.
pub fn archive(packed: &[u8], header: &[u8]) -> Vec<u8> {
    let mut b = signature(packed.len() as u64, header);
    b.extend(packed);
    b.extend(header);
    b
}

pub fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

/// An LZMA2 stream (1 MiB dictionary) of `prefix` followed by zeros up to
/// `total` bytes, without holding the zeros.
pub fn lzma2_zeros(prefix: &[u8], total: u64) -> Vec<u8> {
    let mut opts = lzma_rust2::Lzma2Options::with_preset(1);
    opts.lzma_options.dict_size = 1 << 20;
    let mut w = lzma_rust2::Lzma2Writer::new(Vec::new(), opts);
    w.write_all(prefix).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = total - prefix.len() as u64;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        w.write_all(&zeros[..n]).unwrap();
        left -= n as u64;
    }
    w.finish().unwrap()
}

/// An archive whose encoded header decodes to `unpack` bytes: an empty
/// header, then zeros. The decompression bomb of issue 19.
pub fn header_bomb(unpack: u64) -> Vec<u8> {
    let packed = lzma2_zeros(&[K_HEADER, K_END], unpack);
    let coder = Coder {
        id: LZMA2,
        props: &[DICT_1M],
    };
    let streams = streams_info(0, packed.len() as u64, &[coder], &[unpack]);
    archive(&packed, &encoded_header(&streams))
}

/// The end-header guessing bait of issue 19: a blank start header, one LZMA2
/// stream that decodes to an empty header and `unpack` - 2 zeros, then
/// `records` encoded headers that all point at it. sevenz-rust2 tries every
/// record from the end, decoding the stream again for each.
pub fn guessing_bait(records: usize, unpack: u64) -> Vec<u8> {
    let mut packed = lzma2_zeros(&[K_HEADER, K_END], unpack);
    // Past the stream's end marker; padded so that its size holds no byte
    // the guessing would take for a header of its own.
    while number(packed.len() as u64)
        .iter()
        .any(|b| matches!(*b, K_HEADER | K_ENCODED_HEADER))
    {
        packed.push(0);
    }
    let coder = Coder {
        id: LZMA2,
        props: &[DICT_1M],
    };
    let record = encoded_header(&streams_info(0, packed.len() as u64, &[coder], &[unpack]));
    // Inside a record, a 0x01 must read as an empty header (0x01 0x00) and
    // no 0x17 may appear, or the guessing stops at the first error.
    for (i, b) in record.iter().enumerate().skip(1) {
        assert!(*b != K_ENCODED_HEADER, "0x17 at {i} of the record");
        assert!(
            *b != K_HEADER || record[i + 1] == K_END,
            "0x01 at {i} of the record"
        );
    }
    let mut b = b"7z\xBC\xAF\x27\x1C\x00\x04".to_vec();
    b.resize(32, 0);
    b.extend(&packed);
    for _ in 0..records {
        b.extend(&record);
    }
    b
}

/// An archive holding `name`, stored (copy coder), `data` its content.
pub fn stored(name: &str, data: &[u8]) -> Vec<u8> {
    let coder = Coder {
        id: COPY,
        props: &[],
    };
    let n = data.len() as u64;
    let streams = streams_info(0, n, &[coder], &[n]);
    archive(data, &header(&streams, &files_info(&[name])))
}
