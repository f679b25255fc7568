//! IDX files (MNIST, Fashion-MNIST), gzipped or not: a magic number naming the element type
//! and rank, big-endian dimension sizes, then the raw elements.

use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes (the only element type image/label files use).
#[derive(Debug, Clone)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Read an IDX file; `.gz` content is detected by its magic bytes, not by the name.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw =
        std::fs::read(path).with_context(|| format!("{}: cannot read IDX file", path.display()))?;
    parse_idx(&raw, &path.display().to_string())
}

/// Parse IDX bytes (gzipped or not); `origin` names them in errors.
pub fn parse_idx(raw: &[u8], origin: &str) -> Result<IdxArray> {
    let bytes: std::borrow::Cow<[u8]> = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw)
            .read_to_end(&mut out)
            .with_context(|| format!("{origin}: corrupt gzip stream"))?;
        out.into()
    } else {
        raw.into()
    };
    if bytes.len() < 4 {
        bail!(
            "{origin}: too short for an IDX header ({} bytes)",
            bytes.len()
        );
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        bail!(
            "{origin}: wrong IDX magic {:02x} {:02x} {:02x} {:02x} (expected 00 00 08 <rank>)",
            bytes[0],
            bytes[1],
            bytes[2],
            bytes[3]
        );
    }
    if bytes[2] != 0x08 {
        bail!(
            "{origin}: IDX element type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
            bytes[2]
        );
    }
    let rank = bytes[3] as usize;
    if rank == 0 || rank > 4 {
        bail!("{origin}: IDX rank {rank} is not supported (1 to 4)");
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        bail!(
            "{origin}: truncated IDX header (rank {rank} needs {header} bytes, file has {})",
            bytes.len()
        );
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    // Checked product: a corrupt header must not ask for an absurd allocation.
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .with_context(|| format!("{origin}: IDX dimensions {dims:?} overflow"))?;
    let have = bytes.len() - header;
    if have != count {
        bail!("{origin}: IDX header declares {dims:?} = {count} bytes of data but the file holds {have}");
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Encode an IDX array of bytes (used to write the bundled subset).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Find `stem` or `stem.gz` in `dir` (Debian ships gzipped, other mirrors do not).
pub fn find_idx_file(dir: &Path, stem: &str) -> Option<std::path::PathBuf> {
    [stem.to_string(), format!("{stem}.gz")]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_plain_and_gzip() {
        let data: Vec<u8> = (0..24).collect();
        let raw = encode_idx(&[2, 3, 4], &data);
        let a = parse_idx(&raw, "x").unwrap();
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, data);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let a = parse_idx(&gz.finish().unwrap(), "x").unwrap();
        assert_eq!(a.data, data);
    }

    #[test]
    fn rejects_bad_magic_and_size_lies() {
        let mut raw = encode_idx(&[2, 2], &[1, 2, 3, 4]);
        raw[2] = 0x0d;
        assert!(parse_idx(&raw, "f.idx")
            .unwrap_err()
            .to_string()
            .contains("f.idx"));
        let raw = encode_idx(&[1_000_000, 1_000_000], &[1, 2, 3]);
        let e = parse_idx(&raw, "big").unwrap_err().to_string();
        assert!(e.contains("declares"), "{e}");
        assert!(parse_idx(&[0x50, 0x4b, 3, 4, 0], "zip")
            .unwrap_err()
            .to_string()
            .contains("wrong IDX magic"));
    }
}
