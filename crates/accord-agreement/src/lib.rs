//! Agreements between parties: documents, lifecycle records, hybrid signatures and the full access decision
#![forbid(unsafe_code)]
