//! One module per command group.
pub mod keygen;
pub mod audit;
pub mod seal;
pub mod open;
pub mod inspect;
pub mod agreement;
pub mod decide;
pub mod policy;
pub mod label;
