//! The ZTDF container: a stored (uncompressed) ZIP64 archive holding `0.payload`
//! (written with a data descriptor, so it streams) followed by `0.manifest.json`.
//!
//! Written here, not with a zip crate, because the format needed is small and the
//! reader must be strict: it takes the central directory as the truth, checks every
//! local header against it, refuses overlapping or out-of-bounds entries, compressed
//! entries, and sizes that lie, and never allocates from a size it read.

use crate::Error;
use std::io::{Read, Seek, SeekFrom, Write};

/// Name of the payload entry.
pub const PAYLOAD_NAME: &str = "0.payload";
/// Name of the manifest entry.
pub const MANIFEST_NAME: &str = "0.manifest.json";
/// Largest manifest accepted (and written).
pub const MAX_MANIFEST: u64 = 10 * 1024 * 1024;
/// Most central-directory entries read.
const MAX_ENTRIES: u64 = 64;
/// Largest central directory read.
const MAX_CD: u64 = 64 * 1024;

const LOCAL_SIG: u32 = 0x0403_4b50;
const DD_SIG: u32 = 0x0807_4b50;
const CD_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const Z64_EOCD_SIG: u32 = 0x0606_4b50;
const Z64_LOC_SIG: u32 = 0x0706_4b50;
const VERSION: u16 = 45; // ZIP64
const FLAG_DD: u16 = 0x0008;
const FLAG_UTF8: u16 = 0x0800;
/// 1980-01-01 00:00 in MS-DOS date/time: fixed so containers are reproducible.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;

fn bad(msg: impl Into<String>) -> Error {
    Error::Container(msg.into())
}

/// Streams a container: call [`ZipWriter::start`], write payload bytes with
/// [`ZipWriter::write_payload`], then [`ZipWriter::finish`] with the manifest.
pub struct ZipWriter<W: Write> {
    out: W,
    written: u64,
    payload_size: u64,
    crc: crc32fast::Hasher,
}

impl<W: Write> ZipWriter<W> {
    /// Write the payload's local header (sizes deferred to the data descriptor).
    pub fn start(mut out: W) -> Result<Self, Error> {
        let mut h = Vec::with_capacity(64);
        put32(&mut h, LOCAL_SIG);
        put16(&mut h, VERSION);
        put16(&mut h, FLAG_DD | FLAG_UTF8);
        put16(&mut h, 0); // stored
        put16(&mut h, DOS_TIME);
        put16(&mut h, DOS_DATE);
        put32(&mut h, 0); // crc in data descriptor
        put32(&mut h, u32::MAX); // sizes in ZIP64 extra / data descriptor
        put32(&mut h, u32::MAX);
        put16(&mut h, PAYLOAD_NAME.len() as u16);
        put16(&mut h, 20);
        h.extend_from_slice(PAYLOAD_NAME.as_bytes());
        put16(&mut h, 0x0001); // ZIP64 extended information
        put16(&mut h, 16);
        put64(&mut h, 0);
        put64(&mut h, 0);
        out.write_all(&h)
            .map_err(|e| Error::io("writing the container", e))?;
        Ok(ZipWriter {
            out,
            written: h.len() as u64,
            payload_size: 0,
            crc: crc32fast::Hasher::new(),
        })
    }

    /// Bytes written so far: the container offset of the next byte.
    pub fn position(&self) -> u64 {
        self.written
    }

    /// Append payload bytes, with their CRC-32 computed elsewhere (in parallel).
    pub fn write_payload_with_crc(&mut self, data: &[u8], crc: u32) -> Result<(), Error> {
        self.out
            .write_all(data)
            .map_err(|e| Error::io("writing the container", e))?;
        self.crc.combine(&{
            let mut h = crc32fast::Hasher::new_with_initial_len(crc, data.len() as u64);
            // `combine` only needs the state; no bytes are hashed here.
            h.update(&[]);
            h
        });
        self.written += data.len() as u64;
        self.payload_size += data.len() as u64;
        Ok(())
    }

    /// Append payload bytes.
    pub fn write_payload(&mut self, data: &[u8]) -> Result<(), Error> {
        let mut h = crc32fast::Hasher::new();
        h.update(data);
        self.write_payload_with_crc(data, h.finalize())
    }

