//! The publisher thread: adds acknowledged batches to the tree, and at most
//! `checkpoint_interval` later writes the tiles and then a signed checkpoint (or at once
//! when asked); adds witness cosignatures to the published checkpoint. Apart because it
//! owns the tree state and the checkpoint file, and nothing else writes them.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{oneshot, watch};

use super::files::write_atomic;
use super::tree::TreeState;
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::note::{Note, Signature, SigningKey};
use crate::writer::{LogOptions, Shared};
use crate::Error;

/// Where the final checkpoint of a shutdown is sent. A std channel, not a tokio one:
/// `Log` is closed on drop, and a drop may run inside an async runtime, where tokio's
/// `blocking_recv` panics (as it did when `accord serve` failed to bind its port).
pub(super) type ShutdownReply = mpsc::Sender<Result<SignedCheckpoint, Error>>;

/// A request to the publisher thread.
pub(super) enum PubRequest {
    Batch {
        start: u64,
        entries: Vec<Vec<u8>>,
    },
    Publish(oneshot::Sender<Result<SignedCheckpoint, Error>>),
    Cosign {
        size: u64,
        sigs: Vec<Signature>,
        reply: oneshot::Sender<Result<SignedCheckpoint, Error>>,
    },
    /// Sign with these keys from now on (a rotation), the published checkpoint too.
    Keys {
        keys: Vec<SigningKey>,
        reply: oneshot::Sender<Result<SignedCheckpoint, Error>>,
    },
    Shutdown(ShutdownReply),
}

pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(super) fn publish(
    dir: &Path,
    keys: &[SigningKey],
    state: &mut TreeState,
    origin: &str,
) -> Result<SignedCheckpoint, Error> {
    state.write_tiles(dir)?;
    let cp = Checkpoint {
        origin: origin.to_string(),
        size: state.size,
        root: state.range.root(),
        extensions: vec![],
    };
    let text = cp.to_text();
    let note = Note {
        signatures: keys.iter().map(|k| k.sign(&text, now_secs())).collect(),
        text,
    };
    write_atomic(&dir.join("checkpoint"), &note.to_bytes(), true)?;
    state.remove_obsolete(dir);
    Ok(SignedCheckpoint {
        checkpoint: cp,
        note,
    })
}

/// The published checkpoint `note` signed again with `keys` (the log's signatures
/// replaced, the witnesses' cosignatures kept: the text they signed is unchanged), and
/// written in place of the published one.
pub(super) fn resign(
    dir: &Path,
    keys: &[SigningKey],
    origin: &str,
    note: &Note,
) -> Result<Note, Error> {
    let mut signatures: Vec<Signature> = keys
        .iter()
        .map(|k| k.sign(&note.text, now_secs()))
        .collect();
    signatures.extend(note.signatures.iter().filter(|s| s.name != origin).cloned());
    let note = Note {
        text: note.text.clone(),
        signatures,
    };
    write_atomic(&dir.join("checkpoint"), &note.to_bytes(), true)?;
    Ok(note)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn publisher(
    rx: mpsc::Receiver<PubRequest>,
    shared: Arc<Shared>,
    dir: PathBuf,
    mut keys: Vec<SigningKey>,
    mut state: TreeState,
    origin: String,
    mut current: SignedCheckpoint,
    watch_tx: watch::Sender<u64>,
    opts: LogOptions,
) {
    let mut deadline: Option<Instant> = None;
    let mut failed: Option<String> = None;
    let do_publish = |keys: &[SigningKey],
                      state: &mut TreeState,
                      current: &mut SignedCheckpoint,
                      failed: &mut Option<String>|
     -> Result<SignedCheckpoint, Error> {
        if let Some(f) = failed {
            return Err(Error::Stopped(f.clone()));
        }
        if state.size == current.checkpoint.size {
            return Ok(current.clone());
        }
        match publish(&dir, keys, state, &origin) {
            Ok(c) => {
                *current = c.clone();
                shared
                    .checkpointed
                    .store(c.checkpoint.size, Ordering::Release);
                let _ = watch_tx.send(c.checkpoint.size);
                Ok(c)
            }
            Err(e) => {
                let why = format!("publishing failed: {e}");
                shared.stop(why.clone());
                *failed = Some(why);
                Err(e)
            }
        }
    };
    loop {
        let msg = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    let _ = do_publish(&keys, &mut state, &mut current, &mut failed);
                    deadline = None;
                    continue;
                }
                match rx.recv_timeout(d - now) {
                    Ok(m) => m,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
            None => match rx.recv() {
                Ok(m) => m,
                Err(_) => return,
            },
        };
        match msg {
            PubRequest::Batch { start, entries } => {
                debug_assert_eq!(start, state.size);
                for e in entries {
                    if let Err(e) = state.add(e) {
                        failed = Some(e.to_string());
                    }
                }
                if deadline.is_none() {
                    deadline = Some(Instant::now() + opts.checkpoint_interval);
                }
            }
            PubRequest::Publish(reply) => {
                deadline = None;
                let _ = reply.send(do_publish(&keys, &mut state, &mut current, &mut failed));
            }
            PubRequest::Cosign { size, sigs, reply } => {
                let res = if current.checkpoint.size != size {
                    Err(Error::Invalid(format!(
                        "the checkpoint moved from size {size} to {}",
                        current.checkpoint.size
                    )))
                } else {
                    let mut note = current.note.clone();
                    for s in sigs {
                        if !note.signatures.contains(&s) {
                            note.signatures.push(s);
                        }
                    }
                    write_atomic(&dir.join("checkpoint"), &note.to_bytes(), true).map(|_| {
                        current.note = note;
                        current.clone()
                    })
                };
                let _ = reply.send(res);
            }
            PubRequest::Keys { keys: new, reply } => {
                let res = match &failed {
                    Some(f) => Err(Error::Stopped(f.clone())),
                    None => {
                        keys = new;
                        resign(&dir, &keys, &origin, &current.note).map(|note| {
                            current.note = note;
                            current.clone()
                        })
                    }
                };
                let _ = reply.send(res);
            }
            PubRequest::Shutdown(reply) => {
                // Every batch the sequencer acknowledged arrived before this message.
                let _ = reply.send(do_publish(&keys, &mut state, &mut current, &mut failed));
                return;
            }
        }
    }
}
