//! Code generated from `proto/blackant/v1/*.proto` by `build.rs` (tonic + prost, no system
//! protoc), and the encoded descriptor set served by gRPC reflection. Nothing else lives here.

#![allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]

tonic::include_proto!("blackant.v1");

/// The descriptor set of every proto file, for `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("blackant_descriptor");