    /// Write the data descriptor, the manifest entry, the central directory and the
    /// end records; return the inner writer.
    pub fn finish(mut self, manifest: &[u8]) -> Result<W, Error> {
        if manifest.len() as u64 > MAX_MANIFEST {
            return Err(Error::Manifest(format!(
                "manifest is {} bytes, over the {MAX_MANIFEST}-byte limit",
                manifest.len()
            )));
        }
        let payload_crc = self.crc.clone().finalize();
        let mut b = Vec::with_capacity(manifest.len() + 512);
        // ZIP64 data descriptor.
        put32(&mut b, DD_SIG);
        put32(&mut b, payload_crc);
        put64(&mut b, self.payload_size);
        put64(&mut b, self.payload_size);
        let manifest_offset = self.written + b.len() as u64;
        let mut mh = crc32fast::Hasher::new();
        mh.update(manifest);
        let manifest_crc = mh.finalize();
        put32(&mut b, LOCAL_SIG);
        put16(&mut b, VERSION);
        put16(&mut b, FLAG_UTF8);
        put16(&mut b, 0);
        put16(&mut b, DOS_TIME);
        put16(&mut b, DOS_DATE);
        put32(&mut b, manifest_crc);
        put32(&mut b, manifest.len() as u32);
        put32(&mut b, manifest.len() as u32);
        put16(&mut b, MANIFEST_NAME.len() as u16);
        put16(&mut b, 0);
        b.extend_from_slice(MANIFEST_NAME.as_bytes());
        b.extend_from_slice(manifest);
        let cd_offset = self.written + b.len() as u64;
        let cd_start = b.len();
        // Central directory: payload (always ZIP64), then manifest.
        central(
            &mut b,
            PAYLOAD_NAME,
            FLAG_DD | FLAG_UTF8,
            payload_crc,
            self.payload_size,
            0,
            true,
        );
        central(
            &mut b,
            MANIFEST_NAME,
            FLAG_UTF8,
            manifest_crc,
            manifest.len() as u64,
            manifest_offset,
            manifest_offset >= u32::MAX as u64,
        );
        let cd_size = (b.len() - cd_start) as u64;
        let z64_eocd_offset = self.written + b.len() as u64;
        put32(&mut b, Z64_EOCD_SIG);
        put64(&mut b, 44);
        put16(&mut b, VERSION);
        put16(&mut b, VERSION);
        put32(&mut b, 0);
        put32(&mut b, 0);
        put64(&mut b, 2);
        put64(&mut b, 2);
        put64(&mut b, cd_size);
        put64(&mut b, cd_offset);
        put32(&mut b, Z64_LOC_SIG);
        put32(&mut b, 0);
        put64(&mut b, z64_eocd_offset);
        put32(&mut b, 1);
        put32(&mut b, EOCD_SIG);
        put16(&mut b, 0);
        put16(&mut b, 0);
        put16(&mut b, 2);
        put16(&mut b, 2);
        put32(&mut b, cd_size as u32);
        put32(&mut b, u32::MAX); // see ZIP64 end record
        put16(&mut b, 0);
        self.out
            .write_all(&b)
            .map_err(|e| Error::io("writing the container", e))?;
        self.out
            .flush()
            .map_err(|e| Error::io("writing the container", e))?;
        Ok(self.out)
    }
}

fn central(b: &mut Vec<u8>, name: &str, flags: u16, crc: u32, size: u64, offset: u64, zip64: bool) {
    put32(b, CD_SIG);
    put16(b, VERSION | 0x0300); // made by: UNIX, 4.5
    put16(b, VERSION);
    put16(b, flags);
    put16(b, 0);
    put16(b, DOS_TIME);
    put16(b, DOS_DATE);
    put32(b, crc);
    let extra_len = if zip64 { 4 + 24 } else { 0 };
    let (s32, o32) = if zip64 {
        (u32::MAX, u32::MAX)
    } else {
        (size as u32, offset as u32)
    };
    put32(b, s32);
    put32(b, s32);
    put16(b, name.len() as u16);
    put16(b, extra_len);
    put16(b, 0); // comment
    put16(b, 0); // disk
    put16(b, 0); // internal attributes
    put32(b, 0o100644 << 16); // external attributes: regular file 0644
    put32(b, o32);
    b.extend_from_slice(name.as_bytes());
    if zip64 {
        put16(b, 0x0001);
        put16(b, 24);
        put64(b, size);
        put64(b, size);
        put64(b, offset);
    }
}

