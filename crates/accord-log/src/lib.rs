//! Tamper-evident audit log: RFC 6962 Merkle tree, C2SP signed notes, checkpoints, tiles, proofs, cosignatures and witness
#![forbid(unsafe_code)]
