//! The streaming machinery `seal` and `open` share: batches of segments read by a
//! worker thread and processed on every core while in cache, buffers kept at the
//! alignment of their file offsets, and a pool that bounds the batches alive at once.
//! Apart because it is about memory and speed, not about the format or its checks.

use crate::Error;
use rayon::prelude::*;
use std::io::Read;
use std::sync::mpsc::Receiver;

/// Bytes of small segments processed per batch. Small, so a batch stays in cache from
/// read to write.
const BATCH_BYTES: u64 = 2 * 1024 * 1024;

pub(super) fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Alignment kept between buffers and file offsets.
const ALIGN: usize = 64;

/// Where in `buf` data for file offset `offset` should start so that address and
/// offset agree modulo [`ALIGN`]: the kernel copies between a buffer and the page
/// cache several times faster when both sides are equally aligned (measured 3.5x for
/// reads and up to 2x for writes here), and those copies are most of the work.
pub(super) fn align_at(buf: &[u8], offset: u64) -> usize {
    (offset as usize).wrapping_sub(buf.as_ptr() as usize) % ALIGN
}

/// Make `buf` at least `len + ALIGN` bytes (zero-filled only when it grows).
pub(super) fn reserve(buf: &mut Vec<u8>, len: usize) {
    if buf.len() < len + ALIGN {
        buf.resize(len + ALIGN, 0);
    }
}

/// Segments per batch: one per core but the one the caller writes on, or about
/// [`BATCH_BYTES`] of small segments. On two cores and 2 MiB segments that is one
/// segment, encrypted by the worker thread itself right after reading it, while it is
/// in that core's cache, as the caller writes the one before; more cores share a batch.
pub(super) fn batch_len(segment: u64) -> usize {
    let cores = rayon::current_num_threads().saturating_sub(1);
    ((BATCH_BYTES / segment.max(1)) as usize)
        .max(cores)
        .clamp(1, 64)
}

/// Run `f` on every segment of a batch: here, while the segment is still in this
/// core's cache, when the batch is one segment; otherwise on every core.
pub(super) fn for_each_segment<T: Send>(
    batch: &mut [T],
    f: impl Fn(&mut T) -> Result<(), Error> + Sync + Send,
) -> Result<(), Error> {
    if batch.len() == 1 {
        f(&mut batch[0])
    } else {
        batch.par_iter_mut().try_for_each(f)
    }
}

/// Most batches alive at once in a streaming pipeline: one being filled, one queued,
/// one being written.
const PIPELINE_BATCHES: usize = 3;

/// The batches of a streaming pipeline: new ones until [`PIPELINE_BATCHES`] exist, then
/// only batches given back. Bounds memory, and saves re-allocating (and the kernel
/// re-zeroing) buffers.
pub(super) struct Pool<T> {
    free: Receiver<Vec<T>>,
    made: usize,
}

impl<T> Pool<T> {
    pub(super) fn new(free: Receiver<Vec<T>>) -> Self {
        Pool { free, made: 0 }
    }

    /// A batch (empty when new), or `None` when the consumer has gone.
    pub(super) fn get(&mut self) -> Option<Vec<T>> {
        if let Ok(b) = self.free.try_recv() {
            return Some(b);
        }
        if self.made < PIPELINE_BATCHES {
            self.made += 1;
            return Some(Vec::new());
        }
        self.free.recv().ok()
    }
}