fn put16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

struct Cur<'a> {
    b: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Cur<'a> {
    fn new(b: &'a [u8], what: &'static str) -> Self {
        Cur { b, at: 0, what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| bad(format!("{} is truncated", self.what)))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, Error> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, Error> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

/// Where an entry's bytes are in the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntrySpan {
    /// Offset of the local header.
    pub header_offset: u64,
    /// Offset of the first data byte.
    pub data_offset: u64,
    /// Data length.
    pub size: u64,
}

/// The two entries of a container, located and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// `0.payload`.
    pub payload: EntrySpan,
    /// `0.manifest.json`.
    pub manifest: EntrySpan,
    /// Total container length.
    pub file_size: u64,
}

fn read_at<R: Read + Seek>(r: &mut R, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
    r.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io("reading the container", e))?;
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            bad(format!(
                "container is truncated (reading {} bytes at offset {offset})",
                buf.len()
            ))
        } else {
            Error::io("reading the container", e)
        }
    })
}

struct CdEntry {
    name: Vec<u8>,
    method: u16,
    flags: u16,
    comp: u64,
    uncomp: u64,
    offset: u64,
}

/// Locate and check the payload and manifest entries of a container.
pub fn read_layout<R: Read + Seek>(r: &mut R) -> Result<Layout, Error> {
    let file_size = r
        .seek(SeekFrom::End(0))
        .map_err(|e| Error::io("reading the container", e))?;
    if file_size < 22 {
        return Err(bad(format!(
            "{file_size} bytes is too short to be a ZIP container"
        )));
    }
    // Find the end of central directory record (after at most a 64 KiB comment).
    let tail_len = file_size.min(22 + 65_535);
    let mut tail = vec![0u8; tail_len as usize];
    read_at(r, file_size - tail_len, &mut tail)?;
    let eocd_pos = (0..=tail.len() - 22)
        .rev()
        .find(|&i| tail[i..i + 4] == EOCD_SIG.to_le_bytes())
        .ok_or_else(|| {
            bad("no ZIP end of central directory record (not a ZIP file, or truncated)")
        })?;
    let eocd_offset = file_size - tail_len + eocd_pos as u64;
    let mut c = Cur::new(&tail[eocd_pos..], "end of central directory record");
    c.u32()?;
    let disk = c.u16()?;
    let cd_disk = c.u16()?;
    let n_disk = c.u16()?;
    let n_total = c.u16()?;
    let cd_size32 = c.u32()?;
    let cd_off32 = c.u32()?;
    if disk != 0 || cd_disk != 0 || n_disk != n_total {
        return Err(bad("multi-disk ZIP archives are not supported"));
    }
    let (mut entries, mut cd_size, mut cd_offset) =
        (n_total as u64, cd_size32 as u64, cd_off32 as u64);
    let mut cd_end_limit = eocd_offset;
    if n_total == u16::MAX || cd_size32 == u32::MAX || cd_off32 == u32::MAX {
        if eocd_offset < 20 {
            return Err(bad("ZIP64 end of central directory locator is missing"));
        }
        let mut loc = [0u8; 20];
        read_at(r, eocd_offset - 20, &mut loc)?;
        let mut c = Cur::new(&loc, "ZIP64 end of central directory locator");
        if c.u32()? != Z64_LOC_SIG {
            return Err(bad("ZIP64 end of central directory locator is missing"));
        }
        c.u32()?;
        let z64_off = c.u64()?;
        if z64_off.checked_add(56).is_none_or(|e| e > eocd_offset - 20) {
            return Err(bad(
                "ZIP64 end of central directory record offset is out of bounds",
            ));
        }
        let mut rec = [0u8; 56];
        read_at(r, z64_off, &mut rec)?;
        let mut c = Cur::new(&rec, "ZIP64 end of central directory record");
        if c.u32()? != Z64_EOCD_SIG {
            return Err(bad(
                "ZIP64 end of central directory record signature is wrong",
            ));
        }
        c.u64()?;
        c.u16()?;
        c.u16()?;
        let (d, cdd) = (c.u32()?, c.u32()?);
        let (nd, nt) = (c.u64()?, c.u64()?);
        if d != 0 || cdd != 0 || nd != nt {
            return Err(bad("multi-disk ZIP archives are not supported"));
        }
        entries = nt;
        cd_size = c.u64()?;
        cd_offset = c.u64()?;
        cd_end_limit = z64_off;
    }
    if entries > MAX_ENTRIES {
        return Err(bad(format!("{entries} entries; a sealed object has 2")));
    }
    if cd_size > MAX_CD {
        return Err(bad(format!(
            "central directory of {cd_size} bytes is too large"
        )));
    }
    if cd_offset
        .checked_add(cd_size)
        .is_none_or(|e| e > cd_end_limit)
    {
        return Err(bad("central directory lies outside the file"));
    }
    let mut cd = vec![0u8; cd_size as usize];
    read_at(r, cd_offset, &mut cd)?;
    let mut c = Cur::new(&cd, "central directory");
    let mut list = Vec::new();
    for i in 0..entries {
        if c.u32()? != CD_SIG {
            return Err(bad(format!(
                "central directory entry {i} has a wrong signature"
            )));
        }
        c.take(4)?; // versions
        let flags = c.u16()?;
        let method = c.u16()?;
        c.take(8)?; // time, date, crc
        let mut comp = c.u32()? as u64;
        let mut uncomp = c.u32()? as u64;
        let name_len = c.u16()? as usize;
        let extra_len = c.u16()? as usize;
        let comment_len = c.u16()? as usize;
        c.take(8)?; // disk, attributes
        let mut offset = c.u32()? as u64;
        let name = c.take(name_len)?.to_vec();
        let extra = c.take(extra_len)?;
        c.take(comment_len)?;
        let mut e = Cur::new(extra, "ZIP64 extra field");
        while e.at + 4 <= extra.len() {
            let id = e.u16()?;
            let len = e.u16()? as usize;
            let body = e.take(len)?;
            if id == 0x0001 {
                let mut z = Cur::new(body, "ZIP64 extra field");
                if uncomp == u32::MAX as u64 {
                    uncomp = z.u64()?;
                }
                if comp == u32::MAX as u64 {
                    comp = z.u64()?;
                }
                if offset == u32::MAX as u64 {
                    offset = z.u64()?;
                }
            }
        }
        list.push(CdEntry {
            name,
            method,
            flags,
            comp,
            uncomp,
            offset,
        });
    }
    let find = |name: &str| -> Result<&CdEntry, Error> {
        let mut it = list.iter().filter(|e| e.name == name.as_bytes());
        let e = it
            .next()
            .ok_or_else(|| bad(format!("entry `{name}` is missing")))?;
        if it.next().is_some() {
            return Err(bad(format!("entry `{name}` appears twice")));
        }
        Ok(e)
    };
    let payload = find(PAYLOAD_NAME)?;
    let manifest = find(MANIFEST_NAME)?;
    let mut spans = Vec::new();
    for (name, e) in [(PAYLOAD_NAME, payload), (MANIFEST_NAME, manifest)] {
        if e.method != 0 {
            return Err(bad(format!(
                "entry `{name}` is compressed (method {}); sealed objects are stored",
                e.method
            )));
        }
        if e.flags & 0x0001 != 0 {
            return Err(bad(format!("entry `{name}` uses ZIP encryption")));
        }
        if e.comp != e.uncomp {
            return Err(bad(format!(
                "entry `{name}` is stored but its sizes differ"
            )));
        }
        let mut lh = [0u8; 30];
        if e.offset.checked_add(30).is_none_or(|x| x > cd_offset) {
            return Err(bad(format!(
                "entry `{name}` local header lies outside the file"
            )));
        }
        read_at(r, e.offset, &mut lh)?;
        let mut c = Cur::new(&lh, "local header");
        if c.u32()? != LOCAL_SIG {
            return Err(bad(format!(
                "entry `{name}` local header has a wrong signature"
            )));
        }
        c.take(2)?;
        c.u16()?;
        if c.u16()? != 0 {
            return Err(bad(format!("entry `{name}` local header says compressed")));
        }
        c.take(16)?;
        let nl = c.u16()? as u64;
        let el = c.u16()? as u64;
        let mut lname = vec![0u8; nl as usize];
        read_at(r, e.offset + 30, &mut lname)?;
        if lname != name.as_bytes() {
            return Err(bad(format!(
                "entry `{name}` local header names another file"
            )));
        }
        let data_offset = e.offset + 30 + nl + el;
        let end = data_offset
            .checked_add(e.comp)
            .filter(|end| *end <= cd_offset)
            .ok_or_else(|| {
                bad(format!(
                    "entry `{name}` data runs past the central directory (lying size)"
                ))
            })?;
        let _ = end;
        spans.push(EntrySpan {
            header_offset: e.offset,
            data_offset,
            size: e.comp,
        });
    }
    let (p, m) = (spans[0], spans[1]);
    let overlap = |a: EntrySpan, b: EntrySpan| {
        a.header_offset < b.data_offset + b.size && b.header_offset < a.data_offset + a.size
    };
    if overlap(p, m) {
        return Err(bad("entries overlap"));
    }
    if m.size > MAX_MANIFEST {
        return Err(Error::Manifest(format!(
            "manifest is {} bytes, over the {MAX_MANIFEST}-byte limit",
            m.size
        )));
    }
    Ok(Layout {
        payload: p,
        manifest: m,
        file_size,
    })
}

