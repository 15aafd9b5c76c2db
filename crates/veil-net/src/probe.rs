//! The probe service: a connection check every Veil server offers, answering with the name
//! it authenticated the caller as.

use tonic::{Request, Response, Status};

use crate::error::{Error, Result};
use crate::tls::peer_name;
use crate::transport::Limits;

/// Messages and stubs generated from `proto/veil/net/v1/probe.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("veil.net.v1");
}

use proto::probe_client::ProbeClient;
use proto::probe_server::{Probe, ProbeServer};
use proto::{WhoReply, WhoRequest};

/// The probe's implementation.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProbeService;

#[tonic::async_trait]
impl Probe for ProbeService {
    async fn who(&self, request: Request<WhoRequest>) -> Result<Response<WhoReply>, Status> {
        let peer = peer_name(&request).map_err(|e| Status::unauthenticated(e.to_string()))?;
        Ok(Response::new(WhoReply { peer }))
    }
}

/// The probe service with Veil's message limit, to add to a server.
pub fn service(limits: &Limits) -> ProbeServer<ProbeService> {
    ProbeServer::new(ProbeService).max_decoding_message_size(limits.max_message_bytes)
}

/// Asks the server on `channel` who it thinks the caller is.
pub async fn who(channel: tonic::transport::Channel) -> Result<String> {
    let reply = ProbeClient::new(channel)
        .who(WhoRequest {})
        .await
        .map_err(|s| Error::call("probe", s))?;
    Ok(reply.into_inner().peer)
}
