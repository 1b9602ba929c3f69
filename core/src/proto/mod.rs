//! The NATS client protocol: parsing what clients send, encoding what the server sends.

pub mod encode;
pub mod error;
pub mod json;
pub mod ops;
pub mod parser;

pub use error::ParseError;
pub use json::{ConnectOptions, Info, RouteConnect};
pub use ops::{ClientOp, OwnedOp, PubOp, RoutedOp};
pub use parser::{Parser, ParserLimits};
