//! HTTP/1.1: parsing heads, decoding bodies, encoding responses, protocol errors.

pub mod body;
pub mod date;
pub mod error;
pub mod parse;
pub mod response;

pub use error::ProtoError;
pub use parse::{parse_head, BodyFraming, HeadLimits, Method, RequestHead, Version};
pub use response::{Body, Response};
