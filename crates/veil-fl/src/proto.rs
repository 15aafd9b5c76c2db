//! Messages and stubs generated from `proto/veil/fl/v1/federation.proto`.

#![allow(missing_docs, clippy::all)]

tonic::include_proto!("veil.fl.v1");