/// Read the manifest bytes of a located container.
pub fn read_manifest<R: Read + Seek>(r: &mut R, layout: &Layout) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; layout.manifest.size as usize];
    read_at(r, layout.manifest.data_offset, &mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn container(payload: &[u8], manifest: &[u8]) -> Vec<u8> {
        let mut w = ZipWriter::start(Vec::new()).unwrap();
        w.write_payload(payload).unwrap();
        w.finish(manifest).unwrap()
    }

    #[test]
    fn round_trip_layout() {
        let z = container(b"hello payload", b"{\"m\":1}");
        let mut r = Cursor::new(&z);
        let l = read_layout(&mut r).unwrap();
        assert_eq!(l.payload.size, 13);
        assert_eq!(&z[l.payload.data_offset as usize..][..13], b"hello payload");
        assert_eq!(read_manifest(&mut r, &l).unwrap(), b"{\"m\":1}");
    }

    #[test]
    fn crc_combination_matches_whole_crc() {
        let mut w = ZipWriter::start(Vec::new()).unwrap();
        let parts: [&[u8]; 3] = [b"abc", b"", b"defgh"];
        for p in parts {
            let mut h = crc32fast::Hasher::new();
            h.update(p);
            w.write_payload_with_crc(p, h.finalize()).unwrap();
        }
        let mut h = crc32fast::Hasher::new();
        h.update(b"abcdefgh");
        assert_eq!(w.crc.clone().finalize(), h.finalize());
    }

    #[test]
    fn hostile_containers_are_refused() {
        let z = container(b"payload", b"{}");
        for cut in [0, 10, z.len() / 2, z.len() - 1] {
            assert!(
                read_layout(&mut Cursor::new(&z[..cut])).is_err(),
                "cut {cut}"
            );
        }
        // Lying payload size in the central directory ZIP64 extra.
        let mut bad = z.clone();
        let cd = bad
            .windows(4)
            .position(|w| w == CD_SIG.to_le_bytes())
            .unwrap();
        let extra = cd + 46 + PAYLOAD_NAME.len() + 4;
        bad[extra..extra + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        bad[extra + 8..extra + 16].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let err = read_layout(&mut Cursor::new(&bad)).unwrap_err().to_string();
        assert!(err.contains("lying size"), "{err}");
        // Renamed manifest: missing entry.
        let mut bad = z.clone();
        let p = bad
            .windows(15)
            .rposition(|w| w == MANIFEST_NAME.as_bytes())
            .unwrap();
        bad[p] = b'1';
        let err = read_layout(&mut Cursor::new(&bad)).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }
}
