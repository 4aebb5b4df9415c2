//! One module per command group.
pub mod agreement;
pub mod audit;
pub mod backup;
pub mod decide;
pub mod docs;
pub mod exchange;
pub mod inspect;
pub mod keygen;
pub mod label;
pub mod node;
pub mod online;
pub mod open;
pub mod policy;
pub mod quickstart;
pub mod seal;
pub mod service;
