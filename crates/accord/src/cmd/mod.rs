//! One module per command group.
pub mod keygen;
pub mod audit;
