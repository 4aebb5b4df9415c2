//! The sequencer thread: takes appends in arrival order, writes each batch as one
//! journal frame with one `fdatasync`, hands the batch to the publisher and only then
//! acknowledges it; rotates journal segments. Apart because it is the one place that
//! decides when an entry is durable.

use std::fs::{self, File};
use std::io::Write;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::journal::{list_segments, new_segment, FRAME_MAGIC};
use super::publisher::{PubRequest, ShutdownReply};
use crate::hash::sha256;
use crate::writer::{LogOptions, Shared};
use crate::Error;

/// A request to the sequencer thread.
pub(super) enum SeqRequest {
    Append {
        entries: Vec<Vec<u8>>,
        reply: oneshot::Sender<Result<Range<u64>, Error>>,
    },
    Shutdown(ShutdownReply),
}

pub(super) fn sequencer(
    rx: mpsc::Receiver<SeqRequest>,
    pub_tx: mpsc::Sender<PubRequest>,
    shared: Arc<Shared>,
    wal: PathBuf,
    mut seg: File,
    mut next: u64,
    opts: LogOptions,
) {
    let mut seg_bytes = 0u64;
    let mut buf = Vec::new();
    let mut shutdown = None;
    while shutdown.is_none() {
        let Ok(first) = rx.recv() else { return };
        let mut reqs = Vec::new();
        let mut count = 0usize;
        match first {
            SeqRequest::Shutdown(r) => shutdown = Some(r),
            SeqRequest::Append { entries, reply } => {
                count += entries.len();
                reqs.push((entries, reply));
            }
        }
        while shutdown.is_none() && count < opts.max_batch {
            match rx.try_recv() {
                Ok(SeqRequest::Append { entries, reply }) => {
                    count += entries.len();
                    reqs.push((entries, reply));
                }
                Ok(SeqRequest::Shutdown(r)) => shutdown = Some(r),
                Err(_) => break,
            }
        }
        if reqs.is_empty() {
            break;
        }
        // One frame, one fdatasync for the whole batch.
        buf.clear();
        buf.extend_from_slice(FRAME_MAGIC);
        buf.extend_from_slice(&(count as u32).to_be_bytes());
        buf.extend_from_slice(&[0; 4]);
        for (entries, _) in &reqs {
            for e in entries {
                buf.extend_from_slice(&(e.len() as u16).to_be_bytes());
                buf.extend_from_slice(e);
            }
        }
        let len = (buf.len() - 12) as u32;
        buf[8..12].copy_from_slice(&len.to_be_bytes());
        let check = sha256(&buf);
        buf.extend_from_slice(&check[..8]);
        let res = seg.write_all(&buf).and_then(|_| seg.sync_data());
        if let Err(e) = res {
            let why = format!("journal write failed: {e}");
            shared.stop(why.clone());
            for (_, reply) in reqs {
                let _ = reply.send(Err(Error::Stopped(why.clone())));
            }
            return;
        }
        seg_bytes += buf.len() as u64;
        let start = next;
        let mut all = Vec::with_capacity(count);
        let mut replies = Vec::with_capacity(reqs.len());
        for (entries, reply) in reqs {
            let r = next..next + entries.len() as u64;
            next = r.end;
            all.extend(entries);
            replies.push((r, reply));
        }
        // Hand the batch to the publisher before acknowledging, so that a caller who
        // asks for a checkpoint after its acknowledgement gets one that covers it.
        if pub_tx
            .send(PubRequest::Batch {
                start,
                entries: all,
            })
            .is_err()
        {
            shared.stop("publisher stopped".into());
            return;
        }
        for (r, reply) in replies {
            let _ = reply.send(Ok(r));
        }
        if seg_bytes >= opts.wal_segment_bytes {
            match new_segment(&wal, next) {
                Ok((f, _)) => {
                    seg = f;
                    seg_bytes = 0;
                    // Remove segments fully covered by a published checkpoint.
                    let done = shared.checkpointed.load(Ordering::Acquire);
                    if let Ok(segs) = list_segments(&wal) {
                        for w in segs.windows(2) {
                            if w[1].base <= done {
                                let _ = fs::remove_file(&w[0].path);
                            }
                        }
                    }
                }
                Err(e) => {
                    shared.stop(format!("journal rotation failed: {e}"));
                    return;
                }
            }
        }
    }
    if let Some(reply) = shutdown {
        let _ = pub_tx.send(PubRequest::Shutdown(reply));
    }
}
